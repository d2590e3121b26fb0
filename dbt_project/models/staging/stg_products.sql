with source as (
    {{ landing_rows_with_number_format('products') }}
),

numbered as (
    {{ copy_numbered('source', ['product_id', 'name', 'category', 'brand', 'price', 'description', 'updated_at']) }}
),

typed as (
    select
        product_id,
        reference.clean_text(name) as name,
        lower(reference.clean_text(category)) as category,
        reference.clean_text(brand) as brand,
        reference.parse_number(price, comma_decimal := _comma_decimal) as price,
        description,
        reference.parse_ts(updated_at) as updated_at,
        price as price_raw,
        updated_at as updated_at_raw,
        -- Structured text (a Parquet struct read as a string) is no name: nulled, counted.
        {{ repaired_fields({
            'name': 'reference.is_structured(name)',
            'category': 'reference.is_structured(category)',
            'brand': 'reference.is_structured(brand)',
        }) }} as _dq_repaired,
        {{ delivery_columns() }}
    from numbered
),

checked as (
    select
        *,
        {% call dq_reason(['product_id', 'updated_at_raw'], 'updated_at') %}
            when price_raw is not null and price is null then 'unparseable_number'
            {{ out_of_range_reason({'price': var('max_unit_price')}) }}
            when price <= 0 then 'non_positive_price'
        {% endcall %} as _dq_reason
    from typed
)

select * exclude (price_raw, updated_at_raw, copy_number) {{ raw_if_quarantined() }} from checked

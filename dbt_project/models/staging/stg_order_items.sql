with source as (
    {{ landing_rows_with_number_format('order_items') }}
),

numbered as (
    {{ copy_numbered('source', ['order_id', 'product_id', 'quantity', 'unit_price']) }}
),

typed as (
    select
        order_id,
        product_id,
        reference.parse_number(quantity, comma_decimal := _comma_decimal) as quantity,
        reference.parse_number(unit_price, comma_decimal := _comma_decimal) as unit_price,
        quantity as quantity_raw,
        unit_price as unit_price_raw,
        {{ delivery_columns() }}
    from numbered
),

checked as (
    select
        *,
        {% call dq_reason(['order_id', 'product_id', 'quantity_raw', 'unit_price_raw']) %}
            when quantity is null or unit_price is null then 'unparseable_number'
            {{ out_of_range_reason({'quantity': var('max_abs_quantity'), 'unit_price': var('max_unit_price')}) }}
            when unit_price <= 0 then 'non_positive_price'
            when quantity = 0 then 'zero_quantity'
        {% endcall %} as _dq_reason
    from typed
)

select * exclude (quantity_raw, unit_price_raw, copy_number) from checked

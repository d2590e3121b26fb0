{# Orders whose valid lines may have changed because of the catalog, for the
   replace_keys models built from int_order_items__validated (int_order_items,
   int_orders): orders with a line flagged unknown_product now (its product went away,
   or is still unknown), and orders with a line of a product first delivered in the
   run's days (the catalog caught up with lines delivered before it). Products first
   delivered in the window are few, so a daily run re-reads few orders. #}
{% macro orders_with_product_flag_changes() -%}
    {{ return(adapter.dispatch('orders_with_product_flag_changes', 'cx')()) }}
{%- endmacro %}

{% macro duckdb__orders_with_product_flag_changes() -%}
    select order_id from {{ ref('int_order_items__validated') }}
    where _dq_reason = 'unknown_product'
    union
    select order_id from {{ ref('int_order_items__validated') }}
    semi join (
        select product_id from {{ ref('int_products__latest') }}
        where first_delivered_on between {{ run_from() }} and {{ run_to() }}
    ) using (product_id)
    where _dq_reason is null
{% endmacro %}

{# Portable: in instead of DuckDB's semi join. #}
{% macro default__orders_with_product_flag_changes() -%}
    select order_id from {{ ref('int_order_items__validated') }}
    where _dq_reason = 'unknown_product'
    union
    select order_id from {{ ref('int_order_items__validated') }}
    where _dq_reason is null and product_id in (
        select product_id from {{ ref('int_products__latest') }}
        where first_delivered_on between {{ run_from() }} and {{ run_to() }}
    )
{%- endmacro %}

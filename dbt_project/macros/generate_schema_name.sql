{# Use the configured schema name as is (staging, intermediate, marts), not
   "<target>_<custom>": the schemas are part of the warehouse's documented layout. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}

{# Rows where a boolean SQL expression does not hold. On a column, the expression
   is appended to the column name ("column_name >= 0"); on a model it stands alone.
   A NULL result counts as a failure: write the NULL case into the expression. #}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ column_name ~ ' ' if column_name is not none else '' }}{{ expression }}), false)
{% endtest %}

{#-
  Fails for every row where `expression` is not true (false or NULL).
  Usage:  data_tests: [{expression_is_true: {arguments: {expression: "n_events >= 1"}}}]
  on a model or on a column (the column is then only a label; the expression names it).
-#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}

{#-
  The visitor entity's key: '<platform>:<anonymous_id>', the cookie (web) or device (app) id
  prefixed by its platform, since a source's cookie and device ids may come from one id space.

  Python twin for the live path: clickintent.features.visitors.visitor_id; a change here must be
  made there too (tests/features/test_visitor_journeys.py holds the two equal).
-#}
{% macro visitor_id(platform, anonymous_id) -%}
  ({{ platform }} || ':' || {{ anonymous_id }})
{%- endmacro %}

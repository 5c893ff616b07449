{#-
  The URL section of a page path: the first path segment ('/mortgages/rates' -> 'mortgages'),
  or for app screens the segment after /app/ ('/app/cards/lock' -> 'cards'); 'home' for '/'.
  It is the fallback taxonomy node when the taxonomy page map is absent or lacks a page.

  Python twin for the live path: clickintent.taxonomy.dbt_rules.url_section; a change here must be
  made there too (tests/taxonomy/test_live_batch_parity.py runs both on the same edge cases).
-#}
{% macro url_section(page_path) -%}
  {%- set segment -%}
        case
          when {{ page_path }} like '/app/%' or {{ page_path }} = '/app' then split_part({{ page_path }}, '/', 3)
          else split_part({{ page_path }}, '/', 2)
        end
  {%- endset -%}
  coalesce(
    nullif(
      {{ lower_text(segment) }},
      ''
    ),
    'home'
  )
{%- endmacro %}

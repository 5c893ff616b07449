{#-
  True for an event on a page that does not exist on the site: an error page by its path
  (/404, /error, /not-found) or its title ("Page Not Found", "404 ...", "Error ..."). Sessions
  made only of such events are junk traffic (vulnerability scanners probing /wp-admin or /.env,
  broken links) and are filtered like bots. A missing title alone does not count: the
  contract allows sources without titles.

  Python twin for the live path: clickintent.taxonomy.dbt_rules.is_unknown_page; a change here must be
  made there too (tests/taxonomy/test_live_batch_parity.py runs both on the same edge cases).
-#}
{% macro is_unknown_page(page_path, page_title) -%}
  coalesce(
    {{ regexp_matches(lower_text(page_path), "'(^|/)(404|error|not[-_]?found)(/|\\.|$)'") }}
    or {{ regexp_matches(lower_text(page_title), "'(^|[^0-9])404([^0-9]|$)|not found|^\\s*(error|oops)\\b'") }},
    false
  )
{%- endmacro %}

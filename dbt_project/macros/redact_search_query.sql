{#-
  Search text with PII-like strings masked, as the features and the encoder may see it.

  Real search logs carry what people type: emails and account, card or phone numbers. They
  must not reach feature marts, the online store or LLM prompts. Masked:
    - e-mail addresses                          -> <email>
    - runs of 6+ digits, spaces or dashes allowed inside (account, card, phone, SSN) -> <number>
  Short numbers stay ("30 year fixed", "401k", zip codes).

  Python twin for the live path: clickintent.taxonomy.dbt_rules.redact_search_query; a change here must be
  made there too (tests/taxonomy/test_live_batch_parity.py runs both on the same edge cases).
-#}
{% macro redact_search_query(query) -%}
  regexp_replace(
    regexp_replace({{ query }}, '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}', '<email>', 'g'),
    '\d(?:[ -]?\d){5,}', '<number>', 'g'
  )
{%- endmacro %}

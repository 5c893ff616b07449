"""Lookup keys shared by the batch stage and the online classifier (standard library only, so
the serving path imports nothing heavy).

- `normalize_query`: dbt's redaction (`dbt_rules.redact_search_query`), then lower case and single
  spaces. Idempotent, so a live raw query and the mart's masked copy of it meet on one key.
- `query_tokens`: the words of a normalised query, for hashed token features.
"""

from __future__ import annotations

import re

from clickintent.taxonomy.dbt_rules import redact_search_query

_TOKEN = re.compile(r"[a-z0-9]+")


def normalize_query(query: object) -> str | None:
    if query is None or (isinstance(query, float) and query != query):
        return None
    text = " ".join(redact_search_query(str(query)).lower().split())
    return text or None


def query_tokens(normalized_query: str) -> list[str]:
    return _TOKEN.findall(normalized_query)

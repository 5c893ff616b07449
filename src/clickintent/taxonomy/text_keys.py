"""Lookup keys shared by the batch stage and the online classifier (standard library only, so
the serving path imports nothing heavy).

- `normalize_query`: the same masking as dbt_project/macros/redact_search_query.sql (e-mails,
  runs of 6+ digits), then lower case and single spaces. Idempotent, so a live raw query and
  the mart's masked copy of it meet on one key.
- `url_section`: dbt's fallback node (macros/url_section.sql): the first path segment, the one
  after /app/ for app screens, 'home' for '/'.
- `query_tokens`: the words of a normalised query, for hashed token features.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){5,}")
_TOKEN = re.compile(r"[a-z0-9]+")


def normalize_query(query: object) -> str | None:
    if query is None or (isinstance(query, float) and query != query):
        return None
    text = _DIGIT_RUN.sub("<number>", _EMAIL.sub("<email>", str(query)))
    text = " ".join(text.lower().split())
    return text or None


def url_section(page_path: str) -> str:
    parts = [part for part in str(page_path).split("?")[0].split("/") if part]
    if parts and parts[0].lower() == "app":
        parts = parts[1:]
    return parts[0].lower() if parts else "home"


def query_tokens(normalized_query: str) -> list[str]:
    return _TOKEN.findall(normalized_query)

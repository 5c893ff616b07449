"""The rules dbt's macros apply in batch, in Python for the live path and the taxonomy stage.

Each function here is the Python twin of one macro in dbt_project/macros/ and must give what the
macro gives in DuckDB for every input, since the models were trained on dbt's output: a
difference is training/serving skew. tests/taxonomy/test_live_batch_parity.py renders the macros,
runs them in DuckDB next to these functions on the same edge cases, and fails when either side
changes. Standard library only: the service imports this on its request path.

Where Python and DuckDB differ by default, these follow DuckDB:
- `lower` maps character by character (DuckDB: 'ΟΔΟΣ' -> 'οδοσ', 'İ' -> 'i'; Python's
  str.lower() gives a final 'ς' and 'i̇'): `sql_lower`;
- regular expressions are RE2's: ASCII `\\d` and `\\b`, `\\s` without the vertical tab, and `$`
  only at the very end (Python's `$` also matches before a final newline).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from clickintent.privacy.redaction import redact_optional

# RE2's \s: [\t\n\f\r ] (no \v, no Unicode spaces).
_RE2_SPACE = r"[\t\n\f\r ]"

# macros/is_unknown_page.sql
_UNKNOWN_PATH = re.compile(r"(^|/)(404|error|not[-_]?found)(/|\.|\Z)", re.ASCII)
_UNKNOWN_TITLE = re.compile(r"(^|[^0-9])404([^0-9]|\Z)|not found|^" + _RE2_SPACE + r"*(error|oops)\b", re.ASCII)


def sql_lower(text: str) -> str:
    """DuckDB's lower(): each character's own lower case (no context rules, one character each)."""
    if text.isascii():
        return text.lower()
    # Only U+0130 ('İ') lowers to two characters in Python; its first is DuckDB's answer.
    return "".join(character.lower()[0] for character in text)


def url_section(page_path: str | None) -> str:
    """macros/url_section.sql: the first path segment, or the one after '/app/' for app screens, lower-cased; 'home' when empty.

    The path is split as it comes: '/App/x' is section 'app' (the '/app/' test is case-sensitive),
    '//x' is 'home' (an empty first segment) and '/x?q=1' is 'x?q=1' (the event contract's
    paths carry no query string).
    """
    if page_path is None:
        return "home"
    path = str(page_path)
    index = 2 if path.startswith("/app/") or path == "/app" else 1
    parts = path.split("/")
    section = parts[index] if len(parts) > index else ""
    return sql_lower(section) or "home"


def is_unknown_page(page_path: str | None, page_title: str | None) -> bool:
    """macros/is_unknown_page.sql: an error page by its path (/404, /error, /not-found) or its title."""
    if page_path is not None and _UNKNOWN_PATH.search(sql_lower(str(page_path))):
        return True
    return page_title is not None and _UNKNOWN_TITLE.search(sql_lower(str(page_title))) is not None


def is_unknown_page_over_titles(page_path: str | None, page_titles: Iterable[str | None]) -> bool:
    """int_page_taxonomy's page-level rule: a page does not exist when every title it was shown with says so."""
    titles = list(page_titles) or [None]
    return all(is_unknown_page(page_path, title) for title in titles)


# macros/entry_source.sql
_SEARCH_REFERRER = re.compile(r"(^|[/.])(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia)\.", re.ASCII)
_SOCIAL_REFERRER = re.compile(r"(^|[/.])(facebook|instagram|linkedin|twitter|x|t|reddit|youtube|tiktok|pinterest)\.(com|co)", re.ASCII)


def entry_source(referrer: str | None, utm_source: str | None) -> str:
    """macros/entry_source.sql: campaign, direct, search, social or referral, from the first event's utm_source and referrer."""
    # DuckDB's trim() removes spaces only.
    if utm_source is not None and utm_source.strip(" "):
        return "campaign"
    if referrer is None or not referrer.strip(" "):
        return "direct"
    lowered = sql_lower(referrer)
    if _SEARCH_REFERRER.search(lowered):
        return "search"
    if _SOCIAL_REFERRER.search(lowered):
        return "social"
    return "referral"


def redact_search_query(query: str | None) -> str | None:
    """macros/redact_pii.sql on a search query: that macro is generated from clickintent.privacy.redaction."""
    return redact_optional(query)

"""Every rule dbt applies in batch and Python applies live gives the same answer on the same input.

The dbt macros are rendered from dbt_project/macros/ with Jinja (they use no dbt context) and run
in DuckDB, dbt's engine here, next to their Python twins in clickintent.taxonomy.dbt_rules, on
edge cases: case, double slashes, query strings and fragments, trailing slashes, unicode, empty
and null. A change to either side that changes an answer fails here.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import duckdb
import pytest

from clickintent.taxonomy.dbt_rules import (
    entry_source,
    is_unknown_page,
    is_unknown_page_over_titles,
    redact_search_query,
    sql_lower,
    url_section,
)
from clickintent.taxonomy.text_keys import normalize_query
from support.dbt_macros import render_macro
from support.rule_cases import PATHS, QUERIES, REFERRERS, TITLES, UTM_SOURCES

REPO = Path(__file__).resolve().parents[2]


def run_in_duckdb(expression: str, columns: dict[str, str], rows: list[tuple]) -> list:
    """`expression` over a table of `rows` (typed by `columns`), in row order."""
    with duckdb.connect() as connection:
        names = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        connection.execute(f"create table cases (case_id integer, {names})")
        placeholders = ", ".join("?" for _ in range(len(columns) + 1))
        connection.executemany(f"insert into cases values ({placeholders})", [(index, *row) for index, row in enumerate(rows)])
        return [value for (value,) in connection.execute(f"select {expression} from cases order by case_id").fetchall()]


def test_url_section_is_the_macro() -> None:
    sql = render_macro("url_section.sql", "url_section('page_path')")
    batch = run_in_duckdb(sql, {"page_path": "varchar"}, [(path,) for path in PATHS])
    live = [url_section(path) for path in PATHS]
    assert [
        (path, batch_answer, live_answer) for path, batch_answer, live_answer in zip(PATHS, batch, live) if batch_answer != live_answer
    ] == []


@pytest.mark.parametrize(
    ("path", "section"),
    [
        ("/mortgages/rates", "mortgages"),
        ("/app/cards/lock", "cards"),
        ("/App/cards/lock", "app"),  # the '/app/' test is case-sensitive in dbt
        ("/app", "home"),
        ("/app/", "home"),
        ("/", "home"),
        ("//x", "home"),  # an empty first segment
        ("/x?q=1", "x?q=1"),  # paths carry no query string by contract; dbt does not strip one
        ("/mortgages/", "mortgages"),
        ("/ΟΔΟΣ/x", "οδοσ"),  # DuckDB lowers letter by letter: no final sigma
        ("", "home"),
        (None, "home"),
    ],
)
def test_url_section_on_the_cases_the_old_python_copies_disagreed_on(path: str | None, section: str) -> None:
    assert url_section(path) == section


def test_is_unknown_page_is_the_macro() -> None:
    pairs = list(itertools.product(PATHS, TITLES))
    sql = render_macro("is_unknown_page.sql", "is_unknown_page('page_path', 'page_title')")
    batch = run_in_duckdb(sql, {"page_path": "varchar", "page_title": "varchar"}, pairs)
    live = [is_unknown_page(path, title) for path, title in pairs]
    assert [
        (pair, batch_answer, live_answer) for pair, batch_answer, live_answer in zip(pairs, batch, live) if batch_answer != live_answer
    ] == []
    # the cases are not trivially all one answer
    assert 0.1 < sum(batch) / len(batch) < 0.9


@pytest.mark.parametrize(
    ("path", "title", "unknown"),
    [
        ("/wp-admin/404.php", None, True),
        ("/x", "Page Not Found | Bank", True),
        ("/mortgages/rates", "Rates", False),
        ("/x", "erroré", True),  # RE2's \b is ASCII: 'é' is not a word character
        ("/x", "\verror", False),  # RE2's \s has no vertical tab
        ("/error\n", None, False),  # RE2's $ is the very end
        (None, None, False),
    ],
)
def test_is_unknown_page_on_regex_engine_differences(path: str | None, title: str | None, unknown: bool) -> None:
    assert is_unknown_page(path, title) is unknown


def test_a_page_is_unknown_as_int_page_taxonomy_decides_it() -> None:
    model = (REPO / "dbt_project/models/intermediate/int_page_taxonomy.sql").read_text(encoding="utf-8")
    assert "bool_and({{ is_unknown_page('page_path', 'page_title') }})" in model
    sql = render_macro("is_unknown_page.sql", "is_unknown_page('page_path', 'page_title')")
    pages = {"/x": ("Rates", "Page Not Found"), "/y": ("Oops", None), "/z": ("404",), "/404": ("Rates", None)}
    rows = [(path, title) for path, titles in pages.items() for title in titles]
    with duckdb.connect() as connection:
        connection.execute("create table events (page_path varchar, page_title varchar)")
        connection.executemany("insert into events values (?, ?)", rows)
        batch = dict(connection.execute(f"select page_path, bool_and({sql}) from events group by page_path").fetchall())
    live = {path: is_unknown_page_over_titles(path, titles) for path, titles in pages.items()}
    assert live == batch == {"/x": False, "/y": False, "/z": True, "/404": True}


def test_redact_search_query_is_the_macro() -> None:
    sql = render_macro("redact_pii.sql", "redact_pii('search_query')")
    batch = run_in_duckdb(sql, {"search_query": "varchar"}, [(query,) for query in QUERIES])
    live = [redact_search_query(query) for query in QUERIES]
    assert [
        (query, batch_answer, live_answer) for query, batch_answer, live_answer in zip(QUERIES, batch, live) if batch_answer != live_answer
    ] == []
    assert sum(b != query for b, query in zip(batch, QUERIES)) >= 8  # the cases exercise the masks
    # a live raw query and the mart's masked copy of it meet on one lookup key
    assert [normalize_query(query) for query in QUERIES] == [normalize_query(masked) for masked in batch]


def test_entry_source_is_the_macro() -> None:
    cases = list(itertools.product(REFERRERS, UTM_SOURCES))
    sql = render_macro("entry_source.sql", "entry_source('referrer', 'utm_source')")
    batch = run_in_duckdb(sql, {"referrer": "varchar", "utm_source": "varchar"}, cases)
    live = [entry_source(referrer, utm) for referrer, utm in cases]
    assert [
        (case, batch_answer, live_answer) for case, batch_answer, live_answer in zip(cases, batch, live) if batch_answer != live_answer
    ] == []
    assert set(live) == {"campaign", "direct", "search", "social", "referral"}


def test_sql_lower_is_duckdbs_lower() -> None:
    texts = ["", "ABC", "İstanbul", "ΟΔΟΣ", "STRASSE ẞ", "ǅ", "Ω K", "ÀÉÎÕÜ", "ﬁ", "Ⅻ", "🙂"]
    assert [sql_lower(text) for text in texts] == run_in_duckdb("lower(text)", {"text": "varchar"}, [(text,) for text in texts])

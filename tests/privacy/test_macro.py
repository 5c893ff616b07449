"""dbt's redaction macro is the Python rules: generated from them, and giving the same text in
DuckDB as `redact` gives in Python on every string of the corpus."""

from __future__ import annotations

from pathlib import Path

import duckdb
import jinja2
import pytest

from clickintent.privacy.macro import MACRO_FILE, render_macro, write_macro
from clickintent.privacy.redaction import RULES, redact_optional, redaction_sql
from support.redaction_corpus import ENGINE_EDGES, MUST_KEEP, MUST_REDACT

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
CORPUS = [text for text, _, _ in MUST_REDACT] + MUST_KEEP + ENGINE_EDGES


def test_the_committed_macro_is_generated_from_the_rules() -> None:
    assert not write_macro(DBT_PROJECT, check=True), "run `python -m clickintent.privacy.macro` and commit the macro"
    assert (DBT_PROJECT / MACRO_FILE).read_text(encoding="utf-8") == render_macro()


def test_writing_the_macro_is_idempotent(tmp_path) -> None:
    assert write_macro(tmp_path) is True
    first = (tmp_path / MACRO_FILE).read_bytes()
    assert write_macro(tmp_path) is False
    assert (tmp_path / MACRO_FILE).read_bytes() == first


def _macro_in_duckdb(texts: list[str | None]) -> list[str | None]:
    """The macro as dbt renders it (Jinja: the file, then a call), run over `texts` in DuckDB."""
    source = (DBT_PROJECT / MACRO_FILE).read_text(encoding="utf-8")
    sql = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(source + "{{ default__redact_pii('text') }}").render().strip()
    with duckdb.connect() as connection:
        connection.execute("create table cases (case_id integer, text varchar)")
        connection.executemany("insert into cases values (?, ?)", list(enumerate(texts)))
        return [row[0] for row in connection.execute(f"select {sql} from cases order by case_id").fetchall()]


def test_dbt_and_python_redact_the_corpus_identically() -> None:
    batch = _macro_in_duckdb(CORPUS)
    live = [redact_optional(text) for text in CORPUS]
    assert [(text, b, p) for text, b, p in zip(CORPUS, batch, live) if b != p] == []
    # the corpus exercises every rule that removes something
    assert sum(b != text for b, text in zip(batch, CORPUS)) >= len(MUST_REDACT)


def test_every_rule_changes_some_text_of_the_corpus() -> None:
    """A rule no corpus string reaches would have its DuckDB twin untested."""
    unexercised = []
    for rule in RULES:
        if not any(text and rule.compiled.search(text) for text in CORPUS):
            unexercised.append(rule.pattern[:60])
    assert unexercised == []


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("212.555.0123", "[PHONE]"),
        ("john.doe%40yahoo.com", "[EMAIL]"),
        ("my name is John Smith", "my name is [NAME]"),
        ("4111.1111.1111.1111", "[CARD]"),
        ("/app/accounts/12345678/activity", "/app/accounts/[ACCOUNT]/activity"),
        ("https://mail.example.com/?email=jane@example.com&ref=x", "https://mail.example.com/?email=[EMAIL]&ref=x"),
    ],
)
def test_what_the_old_macro_let_through_is_redacted_in_duckdb(text: str, redacted: str) -> None:
    assert _macro_in_duckdb([text]) == [redacted]


def test_the_sql_expression_redacts_any_column_expression() -> None:
    with duckdb.connect() as connection:
        sql = redaction_sql("lower(?)")
        assert connection.execute(f"select {sql}", ["CALL 415-555-0123"]).fetchone() == ("call [PHONE]",)

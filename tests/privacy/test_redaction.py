"""PII redaction: what must go (with its placeholder), what must stay, and the report.

tests/privacy/test_macro.py runs every text here through dbt's macro in DuckDB as well."""

from __future__ import annotations

import pytest

from clickintent.privacy.redaction import PLACEHOLDERS, redact, redact_with_report
from support.redaction_corpus import MUST_KEEP, MUST_REDACT


@pytest.mark.parametrize(("text", "personal", "kind"), MUST_REDACT)
def test_personal_data_is_replaced_by_its_typed_placeholder(text: str, personal: str, kind: str) -> None:
    result = redact_with_report(text)
    assert personal not in result.text, result.text
    assert f"[{kind}]" in result.text
    assert kind in result.kinds


@pytest.mark.parametrize("text", MUST_KEEP)
def test_finance_text_is_kept(text: str) -> None:
    result = redact_with_report(text)
    assert result.text == text
    assert not result.changed


def test_the_report_counts_each_kind() -> None:
    text = (
        "my name is John Smith, email john@example.com or jsmith@example.org, "
        "card 4111 1111 1111 1111, phone (415) 555-0123, account 12345678"
    )
    result = redact_with_report(text)
    assert result.counts == {"NAME": 1, "EMAIL": 2, "CARD": 1, "PHONE": 1, "ACCOUNT": 1}
    assert result.text == ("my name is [NAME], email [EMAIL] or [EMAIL], card [CARD], phone [PHONE], account [ACCOUNT]")


def test_the_name_stops_at_the_first_ordinary_word() -> None:
    assert redact("my name is john and i want a mortgage") == "my name is [NAME] and i want a mortgage"


def test_redaction_is_idempotent_and_leaves_only_known_placeholders() -> None:
    texts = [text for text, _, _ in MUST_REDACT] + MUST_KEEP
    for text in texts:
        once = redact(text)
        assert redact(once) == once
        for token in once.split("["):
            if "]" in token:
                assert f"[{token.split(']')[0]}]" in PLACEHOLDERS


def test_none_of_the_personal_digits_survive_in_a_long_mixed_text() -> None:
    personal = ["4111111111111111", "415-555-0123", "123-45-6789", "021000021", "jane@example.com"]
    text = " | ".join(f"Rates for 30-year fixed, item {index}: {value}" for index, value in enumerate(personal * 20))
    redacted = redact(text)
    assert not any(value in redacted for value in personal)
    assert redacted.count("30-year fixed") == len(personal) * 20

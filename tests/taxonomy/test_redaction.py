"""PII redaction: what must go (with its placeholder), what must stay, and the report."""

from __future__ import annotations

import pytest

from clickintent.taxonomy.redaction import PLACEHOLDERS, redact, redact_with_report

# (text, the personal part that must disappear, the kind reported)
MUST_REDACT = [
    # e-mail
    ("contact jane.doe@example.com today", "jane.doe@example.com", "EMAIL"),
    ("JOHN_SMITH+bank@mail.example.co.uk", "JOHN_SMITH+bank@mail.example.co.uk", "EMAIL"),
    ("search?q=jane%40example.com", "jane%40example.com", "EMAIL"),
    ("/profile/jane.doe@example.com/edit", "jane.doe@example.com", "EMAIL"),
    # phone
    ("call (415) 555-0123 now", "555-0123", "PHONE"),
    ("415-555-0123", "415-555-0123", "PHONE"),
    ("415.555.0123", "415.555.0123", "PHONE"),
    ("reach me on 415 555 0123", "415 555 0123", "PHONE"),
    ("1-800-555-0199", "800-555-0199", "PHONE"),
    ("+1 415 555 0123", "415 555 0123", "PHONE"),
    ("+1 (415) 555-0123", "555-0123", "PHONE"),
    ("+44 20 7946 0958", "7946 0958", "PHONE"),
    ("+14155550123", "4155550123", "PHONE"),
    ("+33 1 42 68 53 00", "42 68 53 00", "PHONE"),
    # cards (Luhn-valid)
    ("card 4111 1111 1111 1111 declined", "4111 1111 1111 1111", "CARD"),
    ("4111-1111-1111-1111", "4111-1111-1111-1111", "CARD"),
    ("pay with 4111111111111111", "4111111111111111", "CARD"),
    ("amex 3782 822463 10005", "3782 822463 10005", "CARD"),
    ("5555555555554444", "5555555555554444", "CARD"),
    ("6011 0009 9013 9424", "6011 0009 9013 9424", "CARD"),
    # a mistyped card (fails Luhn) is still removed
    ("card 4111 1111 1111 1112", "4111 1111 1111 1112", "ACCOUNT"),
    # accounts and routing numbers
    ("my account number is 123456789012", "123456789012", "ACCOUNT"),
    ("account 12345678", "12345678", "ACCOUNT"),
    ("acct #: 0012345", "0012345", "ACCOUNT"),
    ("a/c 998877", "998877", "ACCOUNT"),
    ("routing 021000021", "021000021", "ACCOUNT"),
    ("wire to 000123456789", "000123456789", "ACCOUNT"),
    # SSN
    ("ssn 123-45-6789", "123-45-6789", "SSN"),
    ("123 45 6789", "123 45 6789", "SSN"),
    ("SSN: 123456789", "123456789", "SSN"),
    ("social security number 078-05-1120", "078-05-1120", "SSN"),
    # IBAN
    ("GB29 NWBK 6016 1331 9268 19", "NWBK 6016 1331 9268", "IBAN"),
    ("iban DE89370400440532013000", "DE89370400440532013000", "IBAN"),
    ("FR14 2004 1010 0505 0001 3M02 606", "2004 1010 0505 0001 3M02", "IBAN"),
    # names in prose
    ("my name is John Smith", "John Smith", "NAME"),
    ("My name is john smith and I need a loan", "john smith", "NAME"),
    ("my+name+is+john+smith", "john+smith", "NAME"),
    ("Name: Maria Lopez", "Maria Lopez", "NAME"),
    ("hi, this is Maria Lopez calling about my card", "Maria Lopez", "NAME"),
    ("Hi Sarah, here is your balance", "Sarah", "NAME"),
    ("Welcome back, Tom", "Tom", "NAME"),
    ("Dear Mr Smith", "Smith", "NAME"),
    # names in URL paths
    ("/profile/john-smith", "john-smith", "NAME"),
    ("/users/jane.doe/settings", "jane.doe", "NAME"),
    ("/team/maria_lopez", "maria_lopez", "NAME"),
    ("/advisors/john-paul-jones", "john-paul-jones", "NAME"),
    ("https://bank.example/customers/Mary%20Ann?x=1", "Mary%20Ann", "NAME"),
    # personal query parameters
    ("/apply?name=John+Smith&product=heloc", "John+Smith", "NAME"),
    ("?first_name=Jane&last_name=Doe", "Jane", "NAME"),
    ("?first_name=Jane&last_name=Doe", "Doe", "NAME"),
    ("/contact?email=jane%40example.com", "jane%40example.com", "EMAIL"),
    ("/contact?phone=4155550123", "4155550123", "PHONE"),
    ("/apply?dob=1985-04-12&step=2", "1985-04-12", "DOB"),
    ("/apply?address=1+Main+St", "1+Main+St", "ADDRESS"),
    ("/verify?ssn=123456789", "123456789", "SSN"),
    ("/pay?card_number=4111111111111111", "4111111111111111", "CARD"),
    ("/pay?Account-Number=99887766", "99887766", "ACCOUNT"),
]


@pytest.mark.parametrize(("text", "personal", "kind"), MUST_REDACT)
def test_personal_data_is_replaced_by_its_typed_placeholder(text: str, personal: str, kind: str) -> None:
    result = redact_with_report(text)
    assert personal not in result.text, result.text
    assert f"[{kind}]" in result.text
    assert kind in result.kinds


# Finance text that must come through untouched (the decisions are in the module doc).
MUST_KEEP = [
    "30-year fixed",
    "$250,000",
    "$1,250,000 jumbo loan",
    "4.5% apr",
    "6.125% APY on balances over $10,000",
    "mortgage rates 2024",
    "rates as of 2024-06-01",
    "zip 94110",
    "94110-1234",
    "FICO 720",
    "15/30 year",
    "card ending in 1234",
    "call 555-0123",
    "3.14159265",
    "US30 YEAR FIXED",
    "Compare 0% intro APR cards",
    "Open an account in 5 minutes",
    "ssn lookup",
    "refinance vs heloc",
    "my name on the account",
    "This Is How Rates Work",
    "Hello from the Mortgage Team",
    "/mortgages/30-year-fixed",
    "/cards/compare?card=platinum-rewards&sort=apr",
    "/profile/settings",
    "/profile/personal-info",
    "/members/rewards-program",
    "/users/john",  # one-word slug: kept on purpose (see the module doc)
    "/app/accounts/checking/transactions",
    "/tools/mortgage-calculator?amount=450000&term=30",
    "",
]


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

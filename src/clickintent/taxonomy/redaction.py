"""Remove personal data from free text before it leaves the process (LLM prompts, caches, logs).

`redact(text)` replaces what it finds with a typed placeholder such as `[EMAIL]`; `redact_with_report`
also says how many of each kind it removed. Every pattern is compiled once at import, and each
runs only when a cheap test says it could match (an '@' for e-mails, four close digits for
numbers ...), because this runs on every field of every session text.

What is removed (placeholder):
- e-mail addresses, also URL-encoded (`jane%40example.com`)                      [EMAIL]
- values of personal URL query parameters (`?name=`, `?email=`, `?phone=`, `?dob=`,
  `?address=`, `?ssn=`, `?account_number=` ...), typed by the parameter name      [NAME] [EMAIL] ...
- person names in URL paths after a person segment (`/profile/john-smith`,
  `/users/jane.doe`), when the slug has 2-4 alphabetic parts                       [NAME]
- person names introduced in prose: "my name is X Y", "name: X", "this is X Y",
  "hi X", "hello X", "dear X", "welcome back X" (the last five need a capitalised name) [NAME]
- IBAN-like strings (country code, check digits, 11-30 alphanumerics)             [IBAN]
- SSN-like 3-2-4 digit groups, and digits after "SSN" / "social security"         [SSN]
- card numbers: 13-19 digits, contiguous or in groups of 4 (or Amex 4-6-5).
  Luhn-valid ones are [CARD]; card-shaped numbers failing Luhn are still removed,
  as [ACCOUNT], because a mistyped card number is still a card number             [CARD] [ACCOUNT]
- phone numbers: US formats ((415) 555-0123, 415-555-0123, 415.555.0123,
  1-800-555-0199) and international numbers written with +country                 [PHONE]
- account and routing numbers: any run of 8 or more digits, and digits after
  "account number", "acct #", "routing" ...                                         [ACCOUNT]

What is kept, on purpose (each has a test):
- amounts, rates and terms: "$250,000", "4.5% apr", "30-year fixed", "15/30", "FICO 720";
- years and dates ("2024", "2024-06-01"): a date alone does not identify anyone; a date in a
  `?dob=` parameter is removed;
- US ZIP codes (94110, 94110-1234): they identify an area of tens of thousands of people,
  rate pages ask for them legitimately, and 5-digit numbers are too often amounts or ids;
- 7-digit local phone numbers (555-0123) and the last four digits of a card ("ending in 1234"):
  too ambiguous, and not identifying alone;
- one-word slugs after a person segment (/profile/settings, /users/john): single words are far
  more often pages than names, and the page paths feed the taxonomy.

Known over-redaction, accepted for privacy: an amount typed without separators with 8+ digits
("12500000") and compact dates ("20240601") become [ACCOUNT]; a capitalised word after
"this is" / "hi" that is not in the stop list becomes [NAME].
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

PLACEHOLDERS = ("[EMAIL]", "[PHONE]", "[CARD]", "[ACCOUNT]", "[SSN]", "[IBAN]", "[NAME]", "[DOB]", "[ADDRESS]")


@dataclass(frozen=True)
class Redaction:
    """Redacted text and how many of each kind were removed (kind = placeholder without brackets)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self.counts)

    @property
    def changed(self) -> bool:
        return bool(self.counts)


# ---------------------------------------------------------------------------------------------
# words that are never taken for a name (function words, question words, page and banking words)

_STOP_WORDS = frozenset(
    """
    a an the and or but if of to in on at by for with from as is are was be been am i me my we our
    you your he she it they them this that these those there here what why how when where who which
    not no yes all any some more most very so just now new back again also only about into over up
    out off can could will would should may might must do does did have has had get got want need
    looking interested ready trying thinking planning help support contact contacts about us team
    home page site welcome hello hi hey dear thanks thank please sir madam everyone
    all there friend friends customer customers member members client clients user users guest
    settings setting edit view overview summary details detail info information personal profile
    profiles account accounts security privacy preferences preference notifications notification
    password login logout signin sign signup register registration documents document statements
    statement messages message inbox alerts alert photo avatar picture address addresses email
    phone contact verify verification update delete manage dashboard activity history list search
    results benefits rewards reward program programs offers offer perks card cards credit debit
    checking savings loan loans mortgage mortgages rates rate calculator calculators tools tool
    invest investing retirement business small auto car student refinance refinancing home equity
    heloc apply application open today online mobile app banking bank financial advisor advisors
    agent agents find locate locator branch branches atm atms near me center centre faq faqs guide
    guides learn learning article articles blog news insights compare comparison best top how-to
    step steps start started get-started first time buyer buyers fixed variable year years month
    months day days week weeks one two three four five free no-fee fee fees plan plans goal goals
    fraud scam report lost stolen dispute transfer transfers pay payment payments bill bills zelle
    deposit deposits withdraw withdrawal balance balances transaction transactions travel travel
    emergency fund funds debt consolidation consolidate build building score scores share link
    """.split()
)

_NAME_WORD = r"[A-Za-z][A-Za-z'\u2019-]*"
_CAPITALISED_NAME_WORD = r"[A-Z][a-z'\u2019-]*[a-z]"
# Between words of a name: spaces, or their URL encodings in a query string.
_SEP = r"(?:\s+|\+|%20)"


def _is_name(words: list[str]) -> bool:
    return bool(words) and not any(word.lower().strip("'\u2019-") in _STOP_WORDS for word in words)


# ---------------------------------------------------------------------------------------------
# patterns, in the order they run: the most specific first, so that an e-mail inside a query
# parameter is one [EMAIL] and not an [EMAIL] plus leftovers


# Query parameters whose value is personal whatever it looks like. Keys are matched whole,
# lower-cased, with '-' read as '_'. Product parameters such as ?card=platinum are not here:
# numbers in them are caught by the number patterns.
_PARAMETER_KINDS: dict[str, str] = {}
for _kind, _keys in {
    "NAME": "name full_name fullname first_name firstname fname given_name last_name lastname lname surname "
    "middle_name username user_name user login customer_name cardholder cardholder_name holder_name "
    "account_holder contact_name",
    "EMAIL": "email e_mail mail email_address emailaddress user_email contact_email",
    "PHONE": "phone phone_number phonenumber tel telephone mobile mobile_number cell cellphone contact_phone",
    "SSN": "ssn social social_security tin tax_id",
    "DOB": "dob birthdate birth_date date_of_birth birthday",
    "ADDRESS": "address street street_address address1 address2 address_line1 address_line2",
    "CARD": "card_number cardnumber cc cc_number ccnum pan",
    "ACCOUNT": "account_number accountnumber acct acct_number account_no routing routing_number aba",
    "IBAN": "iban",
}.items():
    for _key in _keys.split():
        _PARAMETER_KINDS[_key] = _kind

_QUERY_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<key>[A-Za-z][\w.-]{0,40})=(?P<value>[^&#\s\"'<>]*)")

# The slug after a segment that names a person-level resource.
_PERSON_PATH = re.compile(
    r"(?P<lead>/(?:profiles?|users?|members?|customers?|clients?|people|persons?|advisors?|agents?|"
    r"bankers?|team|staff|employees?|authors?|u)/)(?P<slug>[^/?#\s\"'<>]+)",
    re.IGNORECASE,
)
_SLUG_PARTS = re.compile(r"[-_.+]|%20")

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b")

# Country code, two check digits, then 11-30 alphanumerics, optionally in groups of 4.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")

_SSN = re.compile(r"(?<![\w-])\d{3}(?P<sep>[- ])\d{2}(?P=sep)\d{4}(?![\w-])")
_SSN_BY_KEYWORD = re.compile(
    r"(?P<lead>\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)\s*[:#]?\s*)(?P<digits>\d[\d -]{3,}\d)",
    re.IGNORECASE,
)

_CARD = re.compile(
    r"(?<![\d.])(?:\d{13,19}"  # contiguous
    r"|\d{4}(?:[ -]\d{4}){2}[ -]\d{1,4}(?:[ -]\d{1,3})?"  # groups of four, 13-19 digits
    r"|\d{4}[ -]\d{6}[ -]\d{4,5})(?!\d)"  # Amex / Diners 4-6-5, 4-6-4
)

_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,5}(?![\d])")
_PHONE_US = re.compile(r"(?<![\w+])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])")

_ACCOUNT_BY_KEYWORD = re.compile(
    r"(?P<lead>\b(?:account|acct|a/c|routing|aba)\.?\s*(?:number|num|no\.?|#)?\s*[:#]?\s*)"
    r"(?P<digits>\d[\d -]{3,}\d)",
    re.IGNORECASE,
)
# Not after "<digit>." so that the decimals of a long fraction are left alone.
_LONG_DIGIT_RUN = re.compile(r"(?<!\d\.)(?<!\d)\d{8,}(?!\d)")

_NAME_INTRODUCED = re.compile(
    r"(?P<lead>(?i:\bmy" + _SEP + r"name" + _SEP + r"is|\bmy" + _SEP + r"name's|\bname\s*[:=])" + _SEP + r"?)"
    r"(?P<words>" + _NAME_WORD + r"(?:" + _SEP + _NAME_WORD + r"){0,2})"
)
_NAME_ADDRESSED = re.compile(
    r"(?P<lead>(?i:\bthis\s+is|\bhi|\bhello|\bhey|\bdear|\bwelcome\s+back)\s*,?\s+)"
    r"(?P<words>" + _CAPITALISED_NAME_WORD + r"(?:\s+" + _CAPITALISED_NAME_WORD + r"){0,2})"
)
_SPLIT_NAME_WORDS = re.compile(_SEP)
_NAME_WORD_PATTERN = re.compile(_NAME_WORD)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = ord(character) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# ---------------------------------------------------------------------------------------------
# replacers: each takes a match and a counter, returns the replacement text


def _replace_query_parameter(match: re.Match[str], counts: Counter[str]) -> str:
    kind = _PARAMETER_KINDS.get(match["key"].lower().replace("-", "_"))
    if kind is None or not match["value"]:
        return match.group(0)
    counts[kind] += 1
    return f"{match['lead']}{match['key']}=[{kind}]"


def _replace_person_path(match: re.Match[str], counts: Counter[str]) -> str:
    parts = [part for part in _SLUG_PARTS.split(match["slug"]) if part]
    if not 2 <= len(parts) <= 4 or not all(part.isalpha() for part in parts) or not _is_name(parts):
        return match.group(0)
    counts["NAME"] += 1
    return f"{match['lead']}[NAME]"


def _replace_card(match: re.Match[str], counts: Counter[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    kind = "CARD" if 13 <= len(digits) <= 19 and _luhn_valid(digits) else "ACCOUNT"
    counts[kind] += 1
    return f"[{kind}]"


def _replace_iban(match: re.Match[str], counts: Counter[str]) -> str:
    # Real IBANs are mostly digits; this keeps all-caps title words ("US30 YEAR FIXED") out.
    if sum(character.isdigit() for character in match.group(0)) < 8:
        return match.group(0)
    counts["IBAN"] += 1
    return "[IBAN]"


def _replace_international_phone(match: re.Match[str], counts: Counter[str]) -> str:
    n_digits = sum(character.isdigit() for character in match.group(0))
    if not 8 <= n_digits <= 15:
        return match.group(0)
    counts["PHONE"] += 1
    return "[PHONE]"


def _replace_name_words(match: re.Match[str], counts: Counter[str]) -> str:
    words = _SPLIT_NAME_WORDS.split(match["words"])
    # Take words up to the first stop word: "my name is john and i want a mortgage".
    name: list[str] = []
    for word in words:
        if not _is_name([word]):
            break
        name.append(word)
    if not name:
        return match.group(0)
    counts["NAME"] += 1
    rest = match["words"][_end_of_first_words(match["words"], len(name)) :]
    return f"{match['lead']}[NAME]{rest}"


def _end_of_first_words(words_text: str, n_words: int) -> int:
    """Where the first `n_words` words of `words_text` end."""
    end = 0
    for index, word_match in enumerate(_NAME_WORD_PATTERN.finditer(words_text)):
        if index == n_words:
            break
        end = word_match.end()
    return end


def _typed(kind: str) -> Callable[[re.Match[str], Counter[str]], str]:
    def replace(_match: re.Match[str], counts: Counter[str]) -> str:
        counts[kind] += 1
        return f"[{kind}]"

    return replace


def _typed_after_lead(kind: str) -> Callable[[re.Match[str], Counter[str]], str]:
    def replace(match: re.Match[str], counts: Counter[str]) -> str:
        counts[kind] += 1
        return f"{match['lead']}[{kind}]"

    return replace


_Replacer = Callable[[re.Match[str], Counter[str]], str]
# A pass runs only when its cheap precondition holds: a substring test costs nanoseconds, a
# regex scan tens of microseconds per kilobyte, and most fields have no '@', '=' or long number.
_Precondition = Callable[[str, str], bool]  # (text, lower-cased text) -> may the pattern match?

# Every digit pattern needs at least four digits with at most short separators between them.
_DIGIT_CLUSTER = re.compile(r"\d(?:[ ().+-]{0,3}\d){3}")


def _has_digit_cluster(text: str, _lower: str) -> bool:
    return _DIGIT_CLUSTER.search(text) is not None


_PASSES: tuple[tuple[_Precondition, re.Pattern[str], _Replacer], ...] = (
    (lambda text, _lower: "=" in text, _QUERY_PARAMETER, _replace_query_parameter),
    (lambda text, _lower: "/" in text, _PERSON_PATH, _replace_person_path),
    (lambda text, _lower: "@" in text or "%40" in text, _EMAIL, _typed("EMAIL")),
    (lambda _text, lower: "name" in lower, _NAME_INTRODUCED, _replace_name_words),
    (
        lambda _text, lower: "hi" in lower or "he" in lower or "dear" in lower or "welcome" in lower,
        _NAME_ADDRESSED,
        _replace_name_words,
    ),
    (_has_digit_cluster, _IBAN, _replace_iban),
    (_has_digit_cluster, _SSN_BY_KEYWORD, _typed_after_lead("SSN")),
    (_has_digit_cluster, _SSN, _typed("SSN")),
    (_has_digit_cluster, _CARD, _replace_card),
    (_has_digit_cluster, _PHONE_INTERNATIONAL, _replace_international_phone),
    (_has_digit_cluster, _PHONE_US, _typed("PHONE")),
    (_has_digit_cluster, _ACCOUNT_BY_KEYWORD, _typed_after_lead("ACCOUNT")),
    (_has_digit_cluster, _LONG_DIGIT_RUN, _typed("ACCOUNT")),
)


def _apply(replacer: _Replacer, counts: Counter[str], match: re.Match[str]) -> str:
    return replacer(match, counts)


def redact_with_report(text: str) -> Redaction:
    """Redact `text` and count what was removed, by kind (EMAIL, PHONE, CARD, ACCOUNT, SSN, IBAN, NAME, DOB, ADDRESS)."""
    if not text:
        return Redaction(text or "")
    counts: Counter[str] = Counter()
    # Preconditions are evaluated on the original text: replacements only remove what they
    # test for (placeholders bring no '@', '=', digits or greeting), so a skipped pass could
    # not have matched. Each distinct precondition is evaluated once.
    lower = text.lower()
    answers: dict[_Precondition, bool] = {}
    for precondition, pattern, replacer in _PASSES:
        if precondition not in answers:
            answers[precondition] = precondition(text, lower)
        if not answers[precondition]:
            continue
        text = pattern.sub(partial(_apply, replacer, counts), text)
    return Redaction(text, dict(counts))


def redact(text: str) -> str:
    """`text` with personal data replaced by typed placeholders such as [EMAIL] (see the module doc)."""
    return redact_with_report(text).text

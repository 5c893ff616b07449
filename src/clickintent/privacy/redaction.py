"""Remove personal data from free text: the one redactor of search queries, page paths, referrers
and everything sent to an LLM.

`redact(text)` replaces what it finds with a typed placeholder such as `[EMAIL]`;
`redact_with_report` also says how many of each kind it removed. The rules are data (`RULES`):
ordered (pattern, replacement) pairs written in the regular-expression subset that Python's `re`
and RE2 (DuckDB's engine) read alike (no look-around, no back-references, explicit ASCII
classes, case folded by hand), so that `redaction_sql` renders the same rules as nested DuckDB
`regexp_replace` calls: dbt's macro `redact_pii` is generated from them
(`clickintent.privacy.macro`), and the batch marts and the live path redact identically.
Standard library only: the service imports this on its request path.

What is removed (placeholder):
- e-mail addresses, also URL-encoded (`jane%40example.com`)                      [EMAIL]
- values of personal URL query parameters (`?name=`, `?email=`, `?phone=`, `?dob=`,
  `?address=`, `?ssn=`, `?account_number=` ...), typed by the parameter name      [NAME] [EMAIL] ...
- person names in URL paths after a person segment (`/profile/john-smith`,
  `/users/jane.doe`), when the slug has 2-4 alphabetic parts and none is a stop word [NAME]
- person names introduced in prose: "my name is X Y", "name: X", "this is X Y",
  "hi X", "hello X", "dear X", "welcome back X" (the last five need a capitalised name);
  the name ends at the first stop word ("my name is john and ...")                 [NAME]
- IBAN-like strings (country code, check digits, groups with 8+ digits in a row)  [IBAN]
- SSN-like 3-2-4 digit groups, and digits after "SSN" / "social security"         [SSN]
- card numbers: 13-19 digits, contiguous or in groups (4-4-4-x, Amex 4-6-5) with
  spaces, dashes or dots between; a mistyped card number is still a card number    [CARD]
- phone numbers: US formats ((415) 555-0123, 415-555-0123, 415.555.0123, 415 555 0123,
  1-800-555-0199) and 8-15 digit numbers written with +country                     [PHONE]
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
("12500000") and compact dates ("20240601") become [ACCOUNT]; the first word after "my name is"
is taken for a name whatever it is.

A stop word (a function or page word, never a name) is protected by a marker character
(U+E000, private use) put before it by one rule and removed by the last one, because neither
engine can say "a word that is not one of these" more simply; a U+E000 in the input goes too.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

PLACEHOLDERS = ("[EMAIL]", "[PHONE]", "[CARD]", "[ACCOUNT]", "[SSN]", "[IBAN]", "[NAME]", "[DOB]", "[ADDRESS]")

# Put before a stop word so that no name pattern (which starts with a letter) can take it.
MARKER = "\ue000"


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


@dataclass(frozen=True)
class Rule:
    """One regexp_replace: every match of `pattern` becomes `replacement` (`\\1` = group 1).

    `kind` is what a match removes (None for the marker rules, which remove nothing);
    `may_match` is a cheap necessary condition (Python only: it skips a scan, never changes
    an answer).
    """

    kind: str | None
    pattern: str
    replacement: str
    may_match: Callable[[_Probe], bool]

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, re.ASCII)

    @cached_property
    def _replacement_parts(self) -> tuple[str | int, ...]:
        """The replacement as literal texts and group numbers ('\\1[NAME]' -> (1, '[NAME]'))."""
        return tuple(int(part[1:]) if part.startswith("\\") else part for part in re.split(r"(\\\d)", self.replacement) if part)

    def apply(self, text: str) -> tuple[str, int]:
        """(text with every match replaced, number of matches). A function, not a template: re
        hashes a template's pattern on every call, which for these patterns costs more than the scan."""
        parts = self._replacement_parts
        return self.compiled.subn(lambda match: "".join(p if isinstance(p, str) else match.group(p) or "" for p in parts), text)


# ---------------------------------------------------------------------------------------------
# building blocks (both engines: explicit classes, no \d \w \s, case folded by hand)


def _any_case(word: str) -> str:
    """`word` matching in any letter case: 'ab' -> '[Aa][Bb]' (RE2's (?i) folds more than Python's)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isascii() and c.isalpha() else _literal(c) for c in word)


def _literal(character: str) -> str:
    return "\\" + character if character in ".+*?()[]{}|^$\\" else character


def _one_of(words: Iterable[str]) -> str:
    # Longest first, so that an alternative never stops at a shorter word's end.
    return "(?:" + "|".join(_any_case(word) for word in sorted(set(words), key=lambda w: (-len(w), w))) + ")"


# Digits of the scripts people type numbers in (ASCII, fullwidth, Arabic-Indic, Persian, Devanagari):
# "card １２３４..." is a card number too.
_DIGITS = "0-9\uff10-\uff19\u0660-\u0669\u06f0-\u06f9\u0966-\u096f"
_DIGIT = f"[{_DIGITS}]"
_DIGIT_CHARACTER = re.compile(_DIGIT)


def _with_digits(pattern: str) -> str:
    """`pattern` with every `0-9` class range widened to all of `_DIGITS`."""
    return pattern.replace("0-9", _DIGITS)


_SPACE = "[ \\t\\n\\r\\f]"  # RE2's \s (Python's also has \v)
_LETTER = "[A-Za-zÀ-ÖØ-öø-ÿ]"
_NAME_WORD = f"{_LETTER}[A-Za-zÀ-ÖØ-öø-ÿ'\u2019-]*"
_CAPITALISED_NAME_WORD = "[A-Z][a-z'\u2019-]*[a-z]"
_NOT_NAME_CHARACTER = "(?:[^A-Za-zÀ-ÖØ-öø-ÿ'\u2019-]|$)"
# Between words of a name: spaces, or their URL encodings in a query string.
_SEP = f"(?:{_SPACE}+|\\+|%20)"
# Where a URL slug or a query parameter value ends (includes \n: Python's $ also matches before a last \n).
_URL_END_CHARACTER = "[/?#&\\t\\n\\r\\f \"'<>]"

# Words never taken for a name: function and question words, page and banking words.
STOP_WORDS = frozenset(
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
    deposit deposits withdraw withdrawal balance balances transaction transactions travel
    emergency fund funds debt consolidation consolidate build building score scores share link
    """.split()
)
_STOP_WORD = _one_of(STOP_WORDS)

# Query parameters whose value is personal whatever it looks like; '-' and '_' are one. Product
# parameters such as ?card=platinum are not here: numbers in them are caught by the number rules.
PARAMETER_KINDS: dict[str, tuple[str, ...]] = {
    "NAME": tuple(
        "name full_name fullname first_name firstname fname given_name last_name lastname lname surname "
        "middle_name username user_name user login customer_name cardholder cardholder_name holder_name "
        "account_holder contact_name".split()
    ),
    "EMAIL": tuple("email e_mail mail email_address emailaddress user_email contact_email".split()),
    "PHONE": tuple("phone phone_number phonenumber tel telephone mobile mobile_number cell cellphone contact_phone".split()),
    "SSN": tuple("ssn social social_security tin tax_id".split()),
    "DOB": tuple("dob birthdate birth_date date_of_birth birthday".split()),
    "ADDRESS": tuple("address street street_address address1 address2 address_line1 address_line2".split()),
    "CARD": tuple("card_number cardnumber cc cc_number ccnum pan".split()),
    "ACCOUNT": tuple("account_number accountnumber acct acct_number account_no routing routing_number aba".split()),
    "IBAN": ("iban",),
}

# Segments after which a slug names a person-level resource.
_PERSON_SEGMENT = _one_of(
    "profile profiles user users member members customer customers client clients people person persons advisor advisors "
    "agent agents banker bankers team staff employee employees author authors u".split()
)
_SLUG_PART = f"{_LETTER}+"
_SLUG_SEPARATOR = "(?:[-_.+]|%20)"


# ---------------------------------------------------------------------------------------------
# cheap necessary conditions (Python only)


class _Probe:
    """The text a rule is about to scan, with what the cheap conditions read, each computed once."""

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def lower(self) -> str:
        return self.text.lower()

    @cached_property
    def n_digits(self) -> int:
        if self.text.isascii():
            return sum(map(self.text.count, "0123456789"))
        return len(_DIGIT_CHARACTER.findall(self.text))


def _contains(*needles: str) -> Callable[[_Probe], bool]:
    def may_match(probe: _Probe) -> bool:
        return any(needle in probe.text for needle in needles)

    return may_match


def _contains_lower(*needles: str) -> Callable[[_Probe], bool]:
    def may_match(probe: _Probe) -> bool:
        return any(needle in probe.lower for needle in needles)

    return may_match


def _n_digits(at_least: int) -> Callable[[_Probe], bool]:
    def may_match(probe: _Probe) -> bool:
        return probe.n_digits >= at_least

    return may_match


# ---------------------------------------------------------------------------------------------
# the rules, in the order they run: the most specific first, so that an e-mail inside a query
# parameter is one [EMAIL] and not an [EMAIL] plus leftovers


def _parameter_rules() -> list[Rule]:
    rules = []
    for kind, keys in PARAMETER_KINDS.items():
        key = "(?:" + "|".join(_any_case(k).replace("_", "[-_]") for k in sorted(keys, key=lambda k: (-len(k), k))) + ")"
        rules.append(Rule(kind, f"([?&;]{key}=)[^&#\\t\\n\\r\\f \"'<>]+", f"\\1[{kind}]", _contains("=")))
    return rules


def _name_rules(lead: str, word: str, separator: str, may_match: Callable[[str], bool]) -> list[Rule]:
    """Up to three name words after `lead`, ending at the first stop word (which a marker protects)."""
    protect = Rule(None, f"({lead}(?:{word}{separator}){{0,2}}?)({_STOP_WORD}{_NOT_NAME_CHARACTER})", f"\\1{MARKER}\\2", may_match)
    name = Rule("NAME", f"({lead}){word}(?:{separator}{word}){{0,2}}", "\\1[NAME]", may_match)
    return [protect, name]


_INTRODUCED_LEAD = (
    f"\\b(?:{_any_case('my')}{_SEP}{_any_case('name')}{_SEP}{_any_case('is')}"
    f"|{_any_case('my')}{_SEP}{_any_case('name')}['\u2019][sS]"
    f"|{_any_case('name')}{_SPACE}*[:=]){_SEP}?"
)
_ADDRESSED_LEAD = (
    f"\\b(?:{_any_case('this')}{_SPACE}+{_any_case('is')}|{_any_case('hi')}|{_any_case('hello')}|{_any_case('hey')}"
    f"|{_any_case('dear')}|{_any_case('welcome')}{_SPACE}+{_any_case('back')}){_SPACE}*,?{_SPACE}+"
)
_PERSON_LEAD = f"/{_PERSON_SEGMENT}/"
# The number after "SSN" or "account number": 5 or more digits, spaces or dashes inside.
_DIGITS_AFTER_KEYWORD = _with_digits(f"{_DIGIT}[0-9 -]{{3,}}{_DIGIT}")


RULES: tuple[Rule, ...] = (
    *_parameter_rules(),
    Rule(
        "EMAIL",
        "[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,24}\\b",
        "[EMAIL]",
        _contains("@", "%40"),
    ),
    # names in URL paths: a stop-word part keeps the slug (/profile/personal-info)
    Rule(
        None,
        f"({_PERSON_LEAD}(?:{_SLUG_PART}{_SLUG_SEPARATOR})*?)({_STOP_WORD}(?:{_SLUG_SEPARATOR}|{_URL_END_CHARACTER}|$))",
        f"\\1{MARKER}\\2",
        _contains("/"),
    ),
    Rule(
        "NAME",
        f"({_PERSON_LEAD}){_SLUG_PART}(?:{_SLUG_SEPARATOR}{_SLUG_PART}){{1,3}}({_URL_END_CHARACTER}|$)",
        "\\1[NAME]\\2",
        _contains("/"),
    ),
    *_name_rules(_INTRODUCED_LEAD, _NAME_WORD, _SEP, _contains_lower("name")),
    *_name_rules(_ADDRESSED_LEAD, _CAPITALISED_NAME_WORD, f"{_SPACE}+", _contains_lower("hi", "he", "dear", "welcome")),
    # IBAN: country code, check digits, groups of 4 with two all-digit groups in a row
    Rule(
        "IBAN",
        "\\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){0,5}(?: ?[0-9]{4}){2}(?: ?[A-Z0-9]{4}){0,5}(?: ?[A-Z0-9]{1,3})?\\b",
        "[IBAN]",
        _n_digits(10),
    ),
    Rule(
        "SSN",
        f"(\\b(?:{_any_case('ssn')}|{_any_case('social')}{_SPACE}+{_any_case('security')}"
        f"(?:{_SPACE}+(?:{_any_case('number')}|{_any_case('no')}\\.?|#))?){_SPACE}*[:#]?{_SPACE}*)"
        f"{_DIGITS_AFTER_KEYWORD}",
        "\\1[SSN]",
        _contains_lower("ssn", "social"),
    ),
    Rule("SSN", _with_digits("(^|[^0-9A-Za-z_-])(?:[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4})"), "\\1[SSN]", _n_digits(9)),
    # cards: contiguous 13-19 digits, 4-4-4-(1-7) or Amex 4-6-5 with one space, dash or dot between groups
    Rule(
        "CARD",
        _with_digits(
            "(^|[^0-9.])(?:[0-9]{4}[ .-]?[0-9]{4}[ .-]?[0-9]{4}[ .-]?[0-9]{1,7}|[0-9]{4}[ .-]?[0-9]{6}[ .-]?[0-9]{4,5})([^0-9]|$)"
        ),
        "\\1[CARD]\\2",
        _n_digits(13),
    ),
    # phones: +country then 8-15 digits with short separators; US 3-3-4 with area code
    Rule("PHONE", _with_digits("(^|[^0-9A-Za-z_+])\\+[0-9](?:[ .()-]{0,2}[0-9]){7,14}"), "\\1[PHONE]", _n_digits(8)),
    Rule(
        "PHONE",
        _with_digits("(^|[^0-9A-Za-z_+])(?:1[ .-]?)?(?:\\([0-9]{3}\\)[ .-]?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}"),
        "\\1[PHONE]",
        _n_digits(10),
    ),
    Rule(
        "ACCOUNT",
        f"(\\b(?:{_any_case('account')}|{_any_case('acct')}|{_any_case('a/c')}|{_any_case('routing')}|{_any_case('aba')})\\.?"
        f"{_SPACE}*(?:{_any_case('number')}|{_any_case('num')}|{_any_case('no')}\\.?|#)?{_SPACE}*[:#]?{_SPACE}*)"
        f"{_DIGITS_AFTER_KEYWORD}",
        "\\1[ACCOUNT]",
        _contains_lower("acc", "a/c", "routing", "aba"),
    ),
    # not after "<digit>." so that the decimals of a long fraction are left alone
    Rule("ACCOUNT", _with_digits("(^|^\\.|[^0-9.]|[^0-9]\\.)[0-9]{8,}"), "\\1[ACCOUNT]", _n_digits(8)),
    Rule(None, MARKER, "", _contains(MARKER)),
)


def redact_with_report(text: str) -> Redaction:
    """Redact `text` and count what was removed, by kind (EMAIL, PHONE, CARD, ACCOUNT, SSN, IBAN, NAME, DOB, ADDRESS)."""
    if not text:
        return Redaction(text or "")
    counts: Counter[str] = Counter()
    probe = _Probe(text)
    for rule in RULES:
        if not rule.may_match(probe):
            continue
        text, n = rule.apply(text)
        if n:
            probe = _Probe(text)
            if rule.kind is not None:
                counts[rule.kind] += n
    return Redaction(text, dict(counts))


def redact(text: str) -> str:
    """`text` with personal data replaced by typed placeholders such as [EMAIL] (see the module doc)."""
    return redact_with_report(text).text


def redact_optional(text: str | None) -> str | None:
    """`redact` for a nullable field (a page path, referrer or search query); None stays None."""
    return None if text is None else redact(str(text))


# ---------------------------------------------------------------------------------------------
# the same rules in DuckDB SQL


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_pattern(pattern: str) -> str:
    return _sql_string(pattern.replace(MARKER, "\\x{E000}"))


def _sql_replacement(replacement: str) -> str:
    parts = [_sql_string(part) for part in replacement.split(MARKER)]
    return " || chr(57344) || ".join(parts) if len(parts) > 1 else parts[0]


def redaction_sql(expression: str) -> str:
    """A DuckDB expression that redacts `expression` (SQL text) exactly as `redact` does."""
    lines = ["regexp_replace("] * len(RULES) + [f"  {expression}"]
    for rule in RULES:
        lines.append(f"  , {_sql_pattern(rule.pattern)}, {_sql_replacement(rule.replacement)}, 'g')")
    return "\n".join(lines)


def _spark_string(text: str) -> str:
    # Spark reads the project's string literals raw (spark.sql.parser.escapedStringLiterals in
    # the profile), so a backslash is itself and a quote is written \' (Java regex reads \' as ').
    return "'" + text.replace("'", "\\'") + "'"


# RE2's meaning of the escapes and anchors whose meaning java.util.regex changes (outside a
# bracket expression): ASCII word boundaries, \s without \v, $ only at the very end, . anything but \n.
_ASCII_WORD = "[0-9A-Za-z_]"
_RE2_IN_JAVA = {
    "\\b": f"(?:(?<={_ASCII_WORD})(?!{_ASCII_WORD})|(?<!{_ASCII_WORD})(?={_ASCII_WORD}))",
    "\\B": f"(?:(?<={_ASCII_WORD})(?={_ASCII_WORD})|(?<!{_ASCII_WORD})(?!{_ASCII_WORD}))",
    "\\s": "[\\t\\n\\f\\r ]",
    "$": "\\z",
    ".": "[^\\n]",
}


def java_regex(pattern: str) -> str:
    """An RE2 pattern (as these rules are written) that java.util.regex reads the same way.

    Inside a bracket expression RE2 takes `[` and `&&` literally where Java nests and
    intersects classes, so those are escaped there; `\\s` there is RE2's four spaces.
    """
    out: list[str] = []
    index, in_class, class_start = 0, False, 0
    while index < len(pattern):
        char = pattern[index]
        token = pattern[index : index + 2] if char == "\\" else char
        index += len(token)
        if in_class:
            if token == "]" and index - 1 > class_start:
                in_class = False
                out.append(token)
            elif token == "^" and index - 1 == class_start:
                class_start = index  # a ] right after [^ is literal too
                out.append(token)
            elif token in ("[", "&"):
                out.append("\\" + token)
            else:
                out.append("\\t\\n\\f\\r " if token == "\\s" else token)
        elif token == "[":
            in_class, class_start = True, index
            out.append(token)
        else:
            out.append(_RE2_IN_JAVA.get(token, token))
    return "".join(out)


def _spark_pattern(pattern: str) -> str:
    return _spark_string(java_regex(pattern.replace(MARKER, "\\x{E000}")))


def _spark_replacement(replacement: str) -> str:
    # Java's replacement syntax: $1 for a group, \$ for a dollar; Spark's chr() is one byte, so
    # the marker is decoded from its UTF-8 bytes
    java = re.sub(r"\\(\d)", r"$\1", replacement.replace("$", "\\$"))
    parts = [_spark_string(part) for part in java.split(MARKER)]
    return " || decode(unhex('EE8080'), 'UTF-8') || ".join(parts) if len(parts) > 1 else parts[0]


def redaction_spark_sql(expression: str) -> str:
    """The Spark SQL twin of `redaction_sql`: java.util.regex, with the patterns rewritten to RE2's meaning (java_regex)."""
    lines = ["regexp_replace("] * len(RULES) + [f"  {expression}"]
    for rule in RULES:
        lines.append(f"  , {_spark_pattern(rule.pattern)}, {_spark_replacement(rule.replacement)})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# events


# The event fields stg_events redacts (the contract's free text that reaches features and models).
REDACTED_EVENT_FIELDS = ("page_path", "referrer", "search_query")


@lru_cache(maxsize=65_536)
def _redact_repeated(text: str) -> str:
    return redact(text)


def redact_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a raw event (a dict in the contract's `events` shape) with its free-text fields
    redacted as stg_events redacts them, so that a live event reads like its batch copy."""
    redacted = dict(event)
    for name in REDACTED_EVENT_FIELDS:
        value = redacted.get(name)
        if value is not None:
            # Paths and referrers repeat across requests; a search query is redacted afresh and never cached.
            redacted[name] = redact(str(value)) if name == "search_query" else _redact_repeated(str(value))
    return redacted

"""Site-search queries: natural language per intent, and PII-like strings as real logs carry.

The vocabulary is every expansion of every template; a query draw picks a template uniformly
for the intent, then one of its expansions, so a template with many slot values does not
crowd out the others. A few percent of searches instead come from a pool of PII-like queries
(emails, account and card numbers, phone numbers, "my name is ..."), generated from the seed.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass

import numpy as np

from clickintent.synth.intents import INTENT_IDS, N_INTENTS
from clickintent.synth.sampling import RowSampler

SLOTS: dict[str, tuple[str, ...]] = {
    "income": tuple(str(k) for k in range(45, 205, 10)),
    "price": ("250k", "300k", "350k", "400k", "450k", "500k", "600k", "750k"),
    "down": ("3", "5", "10", "20"),
    "term": ("15", "30"),
    "state": ("texas", "florida", "california", "ohio", "georgia", "arizona", "new york", "colorado"),
    "amount": ("500", "1000", "5000", "10k", "25k", "50k"),
    "debt": ("10k", "15k", "20k", "30k", "40k"),
    "score": ("580", "620", "650", "680", "700", "720"),
    "age": ("25", "30", "35", "40", "45", "50", "55", "60"),
    "car": ("used car", "new car", "truck", "ev", "tesla", "suv"),
    "months": ("36", "48", "60", "72"),
    "airline": ("delta", "united", "american airlines", "southwest"),
    "country": ("mexico", "europe", "japan", "canada", "italy"),
    "biz": ("llc", "sole proprietor", "restaurant", "food truck", "contractor", "etsy shop"),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "home_buying": (
        "how much house can i afford on {income}k",
        "{term} year fixed mortgage rates",
        "mortgage rates today",
        "first time home buyer programs {state}",
        "fha loan requirements",
        "how much down payment for a {price} house",
        "{down} percent down mortgage",
        "mortgage preapproval how long",
        "closing costs estimate",
        "what credit score do i need to buy a house",
        "pmi on {down} percent down",
        "arm vs fixed mortgage",
        "morgage calculator",
        "jumbo loan limits {state}",
        "rent vs buy",
    ),
    "refinancing": (
        "refinance vs heloc",
        "should i refinance at {term} years",
        "cash out refinance rates",
        "heloc rates",
        "refinance break even",
        "how much equity do i have",
        "heloc vs home equity loan",
        "refinence mortgage",
        "remove pmi refinance",
        "refinance closing costs",
        "heloc for kitchen remodel",
        "refinance {term} to 15",
    ),
    "debt_consolidation": (
        "debt consolidation loan for {debt} credit card debt",
        "balance transfer card 0 apr",
        "personal loan rates",
        "consolidate credit card debt",
        "balance transfer fee",
        "personal loan with {score} credit score",
        "does debt consolidation hurt credit",
        "pay off {debt} credit card debt",
        "personal loan prequalify",
        "debt snowball vs avalanche",
    ),
    "building_credit": (
        "secured credit card",
        "how to build credit with no credit history",
        "first credit card no credit",
        "credit builder card",
        "raise credit score to {score}",
        "authorized user build credit",
        "how long to build credit",
        "what is a good credit score",
        "secured card deposit refund",
        "student credit card",
    ),
    "travel_rewards": (
        "best travel card no foreign fee",
        "travel rewards credit card",
        "airport lounge access card",
        "transfer points to {airline}",
        "is the annual fee worth it",
        "using my card in {country}",
        "travel card sign up bonus",
        "points vs cash back",
        "foreign transaction fee",
        "premium travel card",
    ),
    "retirement": (
        "roth ira vs traditional ira",
        "how much do i need to retire at {age}",
        "401k rollover to ira",
        "ira contribution limit 2026",
        "catch up contributions",
        "required minimum distribution",
        "retirement calculator",
        "when to take social security",
        "rollover old 401k",
        "retirement advisor near me",
        "target date fund",
    ),
    "emergency_savings": (
        "high yield savings account",
        "cd rates",
        "best savings rate",
        "emergency fund how many months",
        "money market vs savings",
        "12 month cd rate",
        "savings account interest rate",
        "apy vs apr",
        "where to keep emergency fund",
        "cd ladder",
        "save {amount} a month",
    ),
    "small_business": (
        "open business checking account",
        "sba loan requirements",
        "business checking for {biz}",
        "business credit card",
        "merchant services fees",
        "accept credit cards small business",
        "sba 7a loan rates",
        "ein needed for business account",
        "business line of credit",
        "payroll services small business",
    ),
    "car_purchase": (
        "auto loan rates",
        "{car} loan rates",
        "car loan calculator {months} months",
        "auto loan preapproval",
        "how much car can i afford",
        "refinance car loan",
        "auto loan with {score} credit score",
        "gap insurance",
        "auto insurance quote",
        "dealer financing vs bank",
    ),
    "student_loans": (
        "student loan rates",
        "private student loans",
        "refinance student loans",
        "cosigner student loan",
        "parent loan for college",
        "fafsa deadline",
        "graduate school loans",
        "student loan repayment calculator",
        "student checking account",
        "income driven repayment",
    ),
    "starting_to_invest": (
        "how to start investing with {amount}",
        "robo advisor fees",
        "open brokerage account",
        "index funds vs etf",
        "roth ira for beginners",
        "how to buy stocks",
        "dollar cost averaging",
        "automated investing minimum",
        "compound interest calculator",
        "is investing risky",
    ),
    "account_servicing": (
        "routing number",
        "reset password",
        "direct deposit form",
        "zelle limit",
        "wire transfer instructions",
        "order checks",
        "change address",
        "mobile deposit limit",
        "overdraft fee",
        "statements",
        "pending transaction",
        "stop payment",
        "close account",
        "1099 tax form",
        "customer service phone number",
    ),
    "fraud_concern": (
        "report fraud",
        "lost card",
        "stolen debit card",
        "unrecognized charge",
        "dispute a charge",
        "lock my card",
        "suspicious text from bank",
        "is this email from example bank",
        "account locked",
        "identity theft protection",
        "freeze credit",
        "someone used my card",
        "zelle scam",
    ),
    "none": (
        "branch near me",
        "atm near me",
        "hours",
        "holiday hours",
        "careers",
        "contact",
        "app download",
        "what is apr",
        "budget",
        "customer service",
    ),
}
assert set(TEMPLATES) == set(INTENT_IDS) | {"none"}

_FIRST = (
    "maria",
    "james",
    "linda",
    "robert",
    "patricia",
    "michael",
    "jennifer",
    "david",
    "elizabeth",
    "william",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "carlos",
    "wei",
    "priya",
    "ahmed",
    "olga",
    "kenji",
    "fatima",
)
_LAST = (
    "smith",
    "johnson",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "lopez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "nguyen",
    "patel",
    "kim",
    "chen",
    "okafor",
    "schmidt",
    "rossi",
)
_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com")

# Row layout of the query sampler: one row per intent, then 'none', then the PII pool.
NONE_ROW = N_INTENTS
PII_ROW = N_INTENTS + 1
N_PII_QUERIES = 3000


@dataclass
class QueryVocabulary:
    texts: list[str]
    sampler: RowSampler
    is_pii: np.ndarray  # bool per text

    def draw(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        return self.sampler.draw(rng, rows)


def _expand(template: str) -> list[str]:
    names = re.findall(r"{(\w+)}", template)
    if not names:
        return [template]
    return [template.format(**dict(zip(names, values))) for values in itertools.product(*(SLOTS[n] for n in names))]


def _luhn_card(rand: random.Random) -> str:
    digits = [4] + [rand.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4)) if rand.random() < 0.7 else text


def pii_queries(seed: int, n: int = N_PII_QUERIES) -> list[str]:
    """Search texts that carry PII-like strings, as typed into real site searches."""
    rand = random.Random(f"clickintent-pii-{seed}")

    def name() -> tuple[str, str]:
        return rand.choice(_FIRST), rand.choice(_LAST)

    def email() -> str:
        first, last = name()
        return f"{first}.{last}{rand.randrange(1, 99)}@{rand.choice(_MAIL)}"

    def account() -> str:
        return "".join(str(rand.randrange(10)) for _ in range(rand.choice((10, 11, 12))))

    def phone() -> str:
        a, b, c = rand.randrange(201, 989), rand.randrange(200, 999), rand.randrange(0, 10000)
        return rand.choice((f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}{b}{c:04d}"))

    def card() -> str:
        return "4111 1111 1111 1111" if rand.random() < 0.15 else _luhn_card(rand)

    makers = (
        lambda: f"{email()} forgot password",
        lambda: f"update email to {email()}",
        lambda: email(),
        lambda: f"account {account()} balance",
        lambda: f"transfer to account {account()}",
        lambda: account(),
        lambda: f"{card()} lost card",
        lambda: f"card {card()} declined",
        lambda: f"dispute charge on {card()}",
        lambda: f"call me at {phone()}",
        lambda: f"is {phone()} really example bank",
        lambda: f"got a call from {phone()} about fraud",
        lambda: "my name is {} {} and i cant log in".format(*name()),
        lambda: "{} {} mortgage application status".format(*name()),
        lambda: f"ssn {rand.randrange(100, 899)}-{rand.randrange(10, 99)}-{rand.randrange(1000, 9999)} tax form",
    )
    return [rand.choice(makers)() for _ in range(n)]


def build_query_vocabulary(seed: int) -> QueryVocabulary:
    texts: list[str] = []
    rows = [*INTENT_IDS, "none"]
    weights_by_row: list[dict[int, float]] = [dict() for _ in range(len(rows) + 1)]
    index: dict[str, int] = {}

    def add(text: str) -> int:
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    for row, name in enumerate(rows):
        templates = TEMPLATES[name]
        for template in templates:
            expansions = _expand(template)
            for text in expansions:
                position = add(text)
                weights_by_row[row][position] = weights_by_row[row].get(position, 0.0) + 1.0 / (len(templates) * len(expansions))
    n_plain = len(texts)
    for text in pii_queries(seed):
        position = add(text)
        weights_by_row[PII_ROW][position] = weights_by_row[PII_ROW].get(position, 0.0) + 1.0
    matrix = np.zeros((len(weights_by_row), len(texts)))
    for row, weights in enumerate(weights_by_row):
        for position, weight in weights.items():
            matrix[row, position] = weight
    is_pii = np.zeros(len(texts), dtype=bool)
    is_pii[n_plain:] = True
    return QueryVocabulary(texts=texts, sampler=RowSampler(matrix), is_pii=is_pii)

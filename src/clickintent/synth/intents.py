"""The 13 latent intents and the parameters by which each drives behaviour.

An intent is a visitor's hidden goal. It decides how many web sessions the visitor has and how
far apart (journeys), which pages are read at each stage (research -> compare -> apply; page
tags live in catalog.py), what is searched (queries.py), which products are wanted, how likely
and through which channel the visitor converts, and which app screens a customer opens.
"""

from __future__ import annotations

from dataclasses import dataclass

INTENT_IDS: tuple[str, ...] = (
    "home_buying",
    "refinancing",
    "debt_consolidation",
    "building_credit",
    "travel_rewards",
    "retirement",
    "emergency_savings",
    "small_business",
    "car_purchase",
    "student_loans",
    "starting_to_invest",
    "account_servicing",
    "fraud_concern",
)
N_INTENTS = len(INTENT_IDS)
INTENT_INDEX = {name: i for i, name in enumerate(INTENT_IDS)}
# Session-level label for sessions no intent drove (casual browsing), and for bot traffic.
NONE = N_INTENTS
NONE_LABEL = "none"
BOT_LABEL = "bot"

# Journey stages of a session within one intent's sequence of sessions.
RESEARCH, COMPARE, APPLY = 0, 1, 2
N_STAGES = 3


@dataclass(frozen=True)
class Journey:
    """How an intent spreads over web sessions."""

    base_sessions: int  # every visitor with this primary intent has at least this many
    extra_sessions: float  # plus Poisson(extra) more
    gap_days_median: float  # median days between consecutive sessions (log-normal)
    steps_mean: float  # mean pages per session beyond the first


COMPLEX = Journey(3, 3.0, 2.5, 6.0)  # weeks of research: mortgages, refinancing, retirement
MEDIUM = Journey(2, 1.5, 1.5, 5.5)
SIMPLE = Journey(1, 1.2, 1.0, 5.0)
SERVICING = Journey(1, 1.5, 6.0, 1.5)  # quick visits: help pages, then log in


@dataclass(frozen=True)
class IntentSpec:
    name: str
    journey: Journey
    # Products the intent is about, with weights: which one a visitor targets, and how
    # relevant a product tile is to a customer with this intent.
    products: dict[str, float]
    prospect_weight: float  # share of prospects whose primary intent this is (relative)
    customer_weight: float  # same among existing customers
    convert_prob: float  # chance the visitor opens the target product within the journey
    web_share: float  # of conversions: applied on the web (else branch or phone)
    app_rate_per_day: float  # app sessions per day for a customer holding this intent
    search_share: float  # share of page steps that are site searches
    age_weights: tuple[float, ...]  # over AGE_BANDS


AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_YOUNG = (0.35, 0.4, 0.15, 0.06, 0.03, 0.01)
_PRIME = (0.08, 0.34, 0.3, 0.16, 0.08, 0.04)
_MID = (0.04, 0.18, 0.26, 0.24, 0.18, 0.1)
_OLDER = (0.0, 0.04, 0.14, 0.3, 0.32, 0.2)
_ANY = (0.1, 0.2, 0.2, 0.18, 0.17, 0.15)

INTENTS: tuple[IntentSpec, ...] = (
    IntentSpec(
        "home_buying",
        COMPLEX,
        {"mtg_30y_fixed": 0.42, "mtg_fha": 0.22, "mtg_15y_fixed": 0.14, "mtg_arm_7_6": 0.1, "ins_home": 0.12},
        1.1,
        0.6,
        0.24,
        0.6,
        0.04,
        0.07,
        _PRIME,
    ),
    IntentSpec(
        "refinancing", COMPLEX, {"mtg_refinance": 0.55, "home_heloc": 0.35, "mtg_15y_fixed": 0.1}, 0.6, 0.8, 0.26, 0.7, 0.04, 0.06, _MID
    ),
    IntentSpec(
        "debt_consolidation",
        MEDIUM,
        {"loan_debt_consolidation": 0.45, "card_balance_transfer": 0.35, "loan_personal": 0.2},
        1.0,
        0.7,
        0.3,
        0.9,
        0.045,
        0.07,
        _PRIME,
    ),
    IntentSpec(
        "building_credit",
        SIMPLE,
        {"card_secured": 0.55, "card_student": 0.2, "chk_everyday": 0.25},
        1.0,
        0.35,
        0.36,
        0.92,
        0.04,
        0.06,
        _YOUNG,
    ),
    IntentSpec(
        "travel_rewards",
        SIMPLE,
        {"card_voyager_travel": 0.5, "card_horizon_travel": 0.4, "card_cash_rewards": 0.1},
        1.0,
        0.7,
        0.3,
        0.92,
        0.04,
        0.06,
        _MID,
    ),
    IntentSpec(
        "retirement",
        COMPLEX,
        {"inv_rollover_ira": 0.35, "inv_traditional_ira": 0.25, "inv_roth_ira": 0.2, "inv_automated": 0.2},
        0.8,
        0.8,
        0.22,
        0.5,
        0.04,
        0.06,
        _OLDER,
    ),
    IntentSpec(
        "emergency_savings",
        SIMPLE,
        {"sav_high_yield": 0.5, "cd_12m": 0.2, "sav_money_market": 0.2, "chk_everyday": 0.1},
        1.0,
        0.7,
        0.36,
        0.92,
        0.045,
        0.05,
        _ANY,
    ),
    IntentSpec(
        "small_business",
        MEDIUM,
        {"biz_checking": 0.4, "biz_sba_loan": 0.25, "biz_card": 0.2, "biz_merchant": 0.15},
        0.7,
        0.35,
        0.26,
        0.55,
        0.05,
        0.06,
        _MID,
    ),
    IntentSpec(
        "car_purchase", MEDIUM, {"loan_auto": 0.6, "loan_auto_refi": 0.15, "ins_auto": 0.25}, 0.9, 0.6, 0.3, 0.85, 0.04, 0.06, _PRIME
    ),
    IntentSpec(
        "student_loans",
        MEDIUM,
        {"loan_student": 0.45, "loan_student_refi": 0.3, "chk_student": 0.15, "card_student": 0.1},
        0.7,
        0.35,
        0.3,
        0.9,
        0.04,
        0.07,
        _YOUNG,
    ),
    IntentSpec(
        "starting_to_invest",
        MEDIUM,
        {"inv_self_directed": 0.4, "inv_automated": 0.35, "inv_roth_ira": 0.25},
        0.9,
        0.7,
        0.3,
        0.9,
        0.05,
        0.06,
        _PRIME,
    ),
    IntentSpec(
        "account_servicing",
        SERVICING,
        {"chk_everyday": 0.4, "chk_premier": 0.3, "sav_high_yield": 0.3},
        0.08,
        2.6,
        0.03,
        0.8,
        0.12,
        0.12,
        _ANY,
    ),
    IntentSpec("fraud_concern", SERVICING, {"ins_identity": 1.0}, 0.12, 1.0, 0.1, 0.8, 0.08, 0.12, _ANY),
)
assert tuple(spec.name for spec in INTENTS) == INTENT_IDS

# Intents whose web sessions are short help/security visits that mostly end in a login.
SERVICING_INTENTS = (INTENT_INDEX["account_servicing"], INTENT_INDEX["fraud_concern"])

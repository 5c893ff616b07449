"""The human population: prospects and existing customers, each with one or two latent intents.

Everything about a person that does not depend on time is drawn here: intents, segment, age
band, devices, what they hold at the start of the window, the product each intent is after,
and whether (and through which channel) they will open it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.events.contract import CUSTOMER_SEGMENTS
from clickintent.synth.intents import INTENT_INDEX, INTENTS, N_INTENTS
from clickintent.synth.products import PRODUCT_INDEX, PRODUCTS
from clickintent.synth.sampling import RowSampler, categorical

CUSTOMER_SHARE = 0.45  # of people in the window, share who are already customers
SECOND_INTENT_SHARE = 0.35
APP_ONLY_SHARE = 0.25  # of existing customers: never visit the public site in the window
APP_ADOPTION = 0.8  # of customers: have the app
DEVICES = ("desktop", "mobile", "tablet", "other")  # contract order
_WEB_DEVICE_WEIGHTS = (0.38, 0.55, 0.07, 0.0)
SEGMENT = {name: i for i, name in enumerate(CUSTOMER_SEGMENTS)}

# Channels through which a visitor's target product is opened.
CHANNEL_WEB, CHANNEL_BRANCH, CHANNEL_PHONE = 0, 1, 2


@dataclass
class Visitors:
    gidx: np.ndarray  # global person index (the counter behind their ids)
    is_customer: np.ndarray  # bool: a customer at the start of the window
    segment: np.ndarray  # int8 into CUSTOMER_SEGMENTS
    age_band: np.ndarray  # int8 into AGE_BANDS
    tenure_months: np.ndarray  # at window start (customers)
    intent1: np.ndarray  # primary latent intent
    intent2: np.ndarray  # secondary latent intent, -1 if none
    target1: np.ndarray  # product each intent is after
    target2: np.ndarray
    web_device: np.ndarray
    app_device: np.ndarray
    holdings: np.ndarray  # uint64 bit mask of products held at window start
    balance: np.ndarray  # deposit + investment balance at window start, USD
    has_app: np.ndarray
    web_active: np.ndarray  # visits the public site in the window
    converts1: np.ndarray  # will open target1
    channel1: np.ndarray  # CHANNEL_*
    converts2: np.ndarray  # will open target2 (always on the web)
    incident_us: np.ndarray  # fraud-concern customers: when the scare happens

    def __len__(self) -> int:
        return len(self.gidx)


def _intent_weights(customer: bool) -> np.ndarray:
    return np.array([spec.customer_weight if customer else spec.prospect_weight for spec in INTENTS])


def _target_sampler() -> RowSampler:
    weights = np.zeros((N_INTENTS, len(PRODUCTS)))
    for i, spec in enumerate(INTENTS):
        for product_id, weight in spec.products.items():
            weights[i, PRODUCT_INDEX[product_id]] = weight
    return RowSampler(weights)


def _draw_intents(rng: np.random.Generator, is_customer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(is_customer)
    rows = RowSampler(np.stack([_intent_weights(False), _intent_weights(True)]))
    primary = rows.draw(rng, is_customer.astype(np.int64))
    # A second, different intent for some: redraw while equal, then shift any leftover clash.
    secondary = rows.draw(rng, is_customer.astype(np.int64))
    for _ in range(3):
        clash = secondary == primary
        secondary[clash] = rows.draw(rng, is_customer[clash].astype(np.int64))
    clash = secondary == primary
    secondary[clash] = (primary[clash] + 1 + rng.integers(0, N_INTENTS - 1, clash.sum())) % N_INTENTS
    secondary = np.where(rng.random(n) < SECOND_INTENT_SHARE, secondary, -1)
    return primary.astype(np.int8), secondary.astype(np.int8)


def _has_intent(intent1: np.ndarray, intent2: np.ndarray, name: str) -> np.ndarray:
    code = INTENT_INDEX[name]
    return (intent1 == code) | (intent2 == code)


def _segments(rng: np.random.Generator, age: np.ndarray, intent1: np.ndarray, intent2: np.ndarray) -> np.ndarray:
    n = len(age)
    segment = categorical(rng, n, (0.6, 0.3, 0.1, 0.0, 0.0))  # mass, emerging_affluent, affluent
    older = age >= 3
    segment = np.where(older & (rng.random(n) < 0.15), SEGMENT["affluent"], segment)
    student = (age == 0) & (rng.random(n) < 0.6)
    segment = np.where(student, SEGMENT["student"], segment)
    wealth = _has_intent(intent1, intent2, "retirement") | _has_intent(intent1, intent2, "starting_to_invest")
    segment = np.where(wealth & (rng.random(n) < 0.3), SEGMENT["affluent"], segment)
    business = _has_intent(intent1, intent2, "small_business") & (rng.random(n) < 0.6)
    return np.where(business, SEGMENT["small_business"], segment).astype(np.int8)


# Probability of holding each product at window start, by segment (customers only).
_HOLDING_PROB = {
    "chk_everyday": (0.85, 0.6, 0.25, 0.3, 0.4),
    "chk_premier": (0.02, 0.3, 0.7, 0.0, 0.05),
    "chk_student": (0.0, 0.0, 0.0, 0.7, 0.0),
    "sav_high_yield": (0.35, 0.55, 0.6, 0.25, 0.3),
    "sav_money_market": (0.02, 0.12, 0.35, 0.0, 0.1),
    "cd_12m": (0.03, 0.1, 0.2, 0.0, 0.05),
    "card_cash_rewards": (0.28, 0.35, 0.3, 0.05, 0.15),
    "card_voyager_travel": (0.04, 0.12, 0.25, 0.0, 0.05),
    "card_secured": (0.04, 0.0, 0.0, 0.08, 0.0),
    "card_balance_transfer": (0.06, 0.05, 0.02, 0.0, 0.02),
    "card_student": (0.0, 0.0, 0.0, 0.35, 0.0),
    "loan_personal": (0.05, 0.04, 0.01, 0.0, 0.03),
    "loan_auto": (0.1, 0.12, 0.06, 0.02, 0.08),
    "loan_student": (0.02, 0.03, 0.0, 0.25, 0.0),
    "mtg_30y_fixed": (0.08, 0.2, 0.25, 0.0, 0.1),
    "mtg_15y_fixed": (0.01, 0.05, 0.12, 0.0, 0.02),
    "home_heloc": (0.02, 0.05, 0.08, 0.0, 0.03),
    "inv_self_directed": (0.03, 0.12, 0.35, 0.02, 0.05),
    "inv_automated": (0.03, 0.08, 0.1, 0.02, 0.02),
    "inv_roth_ira": (0.03, 0.1, 0.2, 0.01, 0.05),
    "inv_traditional_ira": (0.02, 0.08, 0.25, 0.0, 0.04),
    "ins_auto": (0.04, 0.06, 0.06, 0.0, 0.03),
    "ins_home": (0.02, 0.05, 0.1, 0.0, 0.02),
    "ins_identity": (0.02, 0.03, 0.04, 0.0, 0.02),
    "biz_checking": (0.0, 0.0, 0.0, 0.0, 0.9),
    "biz_card": (0.0, 0.0, 0.0, 0.0, 0.3),
    "biz_merchant": (0.0, 0.0, 0.0, 0.0, 0.15),
}
_BALANCE_MEDIAN = (3_000.0, 25_000.0, 150_000.0, 800.0, 30_000.0)  # per segment


def _initial_holdings(
    rng: np.random.Generator, segment: np.ndarray, intent1: np.ndarray, intent2: np.ndarray, is_customer: np.ndarray
) -> np.ndarray:
    n = len(segment)
    probs = np.zeros((n, len(PRODUCTS)))
    for product_id, by_segment in _HOLDING_PROB.items():
        probs[:, PRODUCT_INDEX[product_id]] = np.asarray(by_segment)[segment]
    # Refinancers mostly have a mortgage to refinance; servicing intents mostly hold checking.
    refinancing = _has_intent(intent1, intent2, "refinancing")
    probs[refinancing, PRODUCT_INDEX["mtg_30y_fixed"]] = 0.55
    held = (rng.random(probs.shape) < probs) & is_customer[:, None]
    # Every customer has at least one deposit account.
    deposit_family = np.array([p.family == "deposits" for p in PRODUCTS])
    no_deposit = is_customer & ~held[:, deposit_family].any(axis=1)
    fallback = np.where(
        segment == SEGMENT["small_business"],
        PRODUCT_INDEX["biz_checking"],
        np.where(segment == SEGMENT["student"], PRODUCT_INDEX["chk_student"], PRODUCT_INDEX["chk_everyday"]),
    )
    held[np.flatnonzero(no_deposit), fallback[no_deposit]] = True
    bits = np.left_shift(np.uint64(1), np.arange(len(PRODUCTS), dtype=np.uint64))
    return (held.astype(np.uint64) * bits).sum(axis=1, dtype=np.uint64)


def draw_visitors(rng: np.random.Generator, n: int, first_gidx: int, window_us: int) -> Visitors:
    gidx = np.arange(first_gidx, first_gidx + n, dtype=np.int64)
    is_customer = rng.random(n) < CUSTOMER_SHARE
    intent1, intent2 = _draw_intents(rng, is_customer)
    age_rows = RowSampler(np.array([spec.age_weights for spec in INTENTS]) + 1e-3)
    age = age_rows.draw(rng, intent1).astype(np.int8)
    segment = _segments(rng, age, intent1, intent2)
    targets = _target_sampler()
    target1 = targets.draw(rng, intent1)
    target2 = np.where(intent2 >= 0, targets.draw(rng, np.maximum(intent2, 0)), -1)
    holdings = _initial_holdings(rng, segment, intent1, intent2, is_customer)
    balance = np.where(is_customer, np.asarray(_BALANCE_MEDIAN)[segment] * np.exp(1.0 * rng.standard_normal(n)), 0.0)
    max_tenure = np.array([36, 120, 240, 360, 480, 600])[age]
    tenure = np.where(is_customer, rng.integers(1, 10**6, n) % max_tenure, 0)
    convert_prob = np.array([spec.convert_prob for spec in INTENTS])
    web_share = np.array([spec.web_share for spec in INTENTS])
    converts1 = rng.random(n) < convert_prob[intent1]
    channel1 = np.where(rng.random(n) < web_share[intent1], CHANNEL_WEB, np.where(rng.random(n) < 0.5, CHANNEL_BRANCH, CHANNEL_PHONE))
    converts2 = (intent2 >= 0) & (rng.random(n) < 0.5 * convert_prob[np.maximum(intent2, 0)])
    return Visitors(
        gidx=gidx,
        is_customer=is_customer,
        segment=segment,
        age_band=age,
        tenure_months=tenure.astype(np.int64),
        intent1=intent1,
        intent2=intent2,
        target1=target1.astype(np.int64),
        target2=target2.astype(np.int64),
        web_device=categorical(rng, n, _WEB_DEVICE_WEIGHTS).astype(np.int8),
        app_device=np.where(rng.random(n) < 0.9, DEVICES.index("mobile"), DEVICES.index("tablet")).astype(np.int8),
        holdings=holdings,
        balance=balance,
        has_app=rng.random(n) < APP_ADOPTION,
        web_active=~(is_customer & (rng.random(n) < APP_ONLY_SHARE)),
        converts1=converts1,
        channel1=channel1.astype(np.int8),
        converts2=converts2,
        incident_us=rng.integers(0, window_us, n),
    )


def holds(holdings: np.ndarray, product: np.ndarray) -> np.ndarray:
    """Whether each holdings mask includes the matching product index."""
    return ((holdings >> product.astype(np.uint64)) & np.uint64(1)).astype(bool)

"""Product openings: after a web application, after an app tile journey, or in a branch or by phone.

Delays follow the product (decision_hours): a savings account opens within the hour, a card
within days, a mortgage two to six weeks after the application. A prospect becomes a customer
(gets a customer_id) at their first opening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth.behaviour import ET
from clickintent.synth.context import ChunkContext
from clickintent.synth.products import LAUNCH_REPLACEMENT, LAUNCH_US, LAUNCHED_PRODUCT, PRODUCTS
from clickintent.synth.timeline import DAY, HOUR, SECOND, WINDOW_US
from clickintent.synth.visitors import CHANNEL_BRANCH, CHANNEL_WEB, Visitors, holds

# Contract order of CONVERSION_CHANNELS.
CH_WEB, CH_APP, CH_BRANCH, CH_PHONE = 0, 1, 2, 3
NEVER = np.iinfo(np.int64).max

_APPROVAL = np.array([p.approval_rate for p in PRODUCTS])
_DECISION_LOW = np.array([p.decision_hours[0] for p in PRODUCTS])
_DECISION_HIGH = np.array([p.decision_hours[1] for p in PRODUCTS])


@dataclass
class Conversions:
    person: np.ndarray  # local person index
    product: np.ndarray
    ts: np.ndarray
    channel: np.ndarray  # CH_*

    def __len__(self) -> int:
        return len(self.ts)


def decision_delay(rng: np.random.Generator, product: np.ndarray) -> np.ndarray:
    """Application to opening, log-uniform within the product's range, in microseconds."""
    low, high = np.log(_DECISION_LOW[product]), np.log(_DECISION_HIGH[product])
    return (np.exp(low + rng.random(len(product)) * (high - low)) * HOUR).astype(np.int64)


def from_applications(
    rng: np.random.Generator, person: np.ndarray, product: np.ndarray, submitted: np.ndarray, channel: int
) -> Conversions:
    """Approved applications, opened after the decision delay."""
    approved = rng.random(len(product)) < _APPROVAL[product]
    person, product, submitted = person[approved], product[approved], submitted[approved]
    return Conversions(person, product, submitted + decision_delay(rng, product), np.full(len(person), channel, dtype=np.int8))


def web_and_offline(ctx: ChunkContext, people: Visitors, web) -> Conversions:
    rng, catalog = ctx.rng, ctx.catalog
    submits = np.flatnonzero(web.ev_type == ET["form_submit"])
    online = from_applications(
        rng, web.person[web.ev_session[submits]], catalog.product[web.ev_page[submits]].astype(np.int64), web.ev_ts[submits], CH_WEB
    )

    # Offline openers research on the web, then apply in a branch or by phone days later.
    offline = people.converts1 & (people.channel1 != CHANNEL_WEB)
    research_end = np.full(len(people), -1, dtype=np.int64)
    driven = web.intent == people.intent1[web.person]
    np.maximum.at(research_end, web.person[driven], web.end[driven])
    who = np.flatnonzero(offline & (research_end >= 0))
    product = people.target1[who]
    visit = research_end[who] + (rng.random(len(who)) * 7 * DAY).astype(np.int64)
    product = np.where((product == LAUNCHED_PRODUCT) & (visit < LAUNCH_US), LAUNCH_REPLACEMENT, product)
    channel = np.where(people.channel1[who] == CHANNEL_BRANCH, CH_BRANCH, CH_PHONE).astype(np.int8)
    approved = rng.random(len(who)) < _APPROVAL[product]
    branch = Conversions(who[approved], product[approved], (visit + decision_delay(rng, product))[approved], channel[approved])
    return merge(people, [online, branch])


def merge(people: Visitors, parts: list[Conversions]) -> Conversions:
    """All openings in time order, without products already held or opened, and inside the window."""
    person = np.concatenate([p.person for p in parts])
    product = np.concatenate([p.product for p in parts])
    ts = np.concatenate([p.ts for p in parts])
    channel = np.concatenate([p.channel for p in parts])
    fresh = ~holds(people.holdings[person], product) & (ts < WINDOW_US)
    person, product, ts, channel = person[fresh], product[fresh], ts[fresh], channel[fresh]
    order = np.lexsort((ts, product, person))
    person, product, ts, channel = person[order], product[order], ts[order], channel[order]
    first = np.ones(len(person), dtype=bool)
    first[1:] = (person[1:] != person[:-1]) | (product[1:] != product[:-1])
    person, product, ts, channel = person[first], product[first], ts[first], channel[first]
    by_time = np.lexsort((product, person, ts))
    return Conversions(person[by_time], product[by_time], ts[by_time], channel[by_time])


def customer_since(people: Visitors, conversions: Conversions) -> np.ndarray:
    """When each person became a customer: -1 if before the window, NEVER if not in it."""
    since = np.where(people.is_customer, -1, NEVER).astype(np.int64)
    np.minimum.at(since, conversions.person, conversions.ts)
    return since


def held_at(people: Visitors, conversions: Conversions, person: np.ndarray, product: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Whether each person holds each product at each moment (held at start, or opened by then)."""
    held = holds(people.holdings[person], product)
    if len(conversions) == 0:
        return held
    # Keys in whole seconds so that (person, product, time) fits in int64.
    span = np.int64(WINDOW_US // SECOND + 1)
    n_products = len(PRODUCTS)
    keys = np.sort((conversions.person * n_products + conversions.product) * span + conversions.ts // SECOND)
    query = (person * n_products + product) * span + ts // SECOND
    position = np.searchsorted(keys, query, side="right")
    found = position > 0
    found[found] = keys[position[found] - 1] // span == query[found] // span
    return held | found

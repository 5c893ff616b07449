"""Web journeys: sessions on the public site driven by each visitor's latent intents.

Per visitor: a number of sessions spread over days or weeks (journeys), each driven by one of
their intents (or by nothing in particular), at a stage of that intent's journey (research ->
compare -> apply). Per session: page steps drawn for that intent and stage, with noise (the
homepage, generic pages, the visitor's other intent, anything), searches, calculators, and an
application form at the end of a journey. Customers' sessions sometimes end in a login.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth.behaviour import ET, MAX_DWELL_MS
from clickintent.synth.catalog import KIND
from clickintent.synth.context import ChunkContext
from clickintent.synth.intents import (
    APPLY,
    COMPARE,
    INTENT_INDEX,
    INTENTS,
    N_INTENTS,
    N_STAGES,
    NONE,
    RESEARCH,
    SERVICING_INTENTS,
)
from clickintent.synth.products import LAUNCH_US, PRODUCTS
from clickintent.synth.queries import NONE_ROW, PII_ROW
from clickintent.synth.sampling import (
    categorical,
    exclusive_cumsum_within,
    group_starts,
    index_within_group,
    push_apart,
    rank_within_keys,
)
from clickintent.synth.steps import RECIPE, expand, tool_recipe
from clickintent.synth.timeline import DAY, MINUTE, WEB_HOURLY, WINDOW_US, snap_to_day
from clickintent.synth.visitors import CHANNEL_WEB, Visitors

# Sessions of one cookie start at least this long after the previous one's last event. With
# the login tail (<= TAIL_ROOM) the inactivity between sessions stays above 45 minutes, so a
# 30-minute sessionization recovers them exactly.
WEB_MIN_GAP = 80 * MINUTE
TAIL_ROOM = 32 * MINUTE
EARLY_START_DAYS = 30  # journeys may have begun before the window (their early sessions are unseen)
SECOND_INTENT_SESSION_SHARE = 0.35
NONE_SESSION_SHARE = 0.05  # sessions no intent drove: casual browsing
CROSS_SECOND_INTENT = 0.12  # of steps: a page for the visitor's other intent
CROSS_RANDOM_INTENT = 0.04  # of steps: a page for some unrelated intent
TARGET_PAGE_SHARE = (0.08, 0.25, 0.35)  # by stage: the step is the target product's page
HOME_ENTRY_SHARE = 0.2
CLICK_SHARE = 0.12
ABANDON_SHARE = 0.2  # journeys that end with an unfinished application
PII_SEARCH_SHARE = 0.03
PII_SEARCH_SHARE_SERVICING = 0.06
STAGE_STEP_FACTOR = np.array([1.0, 1.15, 0.7])
FORM_DWELL_FACTOR_BY_COMPLEXITY = np.array([0.0, 0.6, 1.0, 2.0])  # multiplier on the form's dwell
LOGIN_SHARE = {"account_servicing": 0.75, "fraud_concern": 0.55}
LOGIN_SHARE_OTHER = 0.22
LOGIN_SHARE_NONE = 0.3
ONLINE_BANKING_PAGES_AFTER_LOGIN = (0.45, 0.3, 0.15, 0.1)  # 0, 1, 2, 3 pages
MAX_TAIL_DWELL_MS = 3 * 60 * 1000


@dataclass
class WebJourneys:
    person: np.ndarray  # local person index per session
    intent: np.ndarray  # driving intent per session (NONE for casual)
    stage: np.ndarray
    target: np.ndarray  # product the driving intent is after, -1 for casual
    start: np.ndarray
    end: np.ndarray  # last event ts
    source: np.ndarray  # entry source index
    intents_mask: np.ndarray
    ev_session: np.ndarray
    ev_ts: np.ndarray
    ev_type: np.ndarray
    ev_page: np.ndarray
    ev_query: np.ndarray
    ev_dwell: np.ndarray
    ev_auth: np.ndarray


def _journey_arrays() -> tuple[np.ndarray, ...]:
    base = np.array([s.journey.base_sessions for s in INTENTS])
    extra = np.array([s.journey.extra_sessions for s in INTENTS])
    gap = np.array([s.journey.gap_days_median for s in INTENTS])
    steps = np.array([s.journey.steps_mean for s in INTENTS] + [2.0])  # index NONE: casual
    return base, extra, gap, steps


def think_time_ms(rng: np.random.Generator, n: int) -> np.ndarray:
    """Time between finishing with a page and the next event: ~1.5 s, at most a minute."""
    return np.minimum(1500.0 * np.exp(0.6 * rng.standard_normal(n)), 60_000.0).astype(np.int64) + 200


def draw_queries(ctx: ChunkContext, rows: np.ndarray, servicing: np.ndarray) -> np.ndarray:
    rng = ctx.rng
    pii_share = np.where(servicing, PII_SEARCH_SHARE_SERVICING, PII_SEARCH_SHARE)
    rows = np.where(rng.random(len(rows)) < pii_share, PII_ROW, rows)
    return ctx.model.queries.draw(rng, rows).astype(np.int32)


def form_dwell_scale(ctx: ChunkContext, page: np.ndarray) -> np.ndarray:
    complexity = np.array([p.complexity for p in PRODUCTS])
    product = ctx.catalog.product[page]
    return np.where(product >= 0, FORM_DWELL_FACTOR_BY_COMPLEXITY[complexity[np.maximum(product, 0)]], 1.0)


def generate_web(ctx: ChunkContext, people: Visitors) -> WebJourneys:
    rng, catalog, behaviour = ctx.rng, ctx.catalog, ctx.behaviour
    base, extra, gap_days, steps_mean = _journey_arrays()
    n_people = len(people)
    i1 = people.intent1.astype(np.int64)
    i2 = people.intent2.astype(np.int64)
    has2 = i2 >= 0

    # ---- when: sessions along each visitor's journey -------------------------------------
    n_sessions = base[i1] + rng.poisson(extra[i1]) + has2 * rng.poisson(1.2, n_people)
    n_sessions = np.where(people.web_active, n_sessions, 0)
    person = np.repeat(np.arange(n_people, dtype=np.int64), n_sessions)
    first = index_within_group(n_sessions) == 0
    gaps = (np.exp(np.log(gap_days[i1[person]]) + rng.standard_normal(len(person))) * DAY).astype(np.int64)
    gaps[first] = 0
    journey_start = rng.integers(-EARLY_START_DAYS * DAY, WINDOW_US, n_people)
    moments = journey_start[person] + exclusive_cumsum_within(gaps, n_sessions) + gaps
    moments = snap_to_day(rng, moments, WEB_HOURLY)
    moments = moments[np.lexsort((moments, person))]  # time order within each visitor

    # ---- why: the driving intent and its journey stage -----------------------------------
    n = len(person)
    intent = np.where(has2[person] & (rng.random(n) < SECOND_INTENT_SESSION_SHARE), i2[person], i1[person])
    intent = np.where(rng.random(n) < NONE_SESSION_SHARE, NONE, intent)
    rank, count = rank_within_keys(person * 16 + intent)
    last = rank == count - 1
    servicing = np.isin(intent, SERVICING_INTENTS)
    casual = intent == NONE
    wants1 = people.converts1 & (people.channel1 == CHANNEL_WEB)
    applies = last & ~casual & (((intent == i1[person]) & wants1[person]) | ((intent == i2[person]) & people.converts2[person]))
    abandons = last & ~casual & ~servicing & ~applies & (rng.random(n) < ABANDON_SHARE)
    stage = np.where(applies, APPLY, np.where(2 * rank < count, RESEARCH, COMPARE))
    stage = np.where(servicing | casual, RESEARCH, stage)
    target = np.where(intent == i1[person], people.target1[person], people.target2[person])
    target = np.where(casual, -1, target)
    other = np.where(intent == i1[person], i2[person], i1[person])

    keep = (moments >= 0) & (moments < WINDOW_US - TAIL_ROOM)
    person, moments, intent, stage, target, other = (a[keep] for a in (person, moments, intent, stage, target, other))
    applies, abandons, servicing = applies[keep], abandons[keep], servicing[keep]
    n = len(person)

    # ---- what: page steps ------------------------------------------------------------------
    mean_steps = steps_mean[intent] * STAGE_STEP_FACTOR[stage]
    n_steps = 1 + rng.negative_binomial(2, 2.0 / (2.0 + mean_steps))
    has_form = applies | abandons
    n_steps = n_steps + has_form
    st_session = np.repeat(np.arange(n, dtype=np.int64), n_steps)
    st_k = index_within_group(n_steps)
    n_st = len(st_session)
    st_intent = intent[st_session]
    u = rng.random(n_st)
    st_other = other[st_session]
    to_other = (u < CROSS_SECOND_INTENT) & (st_other >= 0) & (st_intent != NONE)
    st_intent = np.where(to_other, st_other, st_intent)
    to_random = (u > 1 - CROSS_RANDOM_INTENT) & (st_intent != NONE)
    st_intent = np.where(to_random, rng.integers(0, N_INTENTS, n_st), st_intent)
    st_stage = stage[st_session]
    rows = np.where(st_intent == NONE, N_INTENTS * N_STAGES, st_intent * N_STAGES + st_stage)
    page = behaviour.web_pages.draw(rng, rows)
    st_target = target[st_session]
    to_target = (st_intent == intent[st_session]) & (st_target >= 0) & (rng.random(n_st) < np.asarray(TARGET_PAGE_SHARE)[st_stage])
    page[to_target] = catalog.product_page[st_target[to_target]]
    entry_home = (st_k == 0) & (rng.random(n_st) < HOME_ENTRY_SHARE)
    page[entry_home] = catalog.special["home"]
    form_step = has_form[st_session] & (st_k == n_steps[st_session] - 1)
    page[form_step] = catalog.apply_page[st_target[form_step]]

    kind = catalog.kind[page]
    recipe = np.where(rng.random(n_st) < CLICK_SHARE, RECIPE["view_click"], RECIPE["view"])
    recipe = np.where(kind == KIND["search"], RECIPE["search"], recipe)
    recipe = np.where(kind == KIND["tool"], tool_recipe(1 + rng.poisson(1.3, n_st)), recipe)
    recipe = np.where(form_step, np.where(applies[st_session], RECIPE["apply_submit"], RECIPE["apply_abandon"]), recipe)

    intents_mask = np.where(intent == NONE, 0, np.left_shift(1, np.minimum(intent, N_INTENTS - 1))).astype(np.int32)
    visited_other = np.bincount(st_session[to_other], minlength=n) > 0
    intents_mask |= np.where(visited_other, np.left_shift(1, np.maximum(other, 0)), 0).astype(np.int32)

    # ---- events ------------------------------------------------------------------------------
    ev_step, ev_type = expand(recipe)
    ev_session = st_session[ev_step]
    ev_page = page[ev_step].astype(np.int32)
    ev_dwell = behaviour.dwell.draw(rng, ev_type, catalog.kind[ev_page])
    is_form = ev_type == ET["form_start"]
    ev_dwell[is_form] = np.minimum(ev_dwell[is_form] * form_dwell_scale(ctx, ev_page[is_form]), MAX_DWELL_MS).astype(np.int64)
    ev_query = np.full(len(ev_type), -1, dtype=np.int32)
    searches = np.flatnonzero(ev_type == ET["search"])
    step_intent = st_intent[ev_step[searches]]
    ev_query[searches] = draw_queries(ctx, np.where(step_intent == NONE, NONE_ROW, step_intent), np.isin(step_intent, SERVICING_INTENTS))
    gap_ms = ev_dwell + think_time_ms(rng, len(ev_type))
    n_events = np.bincount(ev_session, minlength=n)
    offset_us = exclusive_cumsum_within(gap_ms, n_events) * 1000
    last_event = group_starts(n_events) + n_events - 1
    duration = offset_us[last_event]

    start = push_apart(person, moments, duration, WEB_MIN_GAP)
    inside = start + duration + TAIL_ROOM < WINDOW_US
    kept_sessions = np.flatnonzero(inside)
    renumber = np.full(n, -1, dtype=np.int64)
    renumber[kept_sessions] = np.arange(len(kept_sessions))
    kept_events = inside[ev_session]
    ev_session = renumber[ev_session[kept_events]]
    ev_ts = start[kept_sessions][ev_session] + offset_us[kept_events]
    ev_page = ev_page[kept_events]
    prelaunch = ev_ts < LAUNCH_US
    ev_page[prelaunch] = catalog.prelaunch_page[ev_page[prelaunch]]

    entry_page = ev_page[group_starts(n_events[kept_sessions])]
    source_rows = np.where(entry_page == catalog.special["home"], N_INTENTS + 1, intent[kept_sessions])
    return WebJourneys(
        person=person[kept_sessions],
        intent=intent[kept_sessions],
        stage=stage[kept_sessions],
        target=target[kept_sessions],
        start=start[kept_sessions],
        end=start[kept_sessions] + duration[kept_sessions],
        source=behaviour.sources.draw(rng, source_rows).astype(np.int16),
        intents_mask=intents_mask[kept_sessions],
        ev_session=ev_session,
        ev_ts=ev_ts,
        ev_type=ev_type[kept_events],
        ev_page=ev_page,
        ev_query=ev_query[kept_events],
        ev_dwell=ev_dwell[kept_events],
        ev_auth=np.zeros(len(ev_ts), dtype=bool),
    )


def add_login_tails(ctx: ChunkContext, web: WebJourneys, customer_since: np.ndarray) -> WebJourneys:
    """End some customers' sessions with a login (and a few online-banking pages after it).

    customer_since: per local person, when they became a customer (negative: before the window;
    int64 max: never). Only the login event and what follows carry the customer_id.
    """
    rng, catalog, behaviour = ctx.rng, ctx.catalog, ctx.behaviour
    n = len(web.start)
    share = np.full(n, LOGIN_SHARE_OTHER)
    for name, value in LOGIN_SHARE.items():
        share[web.intent == INTENT_INDEX[name]] = value
    share[web.intent == NONE] = LOGIN_SHARE_NONE
    logs_in = (customer_since[web.person] <= web.start) & (rng.random(n) < share)
    sessions = np.flatnonzero(logs_in)
    pages_after = categorical(rng, len(sessions), ONLINE_BANKING_PAGES_AFTER_LOGIN)
    counts = 1 + pages_after
    t_session = np.repeat(sessions, counts)
    within = index_within_group(counts)
    is_login = within == 0
    t_type = np.where(is_login, ET["login"], ET["page_view"]).astype(np.int8)
    t_page = np.where(
        is_login, catalog.special["login"], catalog.online_banking[rng.integers(0, len(catalog.online_banking), len(t_session))]
    ).astype(np.int32)
    t_dwell = np.minimum(behaviour.dwell.draw(rng, t_type, catalog.kind[t_page]), MAX_TAIL_DWELL_MS)

    # Events are generated grouped by session in time order, so a session's last event is the
    # last of its run.
    n_events = np.bincount(web.ev_session, minlength=n)
    last_event = group_starts(n_events) + n_events - 1
    last_dwell = web.ev_dwell[last_event]
    previous_dwell = np.concatenate([[0], t_dwell[:-1]])
    gap_ms = np.where(is_login, last_dwell[t_session], previous_dwell) + think_time_ms(rng, len(t_session))
    t_ts = web.end[t_session] + (exclusive_cumsum_within(gap_ms, counts) + gap_ms) * 1000

    end = web.end.copy()
    np.maximum.at(end, t_session, t_ts)
    return WebJourneys(
        person=web.person,
        intent=web.intent,
        stage=web.stage,
        target=web.target,
        start=web.start,
        end=end,
        source=web.source,
        intents_mask=web.intents_mask,
        ev_session=np.concatenate([web.ev_session, t_session]),
        ev_ts=np.concatenate([web.ev_ts, t_ts]),
        ev_type=np.concatenate([web.ev_type, t_type]),
        ev_page=np.concatenate([web.ev_page, t_page]),
        ev_query=np.concatenate([web.ev_query, np.full(len(t_ts), -1, dtype=np.int32)]),
        ev_dwell=np.concatenate([web.ev_dwell, t_dwell]),
        ev_auth=np.concatenate([web.ev_auth, np.ones(len(t_ts), dtype=bool)]),
    )

"""App sessions of customers: servicing screens, homepage tile impressions, tile clicks, app openings.

Each app session starts on the homepage, which shows four product tiles chosen by the bank's
existing rule (popularity with some rotation; it knows nothing of intents). A tile is clicked
with probability position bias x relevance, where relevance comes from the customer's latent
intents, whether they researched that product family on the web in the last 14 days, and
whether they already hold the product. The customer scans top-down and follows the first
tile that appeals (at most one click per impression). A click opens /app/offers/<product_id>;
some go on to apply in the app.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth.behaviour import ET, MAX_DWELL_MS
from clickintent.synth.catalog import KIND
from clickintent.synth.context import ChunkContext
from clickintent.synth.conversions import CH_APP, Conversions, from_applications, held_at
from clickintent.synth.intents import INTENT_INDEX, INTENTS
from clickintent.synth.products import LAUNCH_US, LAUNCHED_PRODUCT, PRODUCTS
from clickintent.synth.queries import PII_ROW
from clickintent.synth.sampling import exclusive_cumsum_within, group_starts, index_within_group, push_apart
from clickintent.synth.steps import RECIPE, expand
from clickintent.synth.timeline import APP_HOURLY, DAY, HOUR, SECOND, WINDOW_US, snap_to_day
from clickintent.synth.visitors import Visitors
from clickintent.synth.web import WebJourneys, form_dwell_scale, think_time_ms

TILES = 4
POSITION_BIAS = 1.0 / np.arange(1, TILES + 1) ** 0.8
APP_MIN_GAP = 60 * 60 * SECOND
DEFAULT_APP_RATE = 0.04  # sessions per day
RESEARCH_WINDOW = 14 * DAY
# Relevance of a tile: base + intent affinity + recent web research; held products rarely appeal.
BASE_RELEVANCE = 0.04
INTENT_RELEVANCE = 0.30
RESEARCH_RELEVANCE = 0.20
HELD_FACTOR = 0.08
INTENT_SESSION_SHARE = 0.3  # app sessions about a latent intent; the rest are routine servicing
FRAUD_BURST_SHARE = 0.5
HOLDING_SCREEN_SHARE = 0.25
SCREEN_CLICK_SHARE = 0.15
APP_PII_SEARCH_SHARE = 0.05
SUBMIT_SHARE = 0.65

AS, FC = INTENT_INDEX["account_servicing"], INTENT_INDEX["fraud_concern"]
_FAMILIES = sorted({p.family for p in PRODUCTS})
PRODUCT_FAMILY = np.array([_FAMILIES.index(p.family) for p in PRODUCTS])
COMPLEXITY = np.array([p.complexity for p in PRODUCTS])
POPULARITY = np.array([p.popularity for p in PRODUCTS])


@dataclass
class AppActivity:
    person: np.ndarray  # per session
    intent: np.ndarray
    start: np.ndarray
    end: np.ndarray
    ev_session: np.ndarray
    ev_ts: np.ndarray
    ev_type: np.ndarray
    ev_page: np.ndarray
    ev_query: np.ndarray
    ev_dwell: np.ndarray
    # tile impressions: one per session, TILES rows each
    tile_session: np.ndarray
    tile_position: np.ndarray
    tile_product: np.ndarray
    tile_clicked: np.ndarray
    conversions: Conversions


def researched_recently(web: WebJourneys, person: np.ndarray, family: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Whether the person had a web session about this product family in the RESEARCH_WINDOW before ts."""
    about = web.target >= 0
    span = np.int64(WINDOW_US // SECOND + 1)
    n_families = len(_FAMILIES)
    keys = np.sort((web.person[about] * n_families + PRODUCT_FAMILY[web.target[about]]) * span + web.start[about] // SECOND)
    query = (person * n_families + family) * span + ts // SECOND
    position = np.searchsorted(keys, query, side="right")
    found = position > 0
    previous = keys[np.maximum(position - 1, 0)]
    same = previous // span == query // span
    recent = previous % span >= (ts - RESEARCH_WINDOW) // SECOND
    return found & same & recent


def _session_times(ctx: ChunkContext, people: Visitors, since: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = ctx.rng
    n_people = len(people)
    rate = np.array([s.app_rate_per_day for s in INTENTS])
    i1 = people.intent1.astype(np.int64)
    i2 = people.intent2.astype(np.int64)
    per_day = np.maximum(np.maximum(rate[i1], np.where(i2 >= 0, rate[np.maximum(i2, 0)], 0.0)), DEFAULT_APP_RATE)
    eligible = people.has_app & (since < WINDOW_US)
    onboarding = np.where(since < 0, 0, (rng.random(n_people) * 48 * HOUR).astype(np.int64))
    active_from = np.where(eligible, np.maximum(since, 0) + onboarding, WINDOW_US)
    active_days = np.maximum(WINDOW_US - active_from, 0) / DAY
    count = np.where(eligible, rng.poisson(per_day * active_days), 0)
    person = np.repeat(np.arange(n_people, dtype=np.int64), count)
    n = len(person)
    lo = active_from[person]
    moments = lo + (rng.random(n) * (WINDOW_US - lo)).astype(np.int64)
    fraud = (i1[person] == FC) | (i2[person] == FC)
    burst = fraud & (rng.random(n) < FRAUD_BURST_SHARE)
    incident = np.maximum(people.incident_us[person], lo)
    moments = np.where(burst, incident + (rng.exponential(2.0, n) * DAY).astype(np.int64), moments)
    moments = np.maximum(snap_to_day(rng, moments, APP_HOURLY), lo)
    keep = moments < WINDOW_US
    person, moments, burst = person[keep], moments[keep], burst[keep]
    order = np.lexsort((moments, person))
    return person[order], moments[order], burst[order]


def generate_app(ctx: ChunkContext, people: Visitors, web: WebJourneys, conversions: Conversions, since: np.ndarray) -> AppActivity:
    rng, catalog, behaviour = ctx.rng, ctx.catalog, ctx.behaviour
    person, moments, burst = _session_times(ctx, people, since)
    n = len(person)
    i1 = people.intent1.astype(np.int64)[person]
    i2 = people.intent2.astype(np.int64)[person]

    # ---- why: routine servicing, a latent intent, or a fraud scare ---------------------------
    chosen = np.where((i2 >= 0) & (rng.random(n) < 0.5), i2, i1)
    intent = np.where(rng.random(n) < INTENT_SESSION_SHARE, chosen, AS)
    intent = np.where(burst, FC, intent)

    # ---- homepage tiles: the existing popularity rule ------------------------------------------
    keys = np.log(POPULARITY)[None, :] + rng.gumbel(size=(n, len(PRODUCTS)))
    keys[moments < LAUNCH_US, LAUNCHED_PRODUCT] = -np.inf
    top = np.argpartition(-keys, TILES - 1, axis=1)[:, :TILES]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1), axis=1)
    tile_session = np.repeat(np.arange(n, dtype=np.int64), TILES)
    tile_position = np.tile(np.arange(1, TILES + 1), n)
    tile_product = top.reshape(-1)
    tile_person = person[tile_session]
    tile_ts = moments[tile_session]

    affinity = behaviour.affinity
    ti1, ti2 = i1[tile_session], i2[tile_session]
    intent_fit = np.maximum(affinity[ti1, tile_product], np.where(ti2 >= 0, affinity[np.maximum(ti2, 0), tile_product], 0.0))
    researched = researched_recently(web, tile_person, PRODUCT_FAMILY[tile_product], tile_ts)
    held = held_at(people, conversions, tile_person, tile_product, tile_ts)
    relevance = BASE_RELEVANCE + INTENT_RELEVANCE * intent_fit + RESEARCH_RELEVANCE * researched
    relevance = np.where(held, relevance * HELD_FACTOR, relevance)
    appeals = (rng.random(len(tile_product)) < POSITION_BIAS[tile_position - 1] * relevance).reshape(n, TILES)
    clicked_slot = np.where(appeals.any(axis=1), appeals.argmax(axis=1), -1)
    tile_clicked = np.zeros((n, TILES), dtype=bool)
    clicked = np.flatnonzero(clicked_slot >= 0)
    tile_clicked[clicked, clicked_slot[clicked]] = True
    tile_clicked = tile_clicked.reshape(-1)

    click_product = np.full(n, -1, dtype=np.int64)
    click_product[clicked] = top[clicked, clicked_slot[clicked]]
    fit = intent_fit.reshape(n, TILES)[clicked, clicked_slot[clicked]]
    recent = researched.reshape(n, TILES)[clicked, clicked_slot[clicked]]
    was_held = held.reshape(n, TILES)[clicked, clicked_slot[clicked]]
    start_share = np.where(was_held, 0.0, 0.03 + 0.35 * fit + 0.2 * recent)
    start_share = np.where(COMPLEXITY[click_product[clicked]] == 3, 0.5 * start_share, start_share)
    applies = np.zeros(n, dtype=bool)
    applies[clicked] = rng.random(len(clicked)) < start_share
    submits = applies & (rng.random(n) < SUBMIT_SHARE)

    # ---- steps: home, [offer], [application], servicing screens ------------------------------------
    n_screens = 1 + rng.negative_binomial(2, 2.0 / (2.0 + 3.0), n)
    n_steps = 1 + (click_product >= 0) + applies + n_screens
    st_session = np.repeat(np.arange(n, dtype=np.int64), n_steps)
    st_k = index_within_group(n_steps)
    n_st = len(st_session)
    page = ctx.behaviour.app_screens.draw(rng, intent[st_session])
    # Holdings drive servicing: a screen for a random product the customer holds.
    holdings = people.holdings[person]
    held_bits = ((holdings[:, None] >> np.arange(len(PRODUCTS), dtype=np.uint64)[None, :]) & np.uint64(1)).astype(bool)
    pick = np.where(held_bits, rng.random(held_bits.shape), -1.0).argmax(axis=1)
    holding_screen = np.where(held_bits.any(axis=1), catalog.family_screen[pick], -1)
    use_holding = (rng.random(n_st) < HOLDING_SCREEN_SHARE) & (holding_screen[st_session] >= 0)
    page = np.where(use_holding, holding_screen[st_session], page)
    recipe = np.where(rng.random(n_st) < SCREEN_CLICK_SHARE, RECIPE["screen_click"], RECIPE["screen"])
    recipe = np.where(catalog.kind[page] == KIND["app_search"], RECIPE["search"], recipe)

    home_step = st_k == 0
    page[home_step] = catalog.special["app_home"]
    recipe[home_step] = RECIPE["screen"]
    has_click = click_product[st_session] >= 0
    offer_step = has_click & (st_k == 1)
    page[offer_step] = catalog.offer_screen[click_product[st_session[offer_step]]]
    recipe[offer_step] = RECIPE["tile_click"]
    apply_step = applies[st_session] & (st_k == 2)
    page[apply_step] = catalog.app_apply_screen[click_product[st_session[apply_step]]]
    recipe[apply_step] = np.where(submits[st_session[apply_step]], RECIPE["app_apply_submit"], RECIPE["app_apply_abandon"])

    # ---- events --------------------------------------------------------------------------------
    ev_step, ev_type = expand(recipe)
    ev_session = st_session[ev_step]
    ev_page = page[ev_step].astype(np.int32)
    ev_dwell = behaviour.dwell.draw(rng, ev_type, catalog.kind[ev_page])
    is_form = ev_type == ET["form_start"]
    ev_dwell[is_form] = np.minimum(ev_dwell[is_form] * form_dwell_scale(ctx, ev_page[is_form]), MAX_DWELL_MS).astype(np.int64)
    ev_query = np.full(len(ev_type), -1, dtype=np.int32)
    searches = np.flatnonzero(ev_type == ET["search"])
    search_intent = intent[ev_session[searches]]
    rows = np.where(np.isin(search_intent, (AS, FC)), search_intent, AS)
    rows = np.where(rng.random(len(searches)) < APP_PII_SEARCH_SHARE, PII_ROW, rows)
    ev_query[searches] = ctx.model.queries.draw(rng, rows)
    gap_ms = ev_dwell + think_time_ms(rng, len(ev_type))
    n_events = np.bincount(ev_session, minlength=n)
    offset_us = exclusive_cumsum_within(gap_ms, n_events) * 1000
    duration = offset_us[group_starts(n_events) + n_events - 1]

    start = push_apart(person, moments, duration, APP_MIN_GAP)
    inside = start + duration < WINDOW_US
    kept = np.flatnonzero(inside)
    renumber = np.full(n, -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    kept_events = inside[ev_session]
    ev_session_kept = renumber[ev_session[kept_events]]
    ev_ts = start[kept][ev_session_kept] + offset_us[kept_events]
    ev_page = ev_page[kept_events]
    prelaunch = ev_ts < LAUNCH_US
    ev_page[prelaunch] = catalog.prelaunch_page[ev_page[prelaunch]]
    ev_type = ev_type[kept_events]

    kept_tiles = inside[tile_session]
    submitted = np.flatnonzero(ev_type == ET["form_submit"])
    opened = from_applications(
        rng, person[kept][ev_session_kept[submitted]], catalog.product[ev_page[submitted]].astype(np.int64), ev_ts[submitted], CH_APP
    )
    return AppActivity(
        person=person[kept],
        intent=intent[kept],
        start=start[kept],
        end=start[kept] + duration[kept],
        ev_session=ev_session_kept,
        ev_ts=ev_ts,
        ev_type=ev_type,
        ev_page=ev_page,
        ev_query=ev_query[kept_events],
        ev_dwell=ev_dwell[kept_events],
        tile_session=renumber[tile_session[kept_tiles]],
        tile_position=tile_position[kept_tiles],
        tile_product=tile_product[kept_tiles],
        tile_clicked=tile_clicked[kept_tiles],
        conversions=opened,
    )

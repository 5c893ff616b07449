"""One chunk of people, generated end to end: web journeys, openings, logins, app, bots, snapshots.

A chunk is independent of every other (its own random stream, seeded by (seed, chunk index)),
so the world is the same whatever the machine, and memory stays bounded at any size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth import ids
from clickintent.synth.app import generate_app
from clickintent.synth.blocks import APP, BOT_INTENT, WEB, EventBlock, SessionBlock, concat_sessions
from clickintent.synth.bots import generate_bots
from clickintent.synth.context import ChunkContext, WorldModel
from clickintent.synth.conversions import Conversions, customer_since, merge, web_and_offline
from clickintent.synth.customers import Snapshots, snapshot_customers
from clickintent.synth.intents import N_INTENTS
from clickintent.synth.timeline import WINDOW_US
from clickintent.synth.visitors import Visitors, draw_visitors
from clickintent.synth.web import add_login_tails, generate_web

BOT_COUNTER_STRIDE = 1 << 20  # bot id counters: chunk index * stride + bot index


@dataclass
class ChunkResult:
    people: Visitors
    since: np.ndarray  # per person: when they became a customer (-1 before the window, int64 max never)
    sessions: SessionBlock  # person = global index
    events: EventBlock  # session = index into this chunk's sessions
    tile_session: np.ndarray  # app session (index into sessions) of each tile
    tile_position: np.ndarray
    tile_product: np.ndarray
    tile_clicked: np.ndarray
    conversions: Conversions  # person = global index
    snapshots: Snapshots  # person = global index


def chunk_rng(seed: int, chunk_index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, chunk_index]))


def generate_chunk(model: WorldModel, chunk_index: int, n_people: int, first_person: int) -> ChunkResult:
    ctx = ChunkContext(model=model, rng=chunk_rng(model.seed, chunk_index))
    rng = ctx.rng
    people = draw_visitors(rng, n_people, first_person, WINDOW_US)
    web = generate_web(ctx, people)
    opened = web_and_offline(ctx, people, web)
    since = customer_since(people, opened)
    web = add_login_tails(ctx, web, since)
    app = generate_app(ctx, people, web, opened, since)
    conversions = merge(people, [opened, app.conversions])
    bots = generate_bots(ctx, n_people)
    # App openings come only from people who are customers already, so customer_since stands.
    snapshots = snapshot_customers(rng, people, conversions, since)

    gidx = people.gidx
    n_web, n_app, n_bot = len(web.start), len(app.start), len(bots.start)
    web_sessions = SessionBlock(
        person=gidx[web.person],
        anon_ns=np.full(n_web, ids.NS_WEB_COOKIE, dtype=np.int8),
        anon_counter=gidx[web.person],
        platform=np.full(n_web, WEB, dtype=np.int8),
        device=people.web_device[web.person],
        start=web.start,
        end=web.end,
        intent=web.intent.astype(np.int8),
        intents_mask=web.intents_mask,
        source=web.source,
        is_bot=np.zeros(n_web, dtype=bool),
    )
    app_sessions = SessionBlock(
        person=gidx[app.person],
        anon_ns=np.full(n_app, ids.NS_APP_DEVICE, dtype=np.int8),
        anon_counter=gidx[app.person],
        platform=np.full(n_app, APP, dtype=np.int8),
        device=people.app_device[app.person],
        start=app.start,
        end=app.end,
        intent=app.intent.astype(np.int8),
        intents_mask=np.left_shift(1, app.intent).astype(np.int32),
        source=np.full(n_app, -1, dtype=np.int16),
        is_bot=np.zeros(n_app, dtype=bool),
    )
    bot_sessions = SessionBlock(
        person=np.full(n_bot, -1, dtype=np.int64),
        anon_ns=np.where(bots.crawler, ids.NS_CRAWLER, ids.NS_JUNK).astype(np.int8),
        anon_counter=chunk_index * BOT_COUNTER_STRIDE + bots.bot,
        platform=np.full(n_bot, WEB, dtype=np.int8),
        device=bots.device,
        start=bots.start,
        end=bots.end,
        intent=np.full(n_bot, BOT_INTENT, dtype=np.int8),
        intents_mask=np.zeros(n_bot, dtype=np.int32),
        source=np.full(n_bot, -1, dtype=np.int16),
        is_bot=np.ones(n_bot, dtype=bool),
    )
    assert N_INTENTS < BOT_INTENT
    events = EventBlock(
        session=np.concatenate([web.ev_session, app.ev_session + n_web, bots.ev_session + n_web + n_app]),
        ts=np.concatenate([web.ev_ts, app.ev_ts, bots.ev_ts]),
        event_type=np.concatenate([web.ev_type, app.ev_type, bots.ev_type]).astype(np.int8),
        page=np.concatenate([web.ev_page, app.ev_page, bots.ev_page]).astype(np.int32),
        query=np.concatenate([web.ev_query, app.ev_query, np.full(len(bots.ev_ts), -1, dtype=np.int32)]),
        dwell_ms=np.concatenate([web.ev_dwell, app.ev_dwell, bots.ev_dwell]).astype(np.int64),
        authenticated=np.concatenate([web.ev_auth, np.ones(len(app.ev_ts), dtype=bool), np.zeros(len(bots.ev_ts), dtype=bool)]),
    )
    return ChunkResult(
        people=people,
        since=customer_since(people, conversions),
        sessions=concat_sessions([web_sessions, app_sessions, bot_sessions]),
        events=events,
        tile_session=app.tile_session + n_web,
        tile_position=app.tile_position,
        tile_product=app.tile_product,
        tile_clicked=app.tile_clicked,
        conversions=Conversions(gidx[conversions.person], conversions.product, conversions.ts, conversions.channel),
        snapshots=Snapshots(gidx[snapshots.person], snapshots.ts, snapshots.tenure_months, snapshots.holdings, snapshots.balance),
    )

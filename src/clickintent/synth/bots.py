"""Automated traffic: site crawlers and vulnerability scanners.

Crawlers walk the site fast: 30-300 page views per visit, 0-800 ms on a page, under two
seconds between requests, no referrer, device 'other' (or a desktop user agent). Scanners
send single requests for paths that do not exist (/wp-admin, /.env ...), usually without
keeping a cookie, so most of their ids are seen once or twice. Neither is tailored to any
particular filter rule; both are flagged as bots in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clickintent.synth.behaviour import ET
from clickintent.synth.catalog import KIND
from clickintent.synth.context import ChunkContext
from clickintent.synth.products import LAUNCH_US
from clickintent.synth.sampling import exclusive_cumsum_within, push_apart
from clickintent.synth.timeline import MINUTE, SECOND, WINDOW_US
from clickintent.synth.visitors import DEVICES

CRAWLER_SHARE = 0.015  # crawler ids per person
SCANNER_SHARE = 0.035  # scanner ids per person
BOT_MIN_GAP = 60 * MINUTE


@dataclass
class BotTraffic:
    crawler: np.ndarray  # per session: True crawler, False scanner
    bot: np.ndarray  # per session: local bot id index
    start: np.ndarray
    end: np.ndarray
    device: np.ndarray
    ev_session: np.ndarray
    ev_ts: np.ndarray
    ev_page: np.ndarray
    ev_dwell: np.ndarray

    @property
    def ev_type(self) -> np.ndarray:
        return np.full(len(self.ev_ts), ET["page_view"], dtype=np.int8)


def generate_bots(ctx: ChunkContext, n_people: int) -> BotTraffic:
    rng, catalog = ctx.rng, ctx.catalog
    n_crawlers = int(round(n_people * CRAWLER_SHARE))
    n_scanners = int(round(n_people * SCANNER_SHARE))
    n_bots = n_crawlers + n_scanners
    crawler_bot = np.arange(n_bots) < n_crawlers
    visits = np.where(crawler_bot, rng.integers(1, 4, n_bots), rng.choice([1, 1, 1, 2, 3], n_bots))
    bot = np.repeat(np.arange(n_bots, dtype=np.int64), visits)
    crawler = crawler_bot[bot]
    n = len(bot)
    moments = rng.integers(0, WINDOW_US, n)
    moments = moments[np.lexsort((moments, bot))]

    # Crawlers request 30-300 pages (log-uniform); scanners one.
    pages = np.where(crawler, np.exp(rng.uniform(np.log(30), np.log(300), n)).astype(np.int64), 1)
    ev_session = np.repeat(np.arange(n, dtype=np.int64), pages)
    ev_crawler = crawler[ev_session]
    crawlable = np.flatnonzero((np.arange(len(catalog.pages)) < catalog.n_web) & (catalog.kind != KIND["online_banking"]))
    ev_page = np.where(
        ev_crawler,
        crawlable[rng.integers(0, len(crawlable), len(ev_session))],
        catalog.junk[rng.integers(0, len(catalog.junk), len(ev_session))],
    ).astype(np.int32)
    ev_dwell = np.where(ev_crawler, rng.integers(0, 801, len(ev_session)), rng.integers(0, 51, len(ev_session)))
    gap_us = (rng.uniform(0.1, 1.9, len(ev_session)) * SECOND).astype(np.int64)
    offset = exclusive_cumsum_within(gap_us, pages)
    duration = np.zeros(n, dtype=np.int64)
    np.maximum.at(duration, ev_session, offset)
    start = push_apart(bot, moments, duration, BOT_MIN_GAP)
    inside = start + duration < WINDOW_US
    kept = np.flatnonzero(inside)
    renumber = np.full(n, -1, dtype=np.int64)
    renumber[kept] = np.arange(len(kept))
    kept_events = inside[ev_session]
    ev_session = renumber[ev_session[kept_events]]
    ev_ts = start[kept][ev_session] + offset[kept_events]
    ev_page = ev_page[kept_events]
    prelaunch = ev_ts < LAUNCH_US
    ev_page[prelaunch] = catalog.prelaunch_page[ev_page[prelaunch]]
    # A crawler keeps one user agent: most declare no device class, some pose as desktops.
    bot_device = np.where(crawler_bot & (rng.random(n_bots) < 0.25), DEVICES.index("desktop"), DEVICES.index("other"))
    device = bot_device[bot].astype(np.int8)
    return BotTraffic(
        crawler=crawler[kept],
        bot=bot[kept],
        start=start[kept],
        end=start[kept] + duration[kept],
        device=device[kept],
        ev_session=ev_session,
        ev_ts=ev_ts,
        ev_page=ev_page,
        ev_dwell=ev_dwell[kept_events].astype(np.int64),
    )

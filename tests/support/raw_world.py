"""A small raw world that meets the event contract, with hand-made cases for the dbt tests.

Each case is a visitor (or customer) whose events make one sessionization, bot, login-link,
rolling-window or conversion-label rule observable; `CASES` documents what a test can expect.
Background visitors add volume and variety (several sections, devices, referrers). Everything
is deterministic: rebuilding gives the same rows.

Times are UTC. T0 is the start of the crafted timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from clickintent.events.contract import RAW_TABLES
from clickintent.events.loader import replace_table_set, validate_tables

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)

# Pages with a title per section; the fallback taxonomy node is the first path segment.
WEB_PAGES = {
    "/": "Home",
    "/mortgages/rates": "Today's mortgage rates",
    "/mortgages/calculator": "Mortgage calculator",
    "/mortgages/refinance": "Refinance your home",
    "/cards/compare": "Compare credit cards",
    "/cards/travel-rewards": "Travel rewards card",
    "/savings/high-yield": "High-yield savings",
    "/investing/start": "Start investing",
    "/retirement/calculator": "Retirement calculator",
    "/loans/personal": "Personal loans",
    "/search": "Search results",
    "/login": "Sign in",
}
APP_SCREENS = {
    "/app/accounts/summary": "Accounts",
    "/app/transfers/new": "New transfer",
    "/app/cards/controls": "Card controls",
    "/app/home": "Home",
}

# Taxonomy page map written for some pages only: the rest fall back to URL sections.
PAGE_MAP_ROWS = [
    ("/mortgages/rates", "home_buying.rates", "Mortgage rates", "home_buying", "Home buying"),
    ("/mortgages/calculator", "home_buying.affordability", "Affordability", "home_buying", "Home buying"),
    ("/mortgages/refinance", "refinancing.options", "Refinance options", "refinancing", "Refinancing"),
    ("/cards/travel-rewards", "travel_rewards.cards", "Travel cards", "travel_rewards", "Travel rewards"),
]
TAXONOMY_VERSION = "fixture-1"


@dataclass
class WorldBuilder:
    events: list[dict] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    customers: list[dict] = field(default_factory=list)
    conversions: list[dict] = field(default_factory=list)
    tile_impressions: list[dict] = field(default_factory=list)
    _next_event: int = 0

    def event(
        self,
        anonymous_id: str,
        ts: datetime,
        page_path: str,
        *,
        platform: str = "web",
        event_type: str | None = None,
        customer_id: str | None = None,
        search_query: str | None = None,
        dwell_ms: int | None = 20_000,
        referrer: str | None = None,
        utm_source: str | None = None,
        device_type: str = "desktop",
        product_id: str | None = None,
        page_title: str | None = "",
        event_id: str | None = None,
    ) -> str:
        if event_id is None:
            self._next_event += 1
            event_id = f"e{self._next_event:06d}"
        if event_type is None:
            event_type = "page_view" if platform == "web" else "screen_view"
        if page_title == "":
            page_title = WEB_PAGES.get(page_path) or APP_SCREENS.get(page_path) or "Untitled"
        self.events.append(
            dict(
                event_id=event_id,
                event_ts=ts,
                platform=platform,
                anonymous_id=anonymous_id,
                customer_id=customer_id,
                event_type=event_type,
                page_path=page_path,
                page_title=page_title,
                search_query=search_query,
                dwell_ms=dwell_ms,
                referrer=referrer,
                utm_source=utm_source,
                device_type=device_type,
                product_id=product_id,
            )
        )
        return event_id

    def tables(self) -> dict[str, pa.Table]:
        raw = {}
        for name, rows in (
            ("events", self.events),
            ("products", self.products),
            ("customers", self.customers),
            ("conversions", self.conversions),
            ("tile_impressions", self.tile_impressions),
        ):
            schema = RAW_TABLES[name].arrow_schema()
            raw[name] = (pa.Table.from_pylist(rows, schema=schema), f"fixture:{name}")
        return validate_tables(raw)


PRODUCTS = [
    # product_id, name, family, category, launched, fee, rate, min_opening, segment, complexity
    ("p_dep_1", "Everyday Checking", "deposits", "checking", T0 - 900 * DAY, 0.0, 0.01, 25.0, "mass", 1),
    ("p_card_1", "Cash Back Card", "cards", "credit_card", T0 - 900 * DAY, 0.0, 21.9, None, "mass", 1),
    ("p_card_2", "Voyager Travel Card", "cards", "credit_card", T0 + 20 * DAY, 95.0, 23.9, None, "affluent", 2),
    ("p_lend_1", "Personal Loan", "lending", "personal_loan", T0 - 900 * DAY, None, 11.5, 2000.0, None, 2),
    ("p_home_1", "30-year Fixed Mortgage", "home", "mortgage", T0 - 900 * DAY, None, 6.4, 50000.0, None, 3),
    ("p_inv_1", "Managed Portfolio", "investing", "brokerage", T0 - 900 * DAY, 0.0, None, 500.0, "emerging_affluent", 2),
    ("p_ins_1", "Term Life", "insurance", "life", T0 - 900 * DAY, 120.0, None, None, None, 2),
    ("p_bus_1", "Business Checking", "business", "business_checking", T0 - 900 * DAY, 180.0, None, 100.0, "small_business", 2),
]


# What the crafted cases must produce (the tests read these rather than repeating numbers).
CASES = {
    # anonymous_id -> number of web sessions after sessionization (non-bot)
    "sessions_per_visitor": {
        "v_gap": 3,  # gaps: 10 min, exactly 30 min (new session), 29 min 59 s (same session)
        "v_midnight": 1,  # 23:50 -> 00:20 next day, never 30 minutes apart
        "v_single": 1,  # one event
        "v_shuffled": 2,  # rows stored out of order; 45-minute gap in the middle
    },
    "bots": {"v_bot_fast_dwell": "bot_fast_dwell", "v_bot_burst": "bot_burst", "v_junk": "junk_unknown_pages"},
    "login_visitor": "v_login",
    "login_customer": "c_001",
}


def build_fixture_world(
    include_page_map: bool = True, include_labels: bool = True, background_visitors: int = 40, seed: int = 11
) -> tuple[dict[str, pa.Table], list[tuple] | None]:
    """The fixture world's raw tables (validated against the contract) and its page map rows."""
    world = WorldBuilder()
    for product in PRODUCTS:
        keys = (
            "product_id",
            "product_name",
            "family",
            "category",
            "launched_ts",
            "annual_fee_usd",
            "interest_rate_pct",
            "min_opening_usd",
            "target_segment",
            "complexity",
        )
        world.products.append(dict(zip(keys, product)))

    # --- sessionization edges -------------------------------------------------------------
    start = T0
    world.event("v_gap", start, "/", referrer="https://www.google.com/", event_id="gap_1")
    world.event("v_gap", start + 10 * MINUTE, "/mortgages/rates", event_id="gap_2")
    world.event("v_gap", start + 40 * MINUTE, "/mortgages/calculator", event_type="calculator", event_id="gap_3")  # +30:00 exactly
    world.event("v_gap", start + 69 * MINUTE + 59 * SECOND, "/mortgages/refinance", event_id="gap_4")  # +29:59
    world.event("v_gap", start + 150 * MINUTE, "/cards/compare", event_id="gap_5")  # +80 min

    night = datetime(2025, 3, 4, 23, 50, tzinfo=UTC)
    for i, minutes in enumerate((0, 8, 15, 30)):  # 23:50, 23:58, 00:05, 00:20
        world.event("v_midnight", night + minutes * MINUTE, "/savings/high-yield", device_type="mobile", event_id=f"mid_{i + 1}")

    world.event("v_single", T0 + 2 * DAY, "/investing/start", referrer="https://www.facebook.com/", event_id="single_1")

    shuffled = [("shuf_3", 50), ("shuf_1", 0), ("shuf_4", 52), ("shuf_2", 5)]  # minutes after start, stored out of order
    for event_id, minutes in shuffled:
        world.event("v_shuffled", T0 + 3 * DAY + minutes * MINUTE, "/loans/personal", event_id=event_id, utm_source="newsletter")
    # two events at the same instant: event_id breaks the tie
    world.event("v_shuffled", T0 + 3 * DAY + 52 * MINUTE, "/loans/personal", event_type="click", event_id="shuf_0")

    # --- bots and junk --------------------------------------------------------------------
    for i in range(25):  # 25 events, 3 s apart (20/min), 200 ms dwell: fast dwell
        world.event("v_bot_fast_dwell", T0 + 4 * DAY + i * 3 * SECOND, "/cards/compare", dwell_ms=200, device_type="other")
    for i in range(15):  # 15 events in 14 s: 64/min, long dwell reported: burst
        world.event("v_bot_burst", T0 + 4 * DAY + i * SECOND, "/savings/high-yield", dwell_ms=5_000, device_type="other")
    world.event(
        "v_junk", T0 + 4 * DAY, "/wp-admin/setup.php", page_title="Page Not Found | Example Bank", dwell_ms=None, device_type="other"
    )
    world.event("v_junk", T0 + 4 * DAY + 2 * SECOND, "/404", page_title="Page not found", dwell_ms=100, device_type="other")

    # --- the login link and the rolling web-intent window ------------------------------------
    # c_001's linked web sessions end at L0, L0+10d, L0+30d (exactly) and L0+45d.
    l0 = T0 + 5 * DAY
    linked_ends = [l0, l0 + 10 * DAY, l0 + 30 * DAY, l0 + 45 * DAY]
    for k, end in enumerate(linked_ends):
        anon = "v_login" if k < 2 else "v_login_phone"  # the customer on a second device later
        begin = end - 6 * MINUTE
        world.event(anon, begin, "/mortgages/rates", referrer="https://www.bing.com/", device_type="desktop" if k < 2 else "mobile")
        world.event(anon, begin + 2 * MINUTE, "/mortgages/calculator", event_type="calculator")
        world.event(
            anon,
            begin + 4 * MINUTE,
            "/search",
            event_type="search",
            search_query="refinance jane.doe@example.com acct 1234 5678 9012" if k == 0 else "30 year fixed rate",
        )
        world.event(anon, end, "/login", event_type="login", customer_id="c_001", dwell_ms=3_000)
    # a prospect that never logs in (no link)
    world.event("v_prospect", l0, "/cards/travel-rewards", utm_source="partner_blog")
    world.event("v_prospect", l0 + 3 * MINUTE, "/cards/compare", event_type="form_start")
    world.event("v_prospect", l0 + 9 * MINUTE, "/cards/compare", event_type="form_submit")

    # c_001's app sessions (authenticated from the first screen)
    app_starts = [l0 + 1 * DAY, l0 + 12 * DAY]
    for start_ts in app_starts:
        world.event("d_c001", start_ts, "/app/home", platform="app", customer_id="c_001", device_type="mobile")
        world.event("d_c001", start_ts + MINUTE, "/app/accounts/summary", platform="app", customer_id="c_001", device_type="mobile")
        world.event(
            "d_c001",
            start_ts + 2 * MINUTE,
            "/app/transfers/new",
            platform="app",
            event_type="click",
            customer_id="c_001",
            device_type="mobile",
        )

    # --- labels -----------------------------------------------------------------------------
    if include_labels:
        # first conversion 3 days after L0 (home), another 5 days after (investing); one at exactly
        # L0+10d+14d (cards, counted: the window is (observation, observation + 14 days]).
        world.conversions += [
            dict(conversion_id="cv_1", customer_id="c_001", product_id="p_home_1", converted_ts=l0 + 3 * DAY, channel="branch"),
            dict(conversion_id="cv_2", customer_id="c_001", product_id="p_inv_1", converted_ts=l0 + 5 * DAY, channel="web"),
            dict(conversion_id="cv_3", customer_id="c_001", product_id="p_card_1", converted_ts=l0 + 24 * DAY, channel="app"),
            dict(conversion_id="cv_4", customer_id="c_002", product_id="p_dep_1", converted_ts=l0 - 40 * DAY, channel="branch"),
        ]
        world.customers += [
            dict(
                customer_id="c_001",
                snapshot_ts=T0 - DAY,
                segment="mass",
                tenure_months=30,
                age_band="35-44",
                held_product_ids="p_dep_1;p_card_1",
                total_balance_usd=5400.0,
            ),
            dict(
                customer_id="c_001",
                snapshot_ts=l0 + 20 * DAY,
                segment="emerging_affluent",
                tenure_months=31,
                age_band="35-44",
                held_product_ids="p_dep_1;p_card_1;p_home_1;p_inv_1",
                total_balance_usd=25400.0,
            ),
            dict(
                customer_id="c_002",
                snapshot_ts=T0 - DAY,
                segment="student",
                tenure_months=3,
                age_band=None,
                held_product_ids="",
                total_balance_usd=None,
            ),
        ]
        for k, (customer, ts) in enumerate([("c_001", l0 + 1 * DAY), ("c_001", l0 + 12 * DAY), ("c_002", l0 + 2 * DAY)]):
            for position, product in enumerate(["p_home_1", "p_card_1", "p_inv_1"], start=1):
                world.tile_impressions.append(
                    dict(
                        impression_id=f"imp_{k + 1}",
                        customer_id=customer,
                        impression_ts=ts,
                        position=position,
                        product_id=product,
                        clicked=(k == 0 and position == 1),
                    )
                )

    # --- background traffic -------------------------------------------------------------------
    rng = np.random.default_rng(seed)
    paths = [p for p in WEB_PAGES if p not in ("/login",)]
    referrers = [None, "https://www.google.com/", "https://news.example.org/article", "https://t.co/x", None]
    devices = ["desktop", "mobile", "tablet"]
    for v in range(background_visitors):
        anon = f"v_bg_{v:03d}"
        ts = T0 + timedelta(hours=float(rng.uniform(0, 24 * 50)))
        for _session in range(int(rng.integers(1, 4))):
            for i in range(int(rng.integers(1, 9))):
                path = paths[int(rng.integers(len(paths)))]
                event_type = {"/search": "search", "/mortgages/calculator": "calculator", "/retirement/calculator": "calculator"}.get(
                    path, "page_view"
                )
                world.event(
                    anon,
                    ts,
                    path,
                    event_type=event_type,
                    search_query="best savings rate" if event_type == "search" else None,
                    dwell_ms=int(rng.integers(2_000, 120_000)),
                    referrer=referrers[int(rng.integers(len(referrers)))] if i == 0 else None,
                    device_type=devices[v % 3],
                )
                ts += timedelta(seconds=float(rng.uniform(5, 600)))
            ts += timedelta(hours=float(rng.uniform(1, 72)))

    page_map = [(*row, TAXONOMY_VERSION) for row in PAGE_MAP_ROWS] if include_page_map else None
    return world.tables(), page_map


def write_fixture_world(data_dir: Path, **options) -> dict[str, pa.Table]:
    """Write the fixture world's raw tables (and its taxonomy page map, if any) under data_dir."""
    tables, page_map = build_fixture_world(**options)
    replace_table_set(tables, Path(data_dir) / "raw")
    if page_map is not None:
        write_page_map(Path(data_dir), page_map)
    return tables


def write_page_map(data_dir: Path, rows: list[tuple]) -> Path:
    import pyarrow.parquet as pq

    names = ["page_path", "node_id", "node_name", "top_node_id", "top_node_name", "taxonomy_version"]
    table = pa.table({name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(names)})
    path = data_dir / "taxonomy" / "page_map.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path

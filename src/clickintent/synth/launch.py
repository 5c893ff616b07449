"""A product family launched part way through the window, with a latent intent of its own.

    world = add_launch(build_world(seed, target_events), Launch("bnpl", day=84), n_people)

The 13 intents of intents.py are fixed; a launch brings a 14th that did not exist before its day:
new pages (a section, product pages, an explainer, an FAQ, a comparison, a calculator, articles,
application forms), app screens for those who open the product, search queries in its own
words, and visitors who come for it: new people (new cookies) who arrive from the launch day
on, browse over one to a few sessions, and some of whom apply and open the product (a new
customer with a conversion, a customer snapshot and app sessions). Their pages sometimes
include the site's general pages (home, search, card comparison, personal loans), as real
visitors' do.

The launch is appended to a world built without it: the default world stays byte-identical,
and the hidden ground truth (session_intents, visitor_intents, event_sessions) records the new
intent by name. Ids continue the base world's counters, so none collides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from clickintent.events.contract import CONVERSIONS, CUSTOMERS, EVENTS, PRODUCTS, UTC_TIMESTAMP
from clickintent.synth import ids
from clickintent.synth.catalog import build_catalog
from clickintent.synth.intents import AGE_BANDS
from clickintent.synth.site import APP_HOME
from clickintent.synth.tables import EVENT_SESSIONS_SCHEMA, SESSION_INTENTS_SCHEMA, VISITOR_INTENTS_SCHEMA
from clickintent.synth.timeline import DAY, SECOND, WINDOW_DAYS, WINDOW_START_EPOCH_US, WINDOW_US

WEB, APP = "web", "app"
SUFFIX = " | Example Bank"


@dataclass(frozen=True)
class LaunchPage:
    path: str
    title: str
    kind: str  # section | product | info | faq | compare | tool | article | apply
    stages: tuple[float, float, float]  # relative weight in research, compare, apply sessions
    product_id: str | None = None


@dataclass(frozen=True)
class LaunchProduct:
    product_id: str
    name: str
    category: str
    annual_fee_usd: float | None
    interest_rate_pct: float | None
    min_opening_usd: float | None
    apply_path: str
    weight: float  # share of the visitors who target it


@dataclass(frozen=True)
class LaunchSpec:
    """One launchable product family and the latent intent it brings."""

    key: str
    intent: str  # the hidden intent's name in the ground truth
    family: str  # the products table's family
    products: tuple[LaunchProduct, ...]
    pages: tuple[LaunchPage, ...]
    app_screens: tuple[tuple[str, str], ...]
    queries: tuple[str, ...]
    # Launch visitors per base-world person per remaining window day (so a share of daily traffic).
    visitors_per_person_day: float
    convert_prob: float


# Pages of the existing site the launch's visitors also read (entry, search, neighbours).
# (path, weight); titles come from the site's catalog.
GENERAL_PAGES = (("/", 0.45), ("/credit-cards/compare", 0.2), ("/personal-loans", 0.15), ("/help", 0.2))
SEARCH_PATH = "/search"
GENERAL_PAGE_SHARE = 0.12  # of page steps: a general page rather than one of the launch's
SEARCH_SHARE = 0.1  # of page steps: a site search in the launch's words

BNPL = LaunchSpec(
    key="bnpl",
    intent="buy_now_pay_later",
    family="lending",
    products=(
        LaunchProduct("bnpl_pay_in_4", "Pay in 4", "buy_now_pay_later", 0.0, 0.0, 50.0, "/apply/pay-in-4", 0.65),
        LaunchProduct("bnpl_monthly", "Pay Monthly Installments", "buy_now_pay_later", 0.0, 9.99, 200.0, "/apply/pay-monthly", 0.35),
    ),
    pages=(
        LaunchPage("/pay-later", "Buy Now, Pay Later" + SUFFIX, "section", (3, 2, 1)),
        LaunchPage(
            "/pay-later/pay-in-4",
            "Pay in 4: Split a Purchase Into 4 Interest-Free Payments" + SUFFIX,
            "product",
            (3, 3, 2),
            "bnpl_pay_in_4",
        ),
        LaunchPage(
            "/pay-later/pay-monthly", "Pay Monthly: Installment Plans for Larger Purchases" + SUFFIX, "product", (2, 3, 2), "bnpl_monthly"
        ),
        LaunchPage("/pay-later/how-it-works", "How Buy Now, Pay Later Works" + SUFFIX, "info", (3, 1, 0.5)),
        LaunchPage("/pay-later/faq", "Buy Now, Pay Later FAQs" + SUFFIX, "faq", (1, 2, 1)),
        LaunchPage("/pay-later/where-to-shop", "Shop at Participating Stores With Pay Later" + SUFFIX, "info", (2, 1, 0.5)),
        LaunchPage(
            "/pay-later/pay-later-vs-credit-card", "Pay Later vs. Credit Card: Which Is Right for You" + SUFFIX, "compare", (1, 3, 0.5)
        ),
        LaunchPage("/tools/pay-later-payment-planner", "Pay Later Payment Planner" + SUFFIX, "tool", (1, 3, 1)),
        LaunchPage("/learn/is-buy-now-pay-later-a-good-idea", "Is Buy Now, Pay Later a Good Idea?" + SUFFIX, "article", (2, 1, 0.2)),
        LaunchPage("/learn/pay-in-4-late-fees-explained", "Pay in 4 Late Fees Explained" + SUFFIX, "article", (1, 1, 0.2)),
        LaunchPage("/apply/pay-in-4", "Get Pay in 4 Online" + SUFFIX, "apply", (0, 0, 0), "bnpl_pay_in_4"),
        LaunchPage("/apply/pay-monthly", "Apply for Pay Monthly Online" + SUFFIX, "apply", (0, 0, 0), "bnpl_monthly"),
    ),
    app_screens=(
        ("/app/pay-later/plans", "Pay Later Plans"),
        ("/app/pay-later/schedule", "Payment Schedule"),
        ("/app/pay-later/autopay", "Pay Later Autopay"),
    ),
    queries=(
        "buy now pay later",
        "pay in 4",
        "pay later",
        "split payment into installments",
        "pay in 4 late fee",
        "bnpl",
        "pay monthly installments",
        "interest free installments",
        "pay later stores",
    ),
    visitors_per_person_day=0.0012,
    convert_prob=0.3,
)

LAUNCHES: dict[str, LaunchSpec] = {spec.key: spec for spec in (BNPL,)}
DEFAULT_LAUNCH_DAY = 84  # a Monday, 12 weeks into the window: weeks before it are launch-free


@dataclass(frozen=True)
class Launch:
    """What `clickintent generate --launch KEY --launch-day N` asks for."""

    key: str
    day: int = DEFAULT_LAUNCH_DAY

    def __post_init__(self) -> None:
        if self.key not in LAUNCHES:
            raise ValueError(f"unknown launch {self.key!r}; known: {', '.join(sorted(LAUNCHES))}")
        if not 1 <= self.day <= WINDOW_DAYS - 7:
            raise ValueError(f"launch day must be from 1 to {WINDOW_DAYS - 7} (a week before the window ends); got {self.day}")

    @property
    def spec(self) -> LaunchSpec:
        return LAUNCHES[self.key]


# Mean page steps per session beyond the first, by stage; the dwell of a page kind (median s).
_STEPS_MEAN = (3.5, 4.5, 3.0)
_DWELL_S = {"section": 25, "product": 60, "info": 70, "faq": 45, "compare": 75, "tool": 90, "article": 120, "apply": 240, "general": 20}
_SEARCH_ENGINES = ("google.com", "bing.com", "duckduckgo.com")
_DEVICES = ("desktop", "mobile", "tablet")
_DEVICE_WEIGHTS = (0.38, 0.56, 0.06)  # launch visitors skew to phones (shopping checkouts)
_AGE_WEIGHTS = (0.3, 0.38, 0.18, 0.08, 0.04, 0.02)  # over intents.AGE_BANDS
HOUR_ROOM = 2 * 3600 * SECOND  # a session starts at least this long before the window ends
LAUNCH_WEEK_ARRIVALS = 0.3
LAUNCH_RNG_KEY = 0x1A0C4  # seeds the launch's own random stream apart from every chunk's


@dataclass
class _Rows:
    """Column lists of one raw or ground-truth table, filled row by row (the launch is small)."""

    columns: dict[str, list]

    @classmethod
    def of(cls, *names: str) -> _Rows:
        return cls({name: [] for name in names})

    def add(self, **values) -> None:
        for name, column in self.columns.items():
            column.append(values.get(name))


def _us(moment_us: int) -> int:
    return int(moment_us) + WINDOW_START_EPOCH_US


def _timestamps(values: list[int]) -> pa.Array:
    return pa.array([_us(v) for v in values], type=pa.int64()).view(UTC_TIMESTAMP)


def add_launch(world, launch: Launch, n_people: int):
    """The world with the launch's products, pages, visitors, conversions and ground truth appended."""
    spec = launch.spec
    seed = world.summary.seed
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, LAUNCH_RNG_KEY]))
    launch_us = launch.day * DAY
    days_left = WINDOW_DAYS - launch.day
    n_visitors = max(20, int(round(spec.visitors_per_person_day * n_people * days_left)))

    events = _Rows.of(*EVENTS.column_names)
    event_truth = _Rows.of("true_session_id")
    sessions = _Rows.of("anonymous_id", "platform", "start", "end", "customer")
    visitors = _Rows.of("anonymous_id", "customer_id", "is_customer")
    conversions = _Rows.of("customer_id", "product_id", "converted_ts")
    snapshots = _Rows.of("customer_id", "snapshot_ts", "age_band", "held")

    person_ids = np.arange(n_people, n_people + n_visitors)
    cookies = ids.make_ids(seed, ids.NS_WEB_COOKIE, "a_", person_ids, 16).to_pylist()
    devices_app = ids.make_ids(seed, ids.NS_APP_DEVICE, "a_", person_ids, 16).to_pylist()
    customer_ids = ids.make_ids(seed, ids.NS_CUSTOMER, "c_", person_ids, 12).to_pylist()
    product_weights = np.array([p.weight for p in spec.products])
    content = [page for page in spec.pages if page.kind != "apply"]
    stage_weights = np.array([page.stages for page in content], dtype=float)
    general_weights = np.array([w for _, w in GENERAL_PAGES])
    site_titles = {page.path: page.title for page in build_catalog().pages}
    general = [(path, site_titles[path]) for path, _ in GENERAL_PAGES]
    search_title = site_titles[SEARCH_PATH]
    apply_page = {page.product_id: page for page in spec.pages if page.kind == "apply"}

    def emit(session: int, ts: int, platform: str, anon: str, customer: str | None, etype: str, path: str, title: str, **extra) -> None:
        events.add(
            event_ts=ts,
            platform=platform,
            anonymous_id=anon,
            customer_id=customer,
            event_type=etype,
            page_path=path,
            page_title=title,
            search_query=extra.get("query"),
            dwell_ms=extra.get("dwell"),
            referrer=extra.get("referrer"),
            utm_source=extra.get("utm"),
            device_type=extra["device"],
            product_id=extra.get("product"),
        )
        event_truth.add(true_session_id=session)

    def dwell_ms(kind: str) -> int:
        return int(_DWELL_S[kind] * 1000 * rng.lognormal(0.0, 0.6))

    for visitor in range(n_visitors):
        anon, device = cookies[visitor], _DEVICES[rng.choice(len(_DEVICES), p=_DEVICE_WEIGHTS)]
        product = spec.products[rng.choice(len(spec.products), p=product_weights / product_weights.sum())]
        converts = rng.random() < spec.convert_prob
        n_sessions = 1 + rng.poisson(1.0) + int(converts)
        # A launch comes with a campaign: a share of its visitors arrive in its first week.
        first_days = 7 if rng.random() < LAUNCH_WEEK_ARRIVALS else days_left
        moment = launch_us + int(rng.random() * first_days * DAY)
        opened_at: int | None = None
        web_sessions = 0
        for k in range(n_sessions):
            stage = 2 if (converts and k == n_sessions - 1) else min(k, 1)
            n_steps = 1 + rng.negative_binomial(2, 2.0 / (2.0 + _STEPS_MEAN[stage]))
            ts = moment
            if ts + HOUR_ROOM >= WINDOW_US:
                break
            session = len(sessions.columns["start"])
            referrer = _SEARCH_ENGINES[rng.integers(0, len(_SEARCH_ENGINES))] if rng.random() < 0.55 else None
            for step in range(n_steps):
                common = {"device": device, "referrer": referrer if step == 0 else None, "utm": None}
                u = rng.random()
                # One dwell per event: the time on it is the gap to the next event.
                if u < SEARCH_SHARE:
                    query = spec.queries[rng.integers(0, len(spec.queries))]
                    dwell = dwell_ms("general")
                    emit(session, ts, WEB, anon, None, "search", SEARCH_PATH, search_title, query=query, dwell=dwell, **common)
                    ts += dwell * 1000 + 5 * SECOND
                    continue
                if u < SEARCH_SHARE + GENERAL_PAGE_SHARE or (step == 0 and rng.random() < 0.2):
                    path, title = general[rng.choice(len(general), p=general_weights / general_weights.sum())]
                    dwell = dwell_ms("general")
                    emit(session, ts, WEB, anon, None, "page_view", path, title, dwell=dwell, **common)
                    ts += dwell * 1000 + 5 * SECOND
                    continue
                weights = stage_weights[:, stage]
                page = content[rng.choice(len(content), p=weights / weights.sum())]
                dwell = dwell_ms(page.kind)
                emit(session, ts, WEB, anon, None, "page_view", page.path, page.title, dwell=dwell, product=page.product_id, **common)
                if page.kind == "tool":
                    for _ in range(1 + rng.poisson(1.3)):
                        ts += 20 * SECOND + int(rng.random() * 40 * SECOND)
                        emit(session, ts, WEB, anon, None, "calculator", page.path, page.title, dwell=dwell_ms("tool") // 3, device=device)
                elif rng.random() < 0.3:
                    emit(
                        session,
                        ts + dwell * 500,
                        WEB,
                        anon,
                        None,
                        "click",
                        page.path,
                        page.title,
                        dwell=0,
                        product=page.product_id,
                        device=device,
                    )
                ts += dwell * 1000 + 5 * SECOND
            if stage == 2:
                form = apply_page[product.product_id]
                dwell = dwell_ms("apply")
                emit(
                    session,
                    ts,
                    WEB,
                    anon,
                    None,
                    "form_start",
                    form.path,
                    form.title,
                    dwell=dwell,
                    product=product.product_id,
                    device=device,
                )
                ts += dwell * 1000
                emit(session, ts, WEB, anon, None, "form_submit", form.path, form.title, dwell=0, product=product.product_id, device=device)
                opened_at = ts + int(rng.uniform(0.1, 24.0) * 3600 * SECOND)
            sessions.add(anonymous_id=anon, platform=WEB, start=moment, end=ts, customer=None)
            web_sessions += 1
            moment = ts + int(rng.lognormal(np.log(1.5), 0.8) * DAY)

        customer = None
        if opened_at is not None and opened_at < WINDOW_US:
            customer = customer_ids[visitor]
            conversions.add(customer_id=customer, product_id=product.product_id, converted_ts=opened_at)
            snapshots.add(
                customer_id=customer,
                snapshot_ts=opened_at,
                age_band=AGE_BANDS[rng.choice(len(AGE_BANDS), p=_AGE_WEIGHTS)],
                held=product.product_id,
            )
            moment = opened_at + int(rng.uniform(0.5, 3.0) * DAY)
            if moment + HOUR_ROOM < WINDOW_US:
                visitors.add(anonymous_id=devices_app[visitor], customer_id=customer, is_customer=True)
            while moment + HOUR_ROOM < WINDOW_US:
                session = len(sessions.columns["start"])
                app_anon, ts = devices_app[visitor], moment
                dwell = dwell_ms("general")
                emit(session, ts, APP, app_anon, customer, "screen_view", *APP_HOME, dwell=dwell, device="mobile")
                for _ in range(1 + rng.poisson(1.5)):
                    ts += dwell * 1000 + 3 * SECOND
                    path, title = spec.app_screens[rng.integers(0, len(spec.app_screens))]
                    dwell = dwell_ms("section")
                    emit(session, ts, APP, app_anon, customer, "screen_view", path, title, dwell=dwell, device="mobile")
                sessions.add(anonymous_id=app_anon, platform=APP, start=moment, end=ts, customer=customer)
                moment = ts + int(rng.lognormal(np.log(6.0), 0.7) * DAY)
        if web_sessions:  # a first visit too close to the window's end never happened
            visitors.add(anonymous_id=anon, customer_id=customer, is_customer=customer is not None)

    return _appended(world, launch, events, event_truth, sessions, visitors, conversions, snapshots)


def _appended(world, launch: Launch, events, event_truth, sessions, visitors, conversions, snapshots):
    spec, seed = launch.spec, world.summary.seed
    raw, truth = dict(world.raw), dict(world.ground_truth)
    n_base_events, n_base_sessions = raw["events"].num_rows, truth["session_intents"].num_rows

    n_events = len(events.columns["event_ts"])
    event_ids = ids.make_ids(seed, ids.NS_EVENT, "e_", np.arange(n_base_events, n_base_events + n_events), 16)
    columns = dict(events.columns)
    columns["event_id"] = event_ids
    columns["event_ts"] = _timestamps(columns["event_ts"])
    raw["events"] = pa.concat_tables([raw["events"], pa.table(columns, schema=EVENTS.arrow_schema())])

    n_sessions = len(sessions.columns["start"])
    session_ids = ids.make_ids(seed, ids.NS_SESSION, "s_", np.arange(n_base_sessions, n_base_sessions + n_sessions), 16)
    truth["event_sessions"] = pa.concat_tables(
        [
            truth["event_sessions"],
            pa.table([event_ids, session_ids.take(pa.array(event_truth.columns["true_session_id"]))], schema=EVENT_SESSIONS_SCHEMA),
        ]
    )
    truth["session_intents"] = pa.concat_tables(
        [
            truth["session_intents"],
            pa.table(
                {
                    "true_session_id": session_ids,
                    "anonymous_id": pa.array(sessions.columns["anonymous_id"], pa.string()),
                    "platform": pa.array(sessions.columns["platform"], pa.string()),
                    "start_ts": _timestamps(sessions.columns["start"]),
                    "end_ts": _timestamps(sessions.columns["end"]),
                    "primary_intent": pa.array([spec.intent] * n_sessions, pa.string()),
                    "intents": pa.array([spec.intent] * n_sessions, pa.string()),
                    "is_bot": pa.array([False] * n_sessions, pa.bool_()),
                },
                schema=SESSION_INTENTS_SCHEMA,
            ),
        ]
    )
    n_visitors = len(visitors.columns["anonymous_id"])
    truth["visitor_intents"] = pa.concat_tables(
        [
            truth["visitor_intents"],
            pa.table(
                {
                    "anonymous_id": pa.array(visitors.columns["anonymous_id"], pa.string()),
                    "customer_id": pa.array(visitors.columns["customer_id"], pa.string()),
                    "intents": pa.array([spec.intent] * n_visitors, pa.string()),
                    "primary_intent": pa.array([spec.intent] * n_visitors, pa.string()),
                    "is_bot": pa.array([False] * n_visitors, pa.bool_()),
                    "is_customer": pa.array(visitors.columns["is_customer"], pa.bool_()),
                },
                schema=VISITOR_INTENTS_SCHEMA,
            ),
        ]
    )

    launched = pa.array([_us(launch.day * DAY)] * len(spec.products), type=pa.int64()).view(UTC_TIMESTAMP)
    products = pa.table(
        {
            "product_id": [p.product_id for p in spec.products],
            "product_name": [p.name for p in spec.products],
            "family": [spec.family] * len(spec.products),
            "category": [p.category for p in spec.products],
            "launched_ts": launched,
            "annual_fee_usd": [p.annual_fee_usd for p in spec.products],
            "interest_rate_pct": [p.interest_rate_pct for p in spec.products],
            "min_opening_usd": [p.min_opening_usd for p in spec.products],
            "target_segment": ["mass"] * len(spec.products),
            "complexity": [1] * len(spec.products),
        },
        schema=PRODUCTS.arrow_schema(),
    )
    raw["products"] = pa.concat_tables([raw["products"], products])

    n_conversions = len(conversions.columns["customer_id"])
    n_base_conversions = raw["conversions"].num_rows
    raw["conversions"] = pa.concat_tables(
        [
            raw["conversions"],
            pa.table(
                {
                    "conversion_id": ids.make_ids(
                        seed, ids.NS_CONVERSION, "cv_", np.arange(n_base_conversions, n_base_conversions + n_conversions), 16
                    ),
                    "customer_id": pa.array(conversions.columns["customer_id"], pa.string()),
                    "product_id": pa.array(conversions.columns["product_id"], pa.string()),
                    "converted_ts": _timestamps(conversions.columns["converted_ts"]),
                    "channel": pa.array(["web"] * n_conversions, pa.string()),
                },
                schema=CONVERSIONS.arrow_schema(),
            ),
        ]
    )
    n_snapshots = len(snapshots.columns["customer_id"])
    raw["customers"] = pa.concat_tables(
        [
            raw["customers"],
            pa.table(
                {
                    "customer_id": pa.array(snapshots.columns["customer_id"], pa.string()),
                    "snapshot_ts": _timestamps(snapshots.columns["snapshot_ts"]),
                    "segment": pa.array(["mass"] * n_snapshots, pa.string()),
                    "tenure_months": pa.array([0] * n_snapshots, pa.int64()),
                    "age_band": pa.array(snapshots.columns["age_band"], pa.string()),
                    "held_product_ids": pa.array(snapshots.columns["held"], pa.string()),
                    "total_balance_usd": pa.array([0.0] * n_snapshots, pa.float64()),
                },
                schema=CUSTOMERS.arrow_schema(),
            ),
        ]
    )
    summary = replace(
        world.summary,
        rows={name: table.num_rows for name, table in raw.items()},
        visitors=world.summary.visitors + n_visitors,
        customers=world.summary.customers + n_snapshots,
        sessions=world.summary.sessions + n_sessions,
        ground_truth_rows={name: table.num_rows for name, table in truth.items()},
    )
    return type(world)(raw=raw, ground_truth=truth, summary=summary)

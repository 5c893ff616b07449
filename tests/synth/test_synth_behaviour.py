"""Behaviour of the synthetic world that downstream stages rely on: sessions a 30-minute rule
recovers, login as the only web-to-customer link, intent-driven pages, PII in searches, bots,
tiles with position bias, conversions with realistic delays, the mid-window launch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clickintent.synth import build_world
from clickintent.synth.products import LAUNCHED_PRODUCT_ID, PRODUCTS
from clickintent.synth.site import JUNK_PATHS

PII_PATTERN = r"@|\d{10,12}|\d{4} \d{4} \d{4} \d{4}|\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|my name is"


@pytest.fixture(scope="module")
def world():
    built = build_world(seed=5, target_events=50_000)
    raw = {name: table.to_pandas() for name, table in built.raw.items()}
    truth = {name: table.to_pandas() for name, table in built.ground_truth.items()}
    events = raw["events"].merge(truth["event_sessions"], on="event_id", validate="one_to_one")
    events["file_position"] = np.arange(len(events))
    events = events.merge(truth["session_intents"][["true_session_id", "is_bot", "primary_intent"]], on="true_session_id")
    return raw, truth, events.sort_values(["true_session_id", "event_ts", "event_id"]).reset_index(drop=True)


def test_gaps_inside_sessions_are_short_and_between_sessions_long(world):
    _, truth, events = world
    inside = events.groupby("true_session_id")["event_ts"].diff().dropna()
    assert inside.max() < pd.Timedelta(minutes=25)
    sessions = truth["session_intents"].sort_values(["anonymous_id", "platform", "start_ts"])
    previous_end = sessions.groupby(["anonymous_id", "platform"])["end_ts"].shift()
    between = (sessions["start_ts"] - previous_end).dropna()
    assert len(between) > 1000
    assert between.min() >= pd.Timedelta(minutes=45)
    # most visits are seconds to minutes apart inside, hours to days apart between
    assert inside.median() < pd.Timedelta(minutes=2)
    assert between.median() > pd.Timedelta(hours=6)


def test_login_is_the_only_web_link_to_a_customer(world):
    raw, _, events = world
    web = events[events["platform"] == "web"].copy()
    web["after_login"] = web["event_type"].eq("login").groupby(web["true_session_id"]).cummax()
    linked = web["customer_id"].notna()
    assert linked.any()
    assert not (linked & ~web["after_login"]).any(), "a web event carries a customer_id before any login"
    assert web.loc[web["after_login"], "customer_id"].notna().all()
    assert (events.loc[events["platform"] == "app", "customer_id"].notna()).all()
    known = set(raw["customers"]["customer_id"])
    assert set(events["customer_id"].dropna()) <= known
    assert set(raw["conversions"]["customer_id"]) <= known
    assert set(raw["tile_impressions"]["customer_id"]) <= known


def test_some_searches_carry_pii_like_strings(world):
    _, _, events = world
    queries = events["search_query"].dropna()
    assert len(queries) > 500
    share = queries.str.contains(PII_PATTERN, regex=True).mean()
    assert 0.005 < share < 0.1
    assert (events.loc[events["event_type"] == "search", "search_query"].notna()).all()
    assert events.loc[events["event_type"] != "search", "search_query"].isna().all()


def test_intents_drive_which_pages_are_read(world):
    _, truth, events = world
    web = events[(events["platform"] == "web") & (events["event_type"] == "page_view") & ~events["is_bot"]]

    def share_of(intent: str, prefix: str) -> float:
        pages = web.loc[web["primary_intent"] == intent, "page_path"]
        return pages.str.startswith(prefix).mean()

    assert share_of("home_buying", "/mortgages") > 5 * share_of("travel_rewards", "/mortgages")
    assert share_of("travel_rewards", "/credit-cards") > 5 * share_of("retirement", "/credit-cards")
    assert share_of("fraud_concern", "/security") > 5 * share_of("car_purchase", "/security")
    assert {"none", "bot"} <= set(truth["session_intents"]["primary_intent"])


def test_complex_products_take_multi_session_journeys(world):
    _, truth, events = world
    visitors = truth["visitor_intents"]
    sessions = truth["session_intents"]
    web = sessions[sessions["platform"] == "web"]
    per_visitor = web.groupby("anonymous_id").agg(n=("true_session_id", "size"), first=("start_ts", "min"), last=("start_ts", "max"))
    home = per_visitor.loc[per_visitor.index.isin(visitors.loc[visitors["primary_intent"] == "home_buying", "anonymous_id"])]
    cards = per_visitor.loc[per_visitor.index.isin(visitors.loc[visitors["primary_intent"] == "travel_rewards", "anonymous_id"])]
    assert home["n"].median() >= 3
    assert (home["last"] - home["first"]).median() > pd.Timedelta(days=5)
    assert home["n"].mean() > cards["n"].mean()
    # applications come at the end of a journey: an apply form is rarely in a visitor's first session
    forms = events[events["event_type"] == "form_submit"]
    first_session = web.sort_values("start_ts").groupby("anonymous_id")["true_session_id"].first()
    mortgage_forms = forms[forms["page_path"].str.contains("mortgage")]
    in_first = mortgage_forms["true_session_id"].isin(first_session.values).mean()
    assert in_first < 0.5


def test_conversions_follow_applications_with_product_delays(world):
    raw, truth, events = world
    conversions = raw["conversions"]
    assert set(conversions["channel"]) == {"web", "app", "branch", "phone"}
    owner = truth["visitor_intents"].dropna(subset=["customer_id"])[["anonymous_id", "customer_id"]]
    submits = events[events["event_type"] == "form_submit"][["anonymous_id", "product_id", "event_ts"]].merge(owner, on="anonymous_id")
    web = conversions[conversions["channel"] == "web"].merge(submits, on=["customer_id", "product_id"])
    web = web[web["event_ts"] <= web["converted_ts"]]
    delay = (web["converted_ts"] - web["event_ts"]).groupby([web["conversion_id"]]).min()
    category = conversions.set_index("conversion_id")["product_id"].map({p.product_id: p.category for p in PRODUCTS})
    mortgage_delay = delay[category.loc[delay.index].isin(["mortgage", "refinance"])]
    card_delay = delay[category.loc[delay.index].isin(["credit_card"])]
    assert len(mortgage_delay) > 0 and len(card_delay) > 0
    assert mortgage_delay.min() >= pd.Timedelta(days=14) and mortgage_delay.max() <= pd.Timedelta(days=42)
    assert card_delay.max() <= pd.Timedelta(days=7)
    assert card_delay.median() < mortgage_delay.median()


def test_holdings_grow_with_conversions(world):
    raw, _, _ = world
    customers = raw["customers"]
    joined = raw["conversions"].merge(customers, on="customer_id")
    later = joined[joined["snapshot_ts"] >= joined["converted_ts"]]
    held = [product in holdings.split(";") for product, holdings in zip(later["product_id"], later["held_product_ids"])]
    assert len(held) > 0 and all(held)
    earlier = joined[joined["snapshot_ts"] < joined["converted_ts"]]
    held_before = [p in h.split(";") for p, h in zip(earlier["product_id"], earlier["held_product_ids"])]
    assert not any(held_before)


def test_the_mid_window_product_has_no_traffic_before_launch(world):
    raw, _, events = world
    launch = raw["products"].set_index("product_id").loc[LAUNCHED_PRODUCT_ID, "launched_ts"]
    window = (events["event_ts"].min(), events["event_ts"].max())
    assert window[0] < launch < window[1]
    about = events["product_id"] == LAUNCHED_PRODUCT_ID
    assert about.sum() > 0
    assert (events.loc[about, "event_ts"] >= launch).all()
    assert not events.loc[events["event_ts"] < launch, "page_path"].str.contains("horizon").any()
    tiles = raw["tile_impressions"]
    assert (tiles.loc[tiles["product_id"] == LAUNCHED_PRODUCT_ID, "impression_ts"] >= launch).all()
    conversions = raw["conversions"]
    assert (conversions.loc[conversions["product_id"] == LAUNCHED_PRODUCT_ID, "converted_ts"] >= launch).all()


def test_tile_click_rate_falls_with_position(world):
    raw, _, events = world
    tiles = raw["tile_impressions"]
    assert set(tiles.groupby("impression_id").size()) == {4}
    ctr = tiles.groupby("position")["clicked"].mean()
    assert list(ctr.index) == [1, 2, 3, 4]
    assert ctr.is_monotonic_decreasing and ctr[1] > 1.5 * ctr[4]
    assert tiles.groupby("impression_id")["clicked"].sum().max() <= 1
    offer_clicks = events[(events["event_type"] == "click") & events["page_path"].str.startswith("/app/offers/")]
    assert len(offer_clicks) == tiles["clicked"].sum()


def test_bots_are_fast_and_humans_never_look_like_bots(world):
    _, _, events = world
    per_session = events.groupby("true_session_id").agg(
        n=("event_id", "size"),
        median_dwell=("dwell_ms", "median"),
        first=("event_ts", "min"),
        last=("event_ts", "max"),
        is_bot=("is_bot", "first"),
        referrers=("referrer", "count"),
        device=("device_type", "first"),
        path=("page_path", "first"),
    )
    minutes = ((per_session["last"] - per_session["first"]).dt.total_seconds() / 60).clip(lower=1.0)
    looks_automated = ((per_session["n"] >= 20) & (per_session["median_dwell"] < 1000)) | (per_session["n"] / minutes > 30)
    humans, bots = per_session[~per_session["is_bot"]], per_session[per_session["is_bot"]]
    assert not looks_automated[~per_session["is_bot"]].any()
    crawlers = bots[bots["n"] > 1]
    scanners = bots[bots["n"] == 1]
    assert len(crawlers) > 0 and len(scanners) > 0
    assert crawlers["n"].between(30, 300).all() and (crawlers["median_dwell"] < 1000).all()
    assert (bots["referrers"] == 0).all() and set(bots["device"]) <= {"other", "desktop"}
    assert scanners["path"].isin(JUNK_PATHS).all()
    assert humans["n"].median() < 20


def test_entry_sources_and_late_delivery(world):
    _, _, events = world
    web = events[(events["platform"] == "web") & ~events["is_bot"]]
    first_event = web.groupby("true_session_id").cumcount() == 0
    assert web.loc[~first_event, "referrer"].isna().all() and web.loc[~first_event, "utm_source"].isna().all()
    assert web.loc[first_event, "referrer"].notna().mean() > 0.4
    assert events["event_id"].is_unique
    in_file_order = events.sort_values("file_position")
    inversions = (in_file_order["event_ts"].diff() < pd.Timedelta(0)).mean()
    assert 0.001 < inversions < 0.02

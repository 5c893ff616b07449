"""A product family launched mid-window with an intent of its own (clickintent.synth.launch)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clickintent.events.loader import load_and_install
from clickintent.synth import launch as launch_module
from clickintent.synth.launch import BNPL, GENERAL_PAGES, SEARCH_PATH, Launch, add_launch
from clickintent.synth.timeline import DAY, SECOND, WINDOW_DAYS, WINDOW_START
from clickintent.synth.world import build_world, people_for

EVENTS = 40_000


@pytest.fixture(scope="module")
def worlds():
    base = build_world(11, EVENTS)
    return base, add_launch(base, Launch("bnpl", day=70), people_for(EVENTS))


def test_the_base_world_is_untouched_and_its_rows_come_first(worlds) -> None:
    base, launched = worlds
    again = build_world(11, EVENTS)
    for name, table in base.raw.items():
        assert table.equals(again.raw[name]), name  # no launch: the same world as before
        assert launched.raw[name].slice(0, table.num_rows).equals(table), name
    assert launched.raw["events"].num_rows > base.raw["events"].num_rows


def test_the_new_intent_exists_only_from_the_launch_day_and_its_events_are_its_sessions(worlds) -> None:
    _, launched = worlds
    truth = launched.ground_truth["session_intents"].to_pandas()
    bnpl = truth[truth["primary_intent"] == BNPL.intent]
    assert len(bnpl) > 30 and set(bnpl["platform"]) == {"web", "app"}
    assert bnpl["start_ts"].min() >= WINDOW_START + timedelta(days=70)
    events = launched.raw["events"]
    new_pages = pc.starts_with(events["page_path"], "/pay-later")
    first = pc.min(pc.filter(events["event_ts"], new_pages)).as_py()
    assert first >= WINDOW_START + timedelta(days=70)
    # Every event has exactly one true session; ids stay unique across the base and the launch.
    event_sessions = launched.ground_truth["event_sessions"]
    assert event_sessions.num_rows == events.num_rows
    assert pc.count_distinct(events["event_id"]).as_py() == events.num_rows
    assert pc.count_distinct(truth_ids := launched.ground_truth["session_intents"]["true_session_id"]).as_py() == len(truth_ids)
    visitors = launched.ground_truth["visitor_intents"]
    assert pc.count_distinct(visitors["anonymous_id"]).as_py() == visitors.num_rows


def test_searches_conversions_and_customers_of_the_launch(worlds) -> None:
    _, launched = worlds
    events = launched.raw["events"].to_pandas()
    searches = set(events.loc[events["event_type"] == "search", "search_query"])
    assert {"pay in 4", "buy now pay later"} & searches
    assert (events["event_type"] == "calculator").any()
    conversions = launched.raw["conversions"].to_pandas()
    opened = conversions[conversions["product_id"].str.startswith("bnpl_")]
    assert len(opened) > 0
    customers = set(launched.raw["customers"].column("customer_id").to_pylist())
    assert set(opened["customer_id"]) <= customers
    app = events[(events["platform"] == "app") & events["page_path"].str.startswith("/app/pay-later")]
    assert set(app["customer_id"]) <= set(opened["customer_id"])
    products = launched.raw["products"].to_pandas().set_index("product_id")
    assert products.loc["bnpl_pay_in_4", "launched_ts"] == WINDOW_START + timedelta(days=70)


def test_the_launched_world_loads_through_the_event_contract(worlds, tmp_path) -> None:
    """`clickintent load`'s checks, cross-table ones included, accept the new family's rows."""
    _, launched = worlds
    source = tmp_path / "source"
    source.mkdir()
    for name, table in launched.raw.items():
        pq.write_table(table, source / f"{name}.parquet")
    counts = load_and_install(source, tmp_path / "raw")
    assert counts["products"] == launched.raw["products"].num_rows


@pytest.mark.parametrize(("key", "day", "message"), [("crypto", 80, "unknown launch"), ("bnpl", 119, "launch day must be")])
def test_a_bad_launch_is_refused_with_what_is_wrong(key: str, day: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Launch(key, day)


def _launch_events(base, launched):
    """The launch's events in the order they were emitted, with their true session."""
    n_base = base.raw["events"].num_rows
    events = launched.raw["events"].slice(n_base).to_pandas()
    events["ts_us"] = launched.raw["events"].column("event_ts").slice(n_base).cast(pa.int64()).to_numpy()
    events["session"] = launched.ground_truth["event_sessions"].column("true_session_id").slice(n_base).to_numpy(zero_copy_only=False)
    return events.reset_index(drop=True)


def test_the_dwell_of_an_event_is_the_gap_to_the_next_one(worlds) -> None:
    """Searches, general pages, application forms and app screens: the next event of the session
    comes the event's dwell (plus the fixed pause between steps) later."""
    events = _launch_events(*worlds)
    following = events.groupby("session", sort=False)["ts_us"].shift(-1)
    gap = following - events["ts_us"]
    pause = {"search": 5 * SECOND, "general": 5 * SECOND, "form_start": 0, "app": 3 * SECOND}
    kind = np.select(
        [
            events["event_type"].eq("search"),
            events["event_type"].eq("page_view") & events["page_path"].isin([path for path, _ in GENERAL_PAGES]),
            events["event_type"].eq("form_start"),
            events["platform"].eq("app"),
        ],
        list(pause),
        default="",
    )
    checked = (kind != "") & following.notna().to_numpy()
    assert {"search", "general", "form_start", "app"} <= set(kind[checked])
    expected = events["dwell_ms"].to_numpy(dtype=float) * 1000 + np.array([pause.get(k, 0) for k in kind])
    mismatched = events[checked & (gap.to_numpy() != expected)]
    assert mismatched.empty, mismatched[["event_type", "page_path", "dwell_ms"]].head()
    assert (events.loc[events["event_type"].eq("search"), "page_path"] == SEARCH_PATH).all()


def test_a_visitor_whose_first_visit_falls_past_the_window_is_not_counted(worlds, monkeypatch) -> None:
    """With the room before the window's end widened to three days and a launch a week before
    it, many visitors never visit: none of them appears in the ground truth or the summary."""
    base, _ = worlds
    monkeypatch.setattr(launch_module, "HOUR_ROOM", 3 * DAY)
    day = WINDOW_DAYS - 7
    launched = add_launch(base, Launch("bnpl", day=day), people_for(EVENTS))
    visitors = launched.ground_truth["visitor_intents"].slice(base.ground_truth["visitor_intents"].num_rows).to_pandas()
    sessions = launched.ground_truth["session_intents"].slice(base.ground_truth["session_intents"].num_rows).to_pandas()
    assert set(visitors["anonymous_id"]) <= set(sessions["anonymous_id"])
    drawn = max(20, round(BNPL.visitors_per_person_day * people_for(EVENTS) * 7))
    assert sessions.loc[sessions["platform"] == "web", "anonymous_id"].nunique() < drawn  # some never visited
    assert launched.summary.visitors == base.summary.visitors + len(visitors)

"""Replay evaluation: outcome labelling, the figures, and a replay of the small serving world."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from clickintent.evaluation.replay import (
    KINDS,
    POPULARITY,
    SERVICE,
    ReplayedRequest,
    ReplayRequest,
    hits,
    label_outcomes,
    popular_families,
    read_actions,
    read_logins,
    replay_document,
    report_section,
    sample_requests,
)
from clickintent.settings import Settings
from support.marts import mart_glob

T0 = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def _actions(*rows: tuple) -> pd.DataFrame:
    """(visitor_id, customer_id, ts, kind, product_id, product_family) rows as read_actions gives them."""
    columns = ["visitor_id", "customer_id", "ts", "kind", "product_id", "product_family"]
    frame = pd.DataFrame(list(rows), columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def _requests(*rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["request_id", "visitor_id", "outcome_customer_id", "request_ts"])
    frame["request_ts"] = pd.to_datetime(frame["request_ts"], utc=True)
    return frame


def _logins(*rows: tuple) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["visitor_id", "customer_id", "linked_at_ts"])
    frame["linked_at_ts"] = pd.to_datetime(frame["linked_at_ts"], utc=True)
    return frame


def test_outcomes_are_the_visitors_next_forms_and_openings_within_14_days() -> None:
    day = timedelta(days=1)
    actions = _actions(
        ("web:v1", None, T0 + 2 * day, "form_start", "mtg_30y", "home"),  # counts
        ("web:v1", None, T0 + 3 * day, "form_submit", "mtg_refi", "home"),  # same family: one outcome
        ("web:v1", None, T0 + 15 * day, "form_start", "card_cash", "cards"),  # 15 days later: too late
        ("web:v1", None, T0 - timedelta(hours=1), "form_submit", "loan_auto", "lending"),  # before the request
        ("web:v1", None, T0, "form_start", "loan_personal", "lending"),  # at the request itself: not after it
        ("web:v2", None, T0 + day, "form_start", "inv_ira", "investing"),  # another visitor
        ("app:v1", None, T0 + day, "form_start", "biz_loan", "business"),  # an app device with the same id: another visitor
        (None, "c9", T0 + 5 * day, "conversion", "dep_savings", "deposits"),  # v1 logs in as c9 in the window
        (None, "c9", T0 + 20 * day, "conversion", "ins_life", "insurance"),  # after the window
        (None, "c8", T0 + day, "conversion", "biz_checking", "business"),  # a customer v1 never logs in as
        ("web:w5", "c1", T0 + day, "form_start", "ins_home", "insurance"),  # c1 on another device
        (None, "c1", T0 + 14 * day, "conversion", "card_travel", "cards"),  # the window's last instant counts
        (None, "c1", T0, "conversion", "inv_brokerage", "investing"),  # at the request: not after it
        (None, "c3", T0 + day, "conversion", "dep_cd", "deposits"),  # c3 logged in before v3's request
    )
    logins = _logins(("web:v1", "c9", T0 + 3 * day), ("web:v3", "c3", T0 - day))
    requests = _requests(
        ("anonymous", "web:v1", None, T0),
        ("customer", "app:a1", "c1", T0),
        ("earlier_login", "web:v3", None, T0),
        ("quiet", "web:v4", None, T0),
    )

    outcomes = label_outcomes(requests, actions, logins)

    assert outcomes == {
        "anonymous": frozenset({"home", "deposits"}),
        "customer": frozenset({"insurance", "cards"}),
        "earlier_login": frozenset(),
        "quiet": frozenset(),
    }


def test_a_hit_is_a_family_not_a_product() -> None:
    # The visitor applied for one mortgage; the service recommended another mortgage first.
    assert hits(["home", "cards", "deposits"], frozenset({"home"}), 1)
    assert not hits(["cards", "deposits", "home"], frozenset({"home"}), 1)
    assert hits(["cards", "deposits", "home"], frozenset({"home"}), 3)
    assert not hits([None, "cards"], frozenset({"home"}), 3)


def test_popularity_counts_the_training_window_only() -> None:
    cutoff = T0
    actions = _actions(
        ("web:v1", None, cutoff - timedelta(days=3), "form_start", "p1", "cards"),
        ("web:v2", None, cutoff - timedelta(days=2), "form_start", "p2", "cards"),
        ("web:v3", None, cutoff - timedelta(days=2), "form_submit", "p3", "home"),
        (None, "c1", cutoff - timedelta(days=1), "conversion", "p4", "deposits"),
        *[("web:v9", None, cutoff + timedelta(hours=hour), "form_start", "p5", "lending") for hour in range(5)],  # test period
    )
    assert popular_families(actions, cutoff, ["business", "cards", "deposits", "home", "lending"]) == [
        "cards",
        "deposits",  # ties by name
        "home",
        "business",  # never seen before the cutoff: name order
        "lending",
    ]


def _replayed(kind: str, mode: str, service: list[str], outcomes: set[str]) -> ReplayedRequest:
    request = ReplayRequest(f"{kind}:{len(service)}", kind, "s", T0, "v", None)
    return ReplayedRequest(
        request, mode, False, {SERVICE: service, POPULARITY: ["deposits", "cards", "lending"]}, frozenset(outcomes), True
    )


def test_figures_per_mode_count_only_requests_with_an_outcome() -> None:
    replayed = [
        *[_replayed("app_session", "customer", ["home", "home", "home"], {"home"}) for _ in range(6)],
        *[_replayed("app_open", "customer", ["home", "home", "home"], {"cards"}) for _ in range(2)],
        *[_replayed("app_open", "customer", ["home", "home", "home"], set()) for _ in range(4)],
        *[_replayed("anonymous_session", "some_new_mode", ["deposits", "home", "cards"], {"deposits"}) for _ in range(3)],
    ]

    document = replay_document(replayed, systems=[SERVICE, POPULARITY], seed=7, header={})

    customer = document["modes"]["customer"]
    assert (customer["requests"], customer["with_outcome"], customer["without_outcome"]) == (12, 8, 4)
    assert customer["kinds"] == {"app_open": 6, "app_session": 6}
    service, popularity = customer["systems"][SERVICE], customer["systems"][POPULARITY]
    assert service["top_1_hit_rate"] == service["top_3_hit_rate"] == 0.75
    assert popularity["top_1_hit_rate"] == 0.0 and popularity["top_3_hit_rate"] == 0.25
    assert service["top_1_difference_vs_popularity"] == 0.75
    assert (service["distinct_families_in_top_3"], popularity["distinct_families_in_top_3"]) == (1.0, 3.0)
    low, high = service["top_1_difference_vs_popularity_95pct"]
    assert 0.0 < low <= 0.75 <= high <= 1.0
    assert service["top_3_difference_vs_popularity_95pct"][0] < 0.5 < service["top_3_difference_vs_popularity_95pct"][1]
    # Whatever mode strings the service returns are reported as they come.
    assert document["modes"]["some_new_mode"]["systems"][SERVICE]["top_1_hit_rate_95pct"] == [1.0, 1.0]
    assert document["by_kind"]["app_open"]["with_outcome"] == 2
    assert document["overall"]["requests"] == 15


# ---- the serving world -------------------------------------------------------------------------


def _tree_state(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and modification time, but the CLI's stage lock."""
    return {
        str(path): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in directory.rglob("*")
        if path.is_file() and not path.name.startswith(".lock")
    }


def test_replay_of_the_serving_world_reports_every_kind(serving_world: Settings, tmp_path: Path) -> None:
    import matplotlib
    import typer
    from typer.testing import CliRunner

    from clickintent.cli.report import report_command

    matplotlib.use("Agg")
    world = serving_world
    before = _tree_state(world.data_dir)
    output = tmp_path / "replay.json"
    app = typer.Typer()
    app.command()(report_command)

    result = CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(world.data_dir),
            "--models-dir",
            str(world.models_dir),
            "--replay-output",
            str(output),
            "--replay-requests",
            "12",
        ],
    )

    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    assert _tree_state(world.data_dir) == before, "the replay wrote into the data directory"
    assert not (world.reports_dir / "replay.json").exists()
    assert set(document["by_kind"]) == set(KINDS)
    for kind, group in document["by_kind"].items():
        assert 0 < group["requests"] <= 12, kind
        assert group["with_outcome"] + group["without_outcome"] == group["requests"]
    assert sum(group["requests"] for group in document["modes"].values()) == document["overall"]["requests"]
    assert document["overall"]["with_outcome"] > 0
    assert document["overall"]["degraded"] == 0
    assert len(document["baselines"][POPULARITY]["families"]) == 3
    assert document["test_window"]["from"] == _test_start(world)

    text = "\n".join(report_section(document, tmp_path / "figures"))
    assert (tmp_path / "figures" / "replay_hit_rates.png").read_bytes()[:4] == b"\x89PNG"
    for mode in document["modes"]:
        assert f"| {mode} | {document['modes'][mode]['requests']:,} |" in text


def _test_start(world: Settings) -> str:
    """The latest test split start of the trained models (the replay's first day)."""
    starts = []
    for path in world.models_dir.glob("*/model_card.json"):
        window = json.loads(path.read_text()).get("data_window") or {}
        if window.get("test_start"):
            starts.append(datetime.fromisoformat(window["test_start"]).astimezone(UTC))
    return max(starts).isoformat()


def test_replayed_events_are_live_events_up_to_the_request(serving_world: Settings) -> None:
    from serving.schemas import LiveEvent

    world = serving_world
    test_start = datetime.fromisoformat(_test_start(world))
    requests, available = sample_requests(world, test_start, 5, seed=world.seed)

    assert all(available[kind] > 0 for kind in KINDS)
    for request in requests:
        assert [LiveEvent(**event).model_dump() for event in request.events] == list(request.events)
        if request.kind == "app_open":
            assert not request.events and request.customer_id == request.outcome_customer_id is not None
            continue
        times = [event["event_ts"] for event in request.events]
        assert times == sorted(times) and request.request_ts == times[-1] and times[0] >= test_start
        if request.kind == "web_login":
            assert request.events[-1]["event_type"] == "login" and request.customer_id is None
            assert request.outcome_customer_id == request.events[-1]["customer_id"]
        elif request.kind == "app_session":
            assert request.customer_id == request.outcome_customer_id and all(event["platform"] == "app" for event in request.events)
        else:
            assert request.customer_id is None and all(event["customer_id"] is None for event in request.events)


def test_outcomes_of_anonymous_sessions_match_the_dbt_label_mart(serving_world: Settings) -> None:
    """One rule: label_outcomes agrees with fct_anonymous_session_outcomes on every anonymous session."""
    world = serving_world
    mart = mart_glob(world.marts_dir, "fct_anonymous_session_outcomes")
    with duckdb.connect() as connection:
        sessions = connection.execute(
            "select distinct session_id as request_id, visitor_id, null::varchar as outcome_customer_id, session_end_ts as request_ts "
            "from read_parquet(?) order by 1",
            [mart],
        ).df()
        expected_rows = connection.execute("select session_id, product_family from read_parquet(?) where outcome", [str(mart)]).fetchall()
    expected: dict[str, set[str]] = {request_id: set() for request_id in sessions["request_id"]}
    for session_id, family in expected_rows:
        expected[session_id].add(family)

    outcomes = label_outcomes(sessions, read_actions(world), read_logins(world))

    assert sum(bool(families) for families in expected.values()) > 0
    assert {request_id: set(families) for request_id, families in outcomes.items()} == expected

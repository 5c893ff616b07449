"""An incremental build equals a full rebuild of the same raw events (docs/incremental.md).

N days are built; then a day is appended (`generate --append`) together with a batch of crafted
events (`load --append`): a session that runs across midnight from the built days into the new
one, a late event that extends a session built days ago, and a late event that falls in the gap
between two built sessions and joins them. The incremental build's feast-tagged marts must equal
a full rebuild's of the same files, and the crafted cases must have done what they were made for.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clickintent.cli.main import app
from clickintent.events.partitions import raw_event_files
from clickintent.features.dbt import DbtBuildResult, dbt_log_dir, manifest_path, run_dbt_build
from clickintent.features.manifest import read_feast_marts
from clickintent.features.mart_equality import compare_marts
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings, load_settings

pytestmark = pytest.mark.slow
runner = CliRunner()
BUILT_DAYS = 30
TIMEOUT = timedelta(minutes=30)


def _cli(*args: str) -> None:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output


def _build_result(settings: Settings, *, full_refresh: bool = False) -> DbtBuildResult:
    result = run_dbt_build(settings, quiet=True, full_refresh=full_refresh)
    assert result.success, result.summary()
    unit_tests = [node for node in result.nodes if node.unique_id.startswith("unit_test.")]
    # an incremental build runs the same models and macros the last one unit-tested
    assert bool(unit_tests) == (result.plan or "").startswith("full: "), result.plan
    return result


def _build(settings: Settings, *, full_refresh: bool = False) -> str:
    return _build_result(settings, full_refresh=full_refresh).plan or ""


def _events(settings: Settings) -> pd.DataFrame:
    files = [str(path) for path in raw_event_files(settings.raw_dir)]
    return duckdb.sql(f"select * exclude (event_date) from read_parquet({files})").df()


def _sessions(settings: Settings) -> pd.DataFrame:
    path = mart_location(settings.marts_dir, "fct_session_sequences")
    return pq.read_table(
        path, columns=["session_id", "platform", "anonymous_id", "session_start_ts", "session_end_ts", "n_events"]
    ).to_pandas()


CROSSING_VISITOR = "crafted_midnight_visitor"
GAP_VISITOR = "crafted_gap_visitor"
RETURNING_VISITOR = "crafted_returning_visitor"
STITCHED_VISITOR = "crafted_stitched_visitor"


def _append(settings: Settings, events: list[dict], directory: Path) -> None:
    directory.mkdir()
    pd.DataFrame(events).to_parquet(directory / "events.parquet", index=False)
    _cli("load", str(directory), "--append", "--data-dir", str(settings.data_dir))


def _web_event(events: pd.DataFrame, anonymous_id: str | None = None) -> dict:
    web = events[events["platform"] == "web"]
    return web[web["anonymous_id"] == anonymous_id].iloc[0].to_dict() if anonymous_id else web.iloc[0].to_dict()


def _page_views(events: pd.DataFrame, visitor: str, start, minutes: tuple[int, ...], prefix: str) -> list[dict]:
    """Page views of a new web visitor at these minutes from `start`."""
    template = {**_web_event(events), "anonymous_id": visitor, "customer_id": None, "event_type": "page_view"}
    return [
        {**template, "event_id": f"{prefix}_{index}", "event_ts": start + timedelta(minutes=offset)} for index, offset in enumerate(minutes)
    ]


def _signed_in_visit(events: pd.DataFrame, visitor: str, start, prefix: str = "crafted_first") -> list[dict]:
    """A web visitor's page view and, a minute later, a login as a customer of the world."""
    login = events[(events["platform"] == "web") & (events["event_type"] == "login")].iloc[0].to_dict()
    return _page_views(events, visitor, start, (0,), prefix) + [
        {**login, "anonymous_id": visitor, "event_id": f"{prefix}_login", "event_ts": start + timedelta(minutes=1)}
    ]


def _unknown_event(events: pd.DataFrame, event_id: str, event_ts) -> dict:
    """A new web visitor's event of a type the contract does not know (loaded as 'other')."""
    return {
        **_web_event(events),
        "anonymous_id": event_id,
        "customer_id": None,
        "event_id": event_id,
        "event_type": "video_play",
        "event_ts": event_ts,
    }


def _extension(settings: Settings, events: pd.DataFrame, boundary) -> tuple[dict, str]:
    """A late event 10 minutes after a web session that ended a week before the boundary, whose
    visitor came back no sooner than a day later: it extends that session and nothing else."""
    sessions = _sessions(settings).sort_values(["anonymous_id", "session_start_ts"])
    web = sessions[(sessions["platform"] == "web") & ~sessions["anonymous_id"].str.startswith("crafted_")]
    next_start = web.groupby("anonymous_id")["session_start_ts"].shift(-1)
    alone = web[(web["session_end_ts"] < boundary - timedelta(days=7)) & ~(next_start < web["session_end_ts"] + timedelta(days=1))]
    session = alone.iloc[-1]
    late = {
        **_web_event(events, session["anonymous_id"]),
        "event_id": "crafted_late",
        "event_ts": session["session_end_ts"] + timedelta(minutes=10),
    }
    return late, session["anonymous_id"]


def test_incremental_build_equals_a_full_rebuild_of_the_same_events(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    _cli("generate", "--events", "60000", "--days", str(BUILT_DAYS), "--data-dir", str(settings.data_dir))
    events = _events(settings)
    boundary = events["event_ts"].max().normalize() + timedelta(days=1)  # midnight before the appended day
    # built now: a session that starts before the boundary, and two sessions 50 minutes apart
    gap_day = boundary - timedelta(days=3)
    _append(
        settings,
        _page_views(events, CROSSING_VISITOR, boundary, (-20, -12), "crafted_before")
        + _page_views(events, GAP_VISITOR, gap_day, (600, 605, 655, 660), "crafted_gap")
        + _signed_in_visit(events, RETURNING_VISITOR, events["event_ts"].min())
        + _page_views(events, STITCHED_VISITOR, boundary - timedelta(days=5), (0, 3), "crafted_anonymous")
        + [_unknown_event(events, "crafted_unknown_before", boundary - timedelta(hours=6))],
        tmp_path / "before",
    )
    assert _build(settings).startswith("full: no successful build recorded")
    sessions_before = _sessions(settings)
    sequence_days = settings.marts_dir / "fct_session_sequences"
    files_before = {path.name: path.stat().st_ino for path in sequence_days.iterdir()}
    impression_days = settings.marts_dir / "fct_tile_impressions"
    impression_files_before = {path.name: path.stat().st_ino for path in impression_days.iterdir()}

    # appended: the day; the rest of the session across midnight; a late event in the gap that
    # joins the two sessions; a late event that extends a session a week old
    extension, extended = _extension(settings, events, boundary)
    _cli("generate", "--append", "--days", "1", "--data-dir", str(settings.data_dir))
    late = [extension, *_page_views(events, GAP_VISITOR, gap_day, (630,), "crafted_join")]
    # and a visitor back more than the journeys' 30 days after its signed-in first visit, and
    # one signing in whose anonymous visit before the boundary the login stitches
    back = _page_views(events, RETURNING_VISITOR, boundary + timedelta(hours=12), (0, 1), "crafted_back")
    back += _signed_in_visit(events, STITCHED_VISITOR, boundary + timedelta(hours=2), "crafted_sign_in")
    back += [_unknown_event(events, "crafted_unknown_after", boundary + timedelta(hours=6))]
    _append(settings, late + back + _page_views(events, CROSSING_VISITOR, boundary, (5, 15), "crafted_after"), tmp_path / "after")

    incremental = _build_result(settings)
    assert incremental.plan.startswith("incremental: ") and "new raw event file(s)" in incremental.plan, incremental.plan
    full = load_settings(data_dir=tmp_path / "full")
    shutil.copytree(settings.raw_dir, full.raw_dir)
    rebuilt = _build_result(full, full_refresh=True)
    assert rebuilt.plan == "full: full refresh asked for"
    # an incremental build counts the unknown event types of the new files, a full one all
    assert "warn: stg_events_unknown_event_types: 1 rows" in incremental.summary()
    assert "warn: stg_events_unknown_event_types: 2 rows" in rebuilt.summary()

    feast_marts = [mart.model for mart in read_feast_marts(manifest_path(settings))]
    assert len(feast_marts) >= 10
    # and the links the customer features are made of, among them a session before the
    # boundary stitched to the login after it
    assert compare_marts(settings.marts_dir, full.marts_dir, [*feast_marts, "fct_web_login_links"]) == {}
    links = pq.read_table(mart_location(settings.marts_dir, "fct_web_login_links")).to_pandas()
    stitched = links[(links["anonymous_id"] == STITCHED_VISITOR) & (links["link_method"] == "stitched")]
    assert (stitched["session_end_ts"] < boundary).all() and (stitched["linked_at_ts"] >= boundary).all() and len(stitched) == 1
    # the sequence mart's days before the earliest one rebuilt are the files the first build
    # wrote (hard links), the others were written again; the late events' days among them
    files_after = {path.name: path.stat().st_ino for path in sequence_days.iterdir()}
    carried = {name for name, inode in files_after.items() if files_before.get(name) == inode}
    rewritten = set(files_after) - carried
    assert carried and rewritten and max(carried) < min(rewritten)
    for event in late:
        assert f"{pd.Timestamp(event['event_ts']).tz_convert('UTC'):%Y-%m-%d}.parquet" in rewritten
    # the tile impressions arrive as a whole table: only the appended day's file is new
    impression_files = {path.name: path.stat().st_ino for path in impression_days.iterdir()}
    assert {name for name, inode in impression_files.items() if impression_files_before.get(name) != inode} == {
        f"{boundary:%Y-%m-%d}.parquet"
    }

    after = _sessions(settings)

    def of(frame: pd.DataFrame, visitor: str) -> pd.DataFrame:
        return frame[(frame["anonymous_id"] == visitor) & (frame["platform"] == "web")]

    crossing = of(after, CROSSING_VISITOR)
    assert len(crossing) == 1 and crossing["n_events"].iloc[0] == 4  # one session across midnight
    assert crossing["session_start_ts"].iloc[0] < boundary < crossing["session_end_ts"].iloc[0]
    assert len(of(sessions_before, GAP_VISITOR)) == 2
    assert of(after, GAP_VISITOR)["n_events"].tolist() == [5]
    extended_before, extended_after = of(sessions_before, extended), of(after, extended)
    assert len(extended_after) == len(extended_before)
    assert extended_after["n_events"].sum() == extended_before["n_events"].sum() + 1
    journeys = pq.read_table(mart_location(settings.marts_dir, "fct_visitor_journeys")).to_pandas()
    returned = journeys[journeys["visitor_id"] == f"web:{RETURNING_VISITOR}"].sort_values("as_of_ts")
    # the last journey row counts only its own session, yet knows the visit before its window
    assert returned["n_sessions_30d"].tolist() == [1, 1]
    assert returned["has_logged_in_before"].tolist() == [True, True]
    assert returned["days_since_previous_session"].iloc[-1] > 30


def test_a_rewritten_raw_file_or_new_settings_rebuild_in_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    _cli("generate", "--events", "5000", "--days", "5", "--data-dir", str(settings.data_dir))
    _build(settings)
    log = dbt_log_dir(settings) / "dbt.log"
    logged_before = log.stat().st_size
    assert "[debug]" not in log.read_text()  # dbt.log holds each node's result, not its statements
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # dbt's own setting brings them back
    assert _build(settings) == "incremental: 0 new raw event file(s)"
    # the same settings and project: dbt reuses its parse (a full one costs seconds a build)
    logged = log.read_bytes()[logged_before:].decode()
    assert "Partial parsing enabled" in logged and "Unable to do partial parsing" not in logged
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE")

    # a file put into a partition by hand, not by `clickintent load`: the incremental build,
    # which checks the new files' events only, still finds its event without an id
    first = raw_event_files(settings.raw_dir)[0]
    row = pq.read_table(first).slice(0, 1).to_pylist()[0] | {"event_id": None}
    by_hand = first.parent / "by-hand.parquet"
    schema = pq.read_schema(first)
    nullable = pa.schema([field.with_nullable(True) for field in schema])  # the contract's writer would refuse it
    pq.write_table(pa.Table.from_pylist([row], schema=nullable), by_hand)
    result = run_dbt_build(settings, quiet=True)
    assert not result.success and "stg_events_rows_are_valid" in result.summary(), result.summary()
    by_hand.unlink()
    # its tables changed, its marts did not: the next build rewrites every day of every mart
    assert _build(settings) == "full: no successful build recorded for this warehouse, or the last build did not finish"

    longer_sessions = settings.model_copy(update={"session_timeout_minutes": 45})
    assert _build(longer_sessions) == "full: changed since the last build: dbt variables"

    first = raw_event_files(settings.raw_dir)[0]
    table = pq.read_table(first)
    pq.write_table(table.slice(0, table.num_rows - 1), first)  # history rewritten under the build
    plan = _build(longer_sessions)
    assert plan.startswith("full: raw event files changed or removed since the last build: events/event_date=2026-01-05/"), plan


def test_a_page_that_maps_differently_now_rebuilds_every_session(tmp_path: Path) -> None:
    """A new URL section adds a top node, which lengthens every session's top_node_events: the
    incremental build then builds every session again, and still equals a full rebuild."""
    settings = load_settings(data_dir=tmp_path / "data")
    _cli("generate", "--events", "5000", "--days", "20", "--data-dir", str(settings.data_dir))
    _build(settings)
    top_nodes_before = pq.read_table(settings.marts_dir / "dim_taxonomy_top_nodes.parquet").num_rows
    events = _events(settings)
    visit = _page_views(events, "crafted_new_section_visitor", events["event_ts"].max(), (1, 2), "crafted_section")
    _append(settings, [{**event, "page_path": "/crafted-section/overview"} for event in visit], tmp_path / "new_section")

    assert _build(settings).startswith("incremental: 1 new raw event file(s)")
    assert pq.read_table(settings.marts_dir / "dim_taxonomy_top_nodes.parquet").num_rows == top_nodes_before + 1
    full = load_settings(data_dir=tmp_path / "full")
    shutil.copytree(settings.raw_dir, full.raw_dir)
    _build(full, full_refresh=True)
    feast_marts = [mart.model for mart in read_feast_marts(manifest_path(settings))]
    assert compare_marts(settings.marts_dir, full.marts_dir, feast_marts) == {}


def _outcomes(settings: Settings) -> pd.DataFrame:
    return pq.read_table(mart_location(settings.marts_dir, "fct_anonymous_session_outcomes")).to_pandas()


def _rebuilt_in_full_equals(settings: Settings, full: Settings) -> None:
    shutil.rmtree(full.data_dir, ignore_errors=True)
    shutil.copytree(settings.raw_dir, full.raw_dir)
    _build(full, full_refresh=True)
    feast_marts = [mart.model for mart in read_feast_marts(manifest_path(settings))]
    assert compare_marts(settings.marts_dir, full.marts_dir, feast_marts) == {}


def test_late_forms_and_conversions_reopen_outcomes_older_than_the_open_windows(tmp_path: Path) -> None:
    """An anonymous session's outcome looks 14 days ahead. The last build left the rows of the
    last 14 days open (their window incomplete) and rebuilds them anyway; these two reach
    further back: a late application form a visitor started an hour after an anonymous session
    15 days before the data's end, and a conversion recorded late, of a customer who signed in
    after an anonymous session older still. Each is built incrementally on its own and must
    equal a full rebuild."""
    settings = load_settings(data_dir=tmp_path / "data")
    full = load_settings(data_dir=tmp_path / "full")
    _cli("generate", "--events", "60000", "--days", str(BUILT_DAYS), "--data-dir", str(settings.data_dir))
    _build(settings)
    events, outcomes = _events(settings), _outcomes(settings)
    data_end = events["event_ts"].max()
    window = timedelta(days=14)
    sessions = outcomes.drop_duplicates("web_session_id").sort_values("session_end_ts")

    # a late form: an hour after an anonymous session that ended 14-16 days before the data's end
    old = sessions[sessions["session_end_ts"].between(data_end - timedelta(days=16), data_end - window - timedelta(hours=2))]
    session = old.iloc[0]
    form = events[(events["platform"] == "web") & (events["event_type"] == "form_start")].iloc[0].to_dict()
    late_form = {**form, "anonymous_id": session["anonymous_id"], "customer_id": None, "event_id": "crafted_late_form"}
    late_form["event_ts"] = session["session_end_ts"] + timedelta(hours=1)
    _append(settings, [late_form], tmp_path / "late_form")
    assert _build(settings).startswith("incremental: 1 new raw event file(s)")
    row = _outcomes(settings)
    row = row[(row["web_session_id"] == session["web_session_id"]) & row["outcome_product_ids"].map(lambda ids: form["product_id"] in ids)]
    assert len(row) == 1 and row["n_form_starts_after"].iloc[0] >= 1
    _rebuilt_in_full_equals(settings, full)

    # a late conversion: the customer of a login that followed an older anonymous session
    links = pq.read_table(mart_location(settings.marts_dir, "fct_web_login_links")).to_pandas()
    links = links[links["link_method"] == "web_session_login"]
    linked = sessions.merge(links[["anonymous_id", "customer_id", "linked_at_ts"]], on="anonymous_id")
    linked = linked[
        (linked["linked_at_ts"] > linked["session_end_ts"])
        & (linked["linked_at_ts"] <= linked["session_end_ts"] + window - timedelta(minutes=1))
        & (linked["session_end_ts"] < data_end - window - timedelta(days=1))
    ]
    target = linked.iloc[0]
    conversions = pq.read_table(settings.raw_dir / "conversions.parquet")
    late_conversion = conversions.slice(0, 1).to_pylist()[0] | {
        "conversion_id": "crafted_late_conversion",
        "customer_id": target["customer_id"],
        "converted_ts": target["linked_at_ts"] + timedelta(seconds=30),
    }
    appended = pa.concat_tables([conversions, pa.Table.from_pylist([late_conversion], schema=conversions.schema)])
    pq.write_table(appended, settings.raw_dir / "conversions.parquet")
    assert _build(settings) == "incremental: 0 new raw event file(s)"
    rows = _outcomes(settings)
    assert rows[rows["web_session_id"] == target["web_session_id"]]["n_conversions_after"].sum() >= 1
    _rebuilt_in_full_equals(settings, full)


def test_a_partitioned_mart_must_name_its_scope_as_a_dependency(tmp_path: Path) -> None:
    """Without the dependency dbt may build the mart before its scope, which then holds the last
    build's rows: the mart would carry over days it should have written again."""
    project = tmp_path / "project"
    repository = load_settings().project_dir
    shutil.copytree(repository / "dbt_project", project / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "dbt_project" / "models" / "marts" / "fct_tile_impressions.sql"
    dependency = "-- depends_on: {{ ref('int_tile_impression_scope') }}\n"
    assert dependency in model.read_text()
    model.write_text(model.read_text().replace(dependency, ""))
    settings = load_settings(data_dir=tmp_path / "data", project_dir=project)
    _cli("generate", "--events", "2000", "--days", "3", "--data-dir", str(settings.data_dir))

    result = run_dbt_build(settings, select="stg_tile_impressions fct_tile_impressions", quiet=True)

    assert not result.success
    (failed,) = [node for node in result.nodes if node.name == "fct_tile_impressions"]
    assert "must name its rebuilt_from_scope as a dependency: -- depends_on: {{ ref('int_tile_impression_scope') }}" in failed.message

"""The validating loader: bad input is rejected with file, row and field named, and loses nothing."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.events import ContractError, load_and_install, load_source_dir
from clickintent.events.contract import EVENTS, MAX_DWELL_MS, MAX_ID_CHARS, MAX_TEXT_CHARS, RAW_TABLES
from support.contract_frames import events_frame, products_frame


def _write_source(directory: Path, events: pd.DataFrame, fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        events.to_csv(directory / "events.csv", index=False)
    else:
        events.to_parquet(directory / "events.parquet", index=False)
    products_frame().to_csv(directory / "products.csv", index=False)
    return directory


def _digest(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.glob("*.parquet"))}


def test_valid_csv_source_is_conformed_to_the_contract(tmp_path):
    tables = load_source_dir(_write_source(tmp_path / "src", events_frame()))
    events = tables["events"]
    assert events.schema.equals(EVENTS.arrow_schema())
    # an offset timestamp is converted to UTC, an empty dwell is null
    assert str(events.column("event_ts")[2].as_py()) == "2026-02-01 09:03:00+00:00"
    assert events.column("dwell_ms").to_pylist() == [12000, 3000, None]
    # tables the source did not provide exist, empty, with the contract's schema
    assert tables["tile_impressions"].num_rows == 0
    assert tables["tile_impressions"].schema.equals(RAW_TABLES["tile_impressions"].arrow_schema())


@pytest.mark.parametrize(
    ("corrupt", "row", "field", "fragment"),
    [
        (lambda f: f.drop(columns=["platform"]), None, "platform", "missing column"),
        (lambda f: f.assign(dwell_ms=["12000", "twelve", "1"]), 2, "dwell_ms", "'twelve' is not an integer"),
        (
            lambda f: f.assign(event_ts=["2026-02-01T10:00:00Z", "2026-02-01T10:01:30Z", "yesterday"]),
            3,
            "event_ts",
            "'yesterday' is not a UTC timestamp",
        ),
        (lambda f: f.assign(event_id=["e1", "e2", "e1"]), 3, "event_id", "duplicate key event_id='e1' (first seen at row 1)"),
        (lambda f: f.assign(platform=["web", "tv", "app"]), 2, "platform", "'tv' is not one of web, app"),
        (lambda f: f.assign(anonymous_id=["a1", None, "d9"]), 2, "anonymous_id", "is empty"),
    ],
    ids=["missing-column", "wrong-type", "unparseable-timestamp", "duplicate-event-id", "not-allowed", "null"],
)
def test_bad_input_names_file_row_and_field_and_keeps_previous_outputs(tmp_path, corrupt, row, field, fragment):
    raw_dir = tmp_path / "data" / "raw"
    load_and_install(_write_source(tmp_path / "good", events_frame()), raw_dir)
    before = _digest(raw_dir)

    bad_source = _write_source(tmp_path / "bad", corrupt(events_frame()))
    with pytest.raises(ContractError) as caught:
        load_and_install(bad_source, raw_dir)

    message = str(caught.value)
    assert "events.csv" in message
    assert f"field '{field}'" in message
    assert fragment in message
    if row is not None:
        assert f"row {row}," in message
    assert _digest(raw_dir) == before, "a rejected load must leave the previous raw tables untouched"
    assert not list(raw_dir.parent.glob(".raw.*")), "no staging leftovers"


def test_parquet_with_wrong_physical_type_is_rejected(tmp_path):
    frame = events_frame()
    frame["dwell_ms"] = [True, False, True]
    source = _write_source(tmp_path / "src", frame, fmt="parquet")
    with pytest.raises(ContractError, match=r"events.parquet, row 1, field 'dwell_ms': True is not an integer"):
        load_source_dir(source)


def test_parquet_source_round_trips_and_reload_is_idempotent(tmp_path):
    source = _write_source(tmp_path / "src", events_frame(), fmt="parquet")
    raw_dir = tmp_path / "data" / "raw"
    load_and_install(source, raw_dir)
    first = _digest(raw_dir)
    load_and_install(source, raw_dir)
    assert _digest(raw_dir) == first
    assert pq.read_table(raw_dir / "events.parquet").num_rows == 3


def test_missing_required_table_is_named(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    products_frame().to_csv(source / "products.csv", index=False)
    with pytest.raises(ContractError, match="required table 'events' is missing"):
        load_source_dir(source)


# ---------------------------------------------------------------------------------------------
# the contract's limits, shared with the service's request schema (serving/schemas.py)


@pytest.mark.parametrize(
    ("column", "values", "row", "fragment"),
    [
        ("event_id", ["e1", "", "e3"], 2, "is blank; an identifier needs a value"),
        ("anonymous_id", ["a1", "   ", "d9"], 2, "is blank"),
        ("customer_id", [None, "c 1", "c1"], 2, "contains a space or a control character"),
        ("anonymous_id", ["a1", "a1", "d\x009"], 3, "contains a space or a control character"),
        ("event_id", ["e1", "e2", "e" * 129], 3, "has 129 characters; an identifier has at most 128"),
        ("dwell_ms", [12000, 2**63 - 1, None], 2, "is above 2.14748e+09"),
        ("page_title", ["ok", "x" * 10_000_000, None], 2, "has 10000000 characters; at most 1000"),
        ("page_path", ["/a", "/b\n/etc", "/c"], 2, "contains a control character"),
        ("page_path", ["/a", "", "/c"], 2, "is blank, but the contract requires a value"),
        ("search_query", [None, "x\ty", None], 2, "contains a control character"),
    ],
    ids=[
        "empty-id",
        "whitespace-id",
        "space-in-id",
        "nul-in-id",
        "long-id",
        "dwell-max",
        "huge-title",
        "newline-path",
        "empty-path",
        "tab-query",
    ],
)
def test_parquet_rows_breaking_a_limit_are_rejected_with_the_rule_and_its_count(tmp_path, column, values, row, fragment):
    frame = events_frame()
    frame["dwell_ms"] = pd.array([12000, 3000, None], dtype="Int64")
    frame[column] = pd.array(values, dtype="Int64") if column == "dwell_ms" else values
    raw_dir = tmp_path / "data" / "raw"
    with pytest.raises(ContractError) as caught:
        load_and_install(_write_source(tmp_path / "src", frame, fmt="parquet"), raw_dir)
    message = str(caught.value)
    assert f"events.parquet, row {row}, field '{column}'" in message
    assert fragment in message
    assert "(1 row breaks this rule)" in message
    assert "x" * 100 not in message, "a long value is not echoed whole"
    assert not raw_dir.exists(), "nothing is installed"


@pytest.mark.parametrize(
    ("timestamp", "fragment"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00+00:00 is before 2000-01-01"),
        (datetime(9999, 12, 31, tzinfo=UTC), "is more than 1 day, 0:00:00 after the time of loading"),
    ],
)
def test_event_times_outside_the_window_are_rejected(tmp_path, timestamp, fragment):
    frame = events_frame()
    frame["event_ts"] = [timestamp, datetime(2026, 2, 1, tzinfo=UTC), timestamp]
    with pytest.raises(ContractError) as caught:
        load_source_dir(_write_source(tmp_path / "src", frame, fmt="parquet"))
    message = str(caught.value)
    assert "row 1, field 'event_ts'" in message and fragment in message
    assert "(2 rows break this rule)" in message


def test_many_bad_rows_are_counted_beyond_the_ones_listed(tmp_path):
    frame = pd.concat([events_frame()] * 4, ignore_index=True)
    frame["event_id"] = [f"e{i}" for i in range(len(frame))]
    frame["anonymous_id"] = ""
    with pytest.raises(ContractError) as caught:
        load_source_dir(_write_source(tmp_path / "src", frame, fmt="parquet"))
    message = str(caught.value)
    assert "(12 rows break this rule)" in message
    assert "row 5, field 'anonymous_id'" in message and "row 6," not in message  # the first rows are listed


def test_the_service_refuses_what_the_loader_refuses():
    """One definition: serving/schemas.py reads the contract's limits."""
    from pydantic import ValidationError

    from serving.schemas import LiveEvent

    good = {
        "event_id": "e1",
        "event_ts": "2026-02-01T10:00:00Z",
        "platform": "web",
        "anonymous_id": "a1",
        "event_type": "page_view",
        "page_path": "/x",
        "device_type": "desktop",
    }
    LiveEvent(**good)
    for field, value in [
        ("event_id", " "),
        ("anonymous_id", "a\x00b"),
        ("event_id", "e" * (MAX_ID_CHARS + 1)),
        ("event_ts", "0001-01-01T00:00:00Z"),
        ("event_ts", "1999-12-31T23:59:59Z"),
        ("dwell_ms", MAX_DWELL_MS + 1),
        ("page_path", "/b\n/etc"),
        ("page_title", "x" * (MAX_TEXT_CHARS + 1)),
        ("search_query", "x\ty"),
    ]:
        with pytest.raises(ValidationError):
            LiveEvent(**{**good, field: value})


# ---------------------------------------------------------------------------------------------
# files that are not what they claim


def test_a_repeated_csv_column_is_named(tmp_path):
    source = _write_source(tmp_path / "src", events_frame())
    text = (source / "events.csv").read_text().splitlines()
    (source / "events.csv").write_text("\n".join([text[0] + ",page_path"] + [line + ",/x" for line in text[1:]]) + "\n")
    with pytest.raises(ContractError, match=r"events.csv, field 'page_path': appears 2 times in the header; keep one"):
        load_source_dir(source)


def test_a_repeated_parquet_column_is_named(tmp_path):
    source = _write_source(tmp_path / "src", events_frame(), fmt="parquet")
    table = pq.read_table(source / "events.parquet")
    pq.write_table(table.append_column("platform", table.column("platform")), source / "events.parquet")
    with pytest.raises(ContractError, match=r"events.parquet, field 'platform': appears 2 times"):
        load_source_dir(source)


def test_a_latin1_file_names_the_encoding_the_line_and_the_fix(tmp_path):
    frame = events_frame()
    frame["page_title"] = ["Mortgage Rates", "Log in", "Épargne"]
    source = _write_source(tmp_path / "src", frame)
    (source / "events.csv").write_bytes(frame.to_csv(index=False).encode("latin-1"))
    with pytest.raises(ContractError) as caught:
        load_source_dir(source)
    message = str(caught.value)
    assert "events.csv: is not UTF-8: invalid byte at line 4" in message
    assert "re-encode the file as UTF-8" in message


@pytest.mark.parametrize(
    ("separator", "said"), [(";", "delimiter ';' (semicolon)"), ("\t", "delimiter '\\t' (tab)")], ids=["semicolon", "tab"]
)
def test_a_semicolon_or_tab_separated_file_with_quoted_headers_is_read_and_said(tmp_path, separator, said):
    source = _write_source(tmp_path / "src", events_frame())
    events_frame().to_csv(source / "events.csv", index=False, sep=separator, quoting=csv.QUOTE_ALL)
    products_frame().to_csv(source / "products.csv", index=False, sep=separator, quoting=csv.QUOTE_ALL)
    assert (source / "events.csv").read_text().startswith(f'"event_id"{separator}"event_ts"')
    reported: list[str] = []
    counts = load_and_install(source, tmp_path / "data" / "raw", report=reported.append)
    assert counts["events"] == 3 and counts["products"] == 1
    events = pq.read_table(tmp_path / "data" / "raw" / "events.parquet")
    assert events.column("page_path").to_pylist() == ["/mortgages/rates", "/login", "/app/accounts/overview"]
    assert events.column("dwell_ms").to_pylist() == [12000, 3000, None]
    said_about_events = next(line for line in reported if "events.csv" in line)
    assert said in said_about_events and "quote '\"'" in said_about_events and "header row" in said_about_events
    assert "UTF-8" in said_about_events


def test_a_file_without_a_header_row_is_named(tmp_path):
    source = _write_source(tmp_path / "src", events_frame())
    (source / "products.csv").write_text("1,2.5,3\n4,5.5,6\n7,8.5,9\n")
    with pytest.raises(ContractError, match=r"products.csv: has no header row \(its first row reads as data\)"):
        load_source_dir(source)


def test_a_utf16_file_is_read(tmp_path):
    source = _write_source(tmp_path / "src", events_frame())
    (source / "events.csv").write_bytes(events_frame().to_csv(index=False, sep=";").encode("utf-16"))
    reported: list[str] = []
    assert load_source_dir(source, report=reported.append)["events"].num_rows == 3
    assert any("events.csv" in line and "UTF-16" in line for line in reported)


def test_an_unknown_event_type_is_kept_as_other_and_counted(tmp_path):
    frame = events_frame().assign(event_type=["page_view", "video_play", "consent_given"])
    reported: list[str] = []
    events = load_source_dir(_write_source(tmp_path / "src", frame), report=reported.append)["events"]
    assert events.column("event_type").to_pylist() == ["page_view", "other", "other"]
    assert any(
        "2 row(s) with a event_type the contract does not know, kept as 'other'" in line and "'video_play' (1)" in line for line in reported
    )


def test_segments_channels_and_devices_come_from_the_data(tmp_path):
    source = _write_source(tmp_path / "src", events_frame().assign(device_type=["desktop", "smart_tv", "watch"]))
    products_frame().assign(target_segment="private_banking").to_csv(source / "products.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["c1"],
            "snapshot_ts": ["2026-01-01T00:00:00Z"],
            "segment": ["private_banking"],
            "tenure_months": ["12"],
            "age_band": [None],
            "held_product_ids": ["p_mort30"],
            "total_balance_usd": [None],
        }
    ).to_csv(source / "customers.csv", index=False)
    pd.DataFrame(
        {
            "conversion_id": ["v1"],
            "customer_id": ["c1"],
            "product_id": ["p_mort30"],
            "converted_ts": ["2026-02-02T00:00:00Z"],
            "channel": ["video_call"],
        }
    ).to_csv(source / "conversions.csv", index=False)
    tables = load_source_dir(source)
    assert tables["products"].column("target_segment").to_pylist() == ["private_banking"]
    assert tables["customers"].column("segment").to_pylist() == ["private_banking"]
    assert tables["conversions"].column("channel").to_pylist() == ["video_call"]
    assert tables["events"].column("device_type").to_pylist() == ["desktop", "smart_tv", "watch"]


def test_any_product_family_is_accepted_and_a_malformed_one_is_rejected_before_anything_is_written(tmp_path):
    """Families are the catalogue's (docs/sources.md, "Value sets"): a family the synthetic world
    does not have loads as it is; 'none' (the conversion labels' "no product opened"), a blank
    family and one with a control character are refused with file, row and field."""
    raw_dir = tmp_path / "data" / "raw"
    source = _write_source(tmp_path / "new_family", events_frame())
    products_frame().assign(family="wealth_management").to_csv(source / "products.csv", index=False)
    load_and_install(source, raw_dir)
    assert set(pq.read_table(raw_dir / "products.parquet")["family"].to_pylist()) == {"wealth_management"}
    before = _digest(raw_dir)
    for family, problem in (
        ("none", "'none' is reserved: the conversion labels use 'none' for no product opened"),
        ("   ", "is blank, but the contract requires a value"),
        ("pen\tsions", "contains a control character"),
    ):
        source = _write_source(tmp_path / f"src_{len(problem)}", events_frame())
        products_frame().assign(family=family).to_csv(source / "products.csv", index=False)
        with pytest.raises(ContractError) as caught:
            load_and_install(source, raw_dir)
        assert "products.csv, row 1, field 'family': " in str(caught.value) and problem in str(caught.value), family
    assert _digest(raw_dir) == before


def test_a_load_keeps_the_tracker_tables_beside_the_contract_tables(tmp_path):
    raw_dir = tmp_path / "data" / "raw"
    load_and_install(_write_source(tmp_path / "first", events_frame()), raw_dir)
    # docs/sources.md: a tracker's own tables go in raw/ beside the contract's
    (raw_dir / "snowplow_events.parquet").write_bytes(b"a tracker's atomic.events")
    (raw_dir / "segment_pages.parquet").write_bytes(b"a tracker's pages")
    second = _write_source(tmp_path / "second", events_frame().iloc[:1])
    load_and_install(second, raw_dir)
    assert (raw_dir / "snowplow_events.parquet").read_bytes() == b"a tracker's atomic.events"
    assert (raw_dir / "segment_pages.parquet").read_bytes() == b"a tracker's pages"
    assert pq.read_table(raw_dir / "events.parquet").num_rows == 1
    assert sorted(path.name for path in raw_dir.iterdir()) == sorted(
        [*(f"{name}.parquet" for name in RAW_TABLES), "snowplow_events.parquet", "segment_pages.parquet"]
    )


def test_a_load_for_a_tracker_shape_needs_no_contract_events(tmp_path):
    source = tmp_path / "catalogue"
    source.mkdir()
    products_frame().to_csv(source / "products.csv", index=False)
    with pytest.raises(ContractError, match="required table 'events' is missing"):
        load_source_dir(source)
    counts = load_and_install(source, tmp_path / "data" / "raw", source_shape="snowplow")
    assert counts["products"] == 1 and counts["events"] == 0


def test_a_symbolic_link_is_refused_and_its_target_not_read(tmp_path):
    target = tmp_path / "secret.csv"
    target.write_text("root:x:0:0:root:/root:/bin/bash\n")
    source = _write_source(tmp_path / "src", events_frame())
    (source / "events.csv").unlink()
    (source / "events.csv").symlink_to(target)
    with pytest.raises(ContractError) as caught:
        load_source_dir(source)
    assert "events.csv: is a symbolic link; copy the file itself" in str(caught.value)
    assert "root:x" not in str(caught.value)


def test_a_ragged_csv_row_is_reported_without_echoing_it(tmp_path):
    source = _write_source(tmp_path / "src", events_frame())
    with (source / "events.csv").open("a") as handle:
        handle.write("secret-value-1,secret-value-2\n")
    with pytest.raises(ContractError) as caught:
        load_source_dir(source)
    assert "events.csv: cannot be read as CSV" in str(caught.value)
    assert "secret-value" not in str(caught.value)

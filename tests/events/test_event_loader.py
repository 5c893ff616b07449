"""The validating loader: bad input is rejected with file, row and field named, and loses nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from clickintent.events import ContractError, load_and_install, load_source_dir
from clickintent.events.contract import EVENTS, RAW_TABLES


def _events_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": ["e1", "e2", "e3"],
            "event_ts": ["2026-02-01T10:00:00Z", "2026-02-01T10:01:30Z", "2026-02-01T10:03:00+01:00"],
            "platform": ["web", "web", "app"],
            "anonymous_id": ["a1", "a1", "d9"],
            "customer_id": [None, "c1", "c1"],
            "event_type": ["page_view", "login", "screen_view"],
            "page_path": ["/mortgages/rates", "/login", "/app/accounts/overview"],
            "page_title": ["Mortgage Rates", "Log in", "Accounts"],
            "search_query": [None, None, None],
            "dwell_ms": ["12000", "3000", ""],
            "referrer": ["google.com", None, None],
            "utm_source": [None, None, None],
            "device_type": ["desktop", "desktop", "mobile"],
            "product_id": ["p_mort30", None, None],
        }
    )


def _products_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "product_id": ["p_mort30"],
            "product_name": ["30-Year Fixed Mortgage"],
            "family": ["home"],
            "category": ["mortgage"],
            "launched_ts": ["2020-01-01T00:00:00Z"],
            "annual_fee_usd": [None],
            "interest_rate_pct": ["6.1"],
            "min_opening_usd": ["50000"],
            "target_segment": [None],
            "complexity": ["3"],
        }
    )


def _write_source(directory: Path, events: pd.DataFrame, fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        events.to_csv(directory / "events.csv", index=False)
    else:
        events.to_parquet(directory / "events.parquet", index=False)
    _products_frame().to_csv(directory / "products.csv", index=False)
    return directory


def _digest(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.glob("*.parquet"))}


def test_valid_csv_source_is_conformed_to_the_contract(tmp_path):
    tables = load_source_dir(_write_source(tmp_path / "src", _events_frame()))
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
    load_and_install(_write_source(tmp_path / "good", _events_frame()), raw_dir)
    before = _digest(raw_dir)

    bad_source = _write_source(tmp_path / "bad", corrupt(_events_frame()))
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
    frame = _events_frame()
    frame["dwell_ms"] = [True, False, True]
    source = _write_source(tmp_path / "src", frame, fmt="parquet")
    with pytest.raises(ContractError, match=r"events.parquet, row 1, field 'dwell_ms': True is not an integer"):
        load_source_dir(source)


def test_parquet_source_round_trips_and_reload_is_idempotent(tmp_path):
    source = _write_source(tmp_path / "src", _events_frame(), fmt="parquet")
    raw_dir = tmp_path / "data" / "raw"
    load_and_install(source, raw_dir)
    first = _digest(raw_dir)
    load_and_install(source, raw_dir)
    assert _digest(raw_dir) == first
    assert pq.read_table(raw_dir / "events.parquet").num_rows == 3


def test_missing_required_table_is_named(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    _products_frame().to_csv(source / "products.csv", index=False)
    with pytest.raises(ContractError, match="required table 'events' is missing"):
        load_source_dir(source)

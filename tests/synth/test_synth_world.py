"""The synthetic world as a source: contract-conformant raw tables, ground truth kept apart,
deterministic for a seed, and the catalog and population it promises."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clickintent.events.contract import RAW_TABLES
from clickintent.events.loader import load_source_dir
from clickintent.settings import load_settings
from clickintent.synth import generate_world
from clickintent.synth.intents import INTENT_IDS

SMALL_WORLD_EVENTS = 50_000


def table_digest(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def directory_digests(directory: Path) -> dict[str, str]:
    return {path.name: table_digest(pq.read_table(path)) for path in sorted(directory.glob("*.parquet"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("world"), seed=7)
    summary = generate_world(settings, target_events=SMALL_WORLD_EVENTS)
    return settings, summary


def test_raw_tables_meet_the_event_contract(world):
    settings, summary = world
    tables = load_source_dir(settings.raw_dir)  # validate_tables: types, allowed values, keys, nulls
    for name, contract in RAW_TABLES.items():
        written = pq.read_schema(settings.raw_dir / f"{name}.parquet")
        assert written.names == contract.column_names, name
        assert [f.type for f in written] == [f.type for f in contract.arrow_schema()], name
        assert tables[name].num_rows == summary.rows[name] > 0, name
    events = tables["events"]
    assert pc.min(events["dwell_ms"]).as_py() >= 0
    assert 0.5 * SMALL_WORLD_EVENTS < events.num_rows < 2 * SMALL_WORLD_EVENTS


def test_ground_truth_is_written_apart_from_the_raw_tables(world):
    settings, _ = world
    assert sorted(p.name for p in settings.raw_dir.iterdir()) == sorted(f"{name}.parquet" for name in RAW_TABLES)
    truth = sorted(p.name for p in settings.ground_truth_dir.iterdir())
    assert truth == ["event_sessions.parquet", "session_intents.parquet", "visitor_intents.parquet"]
    for name in RAW_TABLES:
        columns = pq.read_schema(settings.raw_dir / f"{name}.parquet").names
        assert not {"intents", "primary_intent", "true_session_id", "is_bot"} & set(columns)


def test_ground_truth_covers_every_event_session_and_visitor(world):
    settings, summary = world
    events = pq.read_table(settings.raw_dir / "events.parquet", columns=["event_id", "anonymous_id"])
    event_sessions = pq.read_table(settings.ground_truth_dir / "event_sessions.parquet")
    sessions = pq.read_table(settings.ground_truth_dir / "session_intents.parquet")
    visitors = pq.read_table(settings.ground_truth_dir / "visitor_intents.parquet")
    assert set(event_sessions["event_id"].to_pylist()) == set(events["event_id"].to_pylist())
    assert set(event_sessions["true_session_id"].to_pylist()) == set(sessions["true_session_id"].to_pylist())
    assert set(visitors["anonymous_id"].to_pylist()) == set(events["anonymous_id"].to_pylist())
    assert sessions.num_rows == summary.sessions
    assert pc.sum(visitors["is_bot"]).as_py() == summary.bots
    bot_share = summary.bots / visitors.num_rows
    assert 0.03 <= bot_share <= 0.05
    present = set(visitors.filter(pc.invert(visitors["is_bot"]))["primary_intent"].to_pylist())
    assert len(present & set(INTENT_IDS)) >= 12
    assert set(sessions["primary_intent"].to_pylist()) <= set(INTENT_IDS) | {"none", "bot"}


def test_catalog_products_families_and_pages(world):
    settings, _ = world
    products = pq.read_table(settings.raw_dir / "products.parquet")
    assert products.num_rows >= 25
    # the synthetic world's catalogue (synth/products.py); the pipeline takes families from the data
    assert set(products["family"].to_pylist()) == {"deposits", "cards", "lending", "home", "investing", "insurance", "business"}
    events = pq.read_table(settings.raw_dir / "events.parquet", columns=["platform", "page_path", "page_title"])
    web = events.filter(pc.equal(events["platform"], "web"))
    titled = web.filter(pc.match_substring(web["page_title"], "| Example Bank"))
    real_pages = set(titled.filter(pc.invert(pc.match_substring(titled["page_title"], "Page Not Found")))["page_path"].to_pylist())
    assert len(real_pages) >= 300
    for section in ("/mortgages/", "/credit-cards/", "/learn/", "/tools/", "/apply/", "/rates/", "/help/", "/security/"):
        assert any(path.startswith(section) for path in real_pages), section
    app_paths = set(events.filter(pc.equal(events["platform"], "app"))["page_path"].to_pylist())
    assert all(path.startswith("/app/") for path in app_paths)
    assert any(path.startswith("/app/offers/") for path in app_paths)


def test_same_seed_same_tables_other_seed_other_tables(world, tmp_path):
    settings, _ = world
    again = load_settings(data_dir=tmp_path / "again", seed=7)
    generate_world(again, target_events=SMALL_WORLD_EVENTS)
    assert directory_digests(again.raw_dir) == directory_digests(settings.raw_dir)
    assert directory_digests(again.ground_truth_dir) == directory_digests(settings.ground_truth_dir)

    other = load_settings(data_dir=tmp_path / "other", seed=8)
    generate_world(other, target_events=SMALL_WORLD_EVENTS)
    assert directory_digests(other.raw_dir)["events.parquet"] != directory_digests(settings.raw_dir)["events.parquet"]


def test_a_rerun_replaces_the_previous_world(tmp_path):
    settings = load_settings(data_dir=tmp_path, seed=11)
    generate_world(settings, target_events=20_000)
    first = pq.read_table(settings.raw_dir / "events.parquet").num_rows
    generate_world(settings, target_events=40_000)
    second = pq.read_table(settings.raw_dir / "events.parquet").num_rows
    assert second > first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_rejects_a_non_positive_target(tmp_path):
    with pytest.raises(ValueError, match="target_events"):
        generate_world(load_settings(data_dir=tmp_path), target_events=0)
    assert not (tmp_path / "raw").exists()


def test_chunked_generation_keeps_ids_unique_across_chunks(monkeypatch):
    from clickintent.events.loader import validate_tables
    from clickintent.synth import world as world_module

    monkeypatch.setattr(world_module, "CHUNK_PEOPLE", 300)  # ~4 independently seeded chunks
    built = world_module.build_world(seed=7, target_events=50_000)
    validate_tables({name: (table, name) for name, table in built.raw.items()})  # unique event, impression, conversion ids
    visitors = built.ground_truth["visitor_intents"]
    assert len(set(visitors["anonymous_id"].to_pylist())) == visitors.num_rows
    sessions = built.ground_truth["session_intents"]
    assert len(set(sessions["true_session_id"].to_pylist())) == sessions.num_rows
    customers = set(built.raw["customers"]["customer_id"].to_pylist())
    assert len(customers) == built.summary.customers

"""A small world with every model the service loads, built through the real stages, for the serving tests.

From conftest's `feast_world` (60k events, dbt marts, Feast applied and materialized), copied so
the shared world is never changed: the offline taxonomy stage (distilled intent classifier), a
tiny session encoder (one epoch, no search-query channel) and its embeddings, Feast re-applied
and materialized with them, and the production tile ranker trained on that. About a minute.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import duckdb

from clickintent.settings import Settings, load_settings
from support.marts import mart_glob


def build_serving_world(feast_world: Settings, root: Path) -> Settings:
    from clickintent.encoder.embed import embed_all
    from clickintent.encoder.pipeline import PretrainConfig, train_encoder, with_training
    from clickintent.features.store import apply_feature_repo, materialize
    from clickintent.ranker.pipeline import train_production_models
    from clickintent.taxonomy.pipeline import run_taxonomy_stage

    shutil.copytree(feast_world.data_dir, root / "data", ignore=shutil.ignore_patterns("*.log", "reports"))
    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1)
    run_taxonomy_stage(settings, evaluate=False)
    tiny = with_training(
        replace(PretrainConfig(), d_model=16, d_ff=32, n_heads=2, n_layers=1, max_len=32, use_queries=False),
        max_epochs=1,
        batch_size=512,
        patience=1,
    )
    train_encoder(settings, tiny, progress=False)
    embed_all(settings, threads=1, progress=False)
    apply_feature_repo(settings)
    materialize(settings)
    train_production_models(settings)
    return settings


def raw_events(settings: Settings, where: str, parameters: list | None = None, limit: int = 60) -> list[dict]:
    """Raw events of the world as the API takes them (ISO timestamps, nulls left out)."""
    columns = (
        "event_id, event_ts, platform, anonymous_id, customer_id, event_type, page_path, page_title, "
        "search_query, dwell_ms, referrer, utm_source, device_type, product_id"
    )
    with duckdb.connect() as connection:
        frame = connection.execute(
            f"select {columns} from read_parquet(?) where {where} order by event_ts, event_id limit {int(limit)}",
            [str(settings.raw_dir / "events.parquet"), *(parameters or [])],
        ).df()
    events = []
    for record in frame.to_dict(orient="records"):
        event = {key: value for key, value in record.items() if value is not None and value == value}
        event["event_ts"] = event["event_ts"].isoformat()
        if "dwell_ms" in event:
            event["dwell_ms"] = int(event["dwell_ms"])
        events.append(event)
    return events


def session_events(settings: Settings, session_id: str) -> list[dict]:
    """A session of the world's sequence mart as raw events."""
    with duckdb.connect() as connection:
        event_ids = connection.execute(
            "select event_ids from read_parquet(?) where session_id = ?",
            [mart_glob(settings.marts_dir, "fct_session_sequences"), session_id],
        ).fetchall()[0][0]
    return raw_events(settings, "event_id in (select unnest(?))", [list(event_ids)], limit=len(event_ids))


def pick(query: str, parameters: list | None = None) -> tuple:
    with duckdb.connect() as connection:
        rows = connection.execute(query, [*(parameters or [])]).fetchall()
    if not rows:
        raise LookupError(f"the serving world has no row for: {query}")
    return rows[0]


def busiest_anonymous_session(settings: Settings) -> list[dict]:
    """The raw events of the world's busiest anonymous web session of 5 to 40 events."""
    session_id = pick(
        "select session_id from read_parquet(?) where platform = 'web' and customer_id is null and n_events between 5 and 40 "
        "order by n_events desc, session_id limit 1",
        [mart_glob(settings.marts_dir, "fct_session_sequences")],
    )[0]
    return session_events(settings, session_id)

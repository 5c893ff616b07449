"""The fixture world plus a cookie whose login stitches its earlier anonymous sessions, built
through dbt with a setting (identity_linking, stitch_window_days), and the taxonomy and encoder
stages' Feast tables written by their own writers from stand-in predictions (no model trained).

Cookie `v_stitch` of customer c_001 browses anonymously 35, 20 and 3 days before it signs in at
STITCH_LOGIN, and once more 2 days after: with the default 30-day window the sessions 20 and 3
days before are stitched to the login; the one 35 days before is too old, the one after has no
later login.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.events.contract import RAW_TABLES
from clickintent.events.loader import replace_table_set, validate_tables
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings
from support.raw_world import DAY, MINUTE, T0, build_fixture_world, write_page_map

STITCH_COOKIE = "v_stitch"
STITCH_CUSTOMER = "c_001"
STITCH_LOGIN = T0 + 40 * DAY + 9 * timedelta(hours=1)
# days before the login each anonymous session ends: stitched within 30 days, not beyond
ANONYMOUS_DAYS_BEFORE = {35: False, 20: True, 3: True}
AFTER_LOGIN_DAYS = 2


def _stitch_events() -> list[dict]:
    events = []

    def add(ts, page, event_type="page_view", customer_id=None, query=None):
        events.append(
            dict(
                event_id=f"st_{len(events):03d}",
                event_ts=ts,
                platform="web",
                anonymous_id=STITCH_COOKIE,
                customer_id=customer_id,
                event_type=event_type,
                page_path=page,
                page_title="Page",
                search_query=query,
                dwell_ms=15_000,
                referrer=None,
                utm_source=None,
                device_type="desktop",
                product_id=None,
            )
        )

    for days in (*ANONYMOUS_DAYS_BEFORE, -AFTER_LOGIN_DAYS):
        end = STITCH_LOGIN - days * DAY
        add(end - 5 * MINUTE, "/cards/travel-rewards")
        add(end - 2 * MINUTE, "/search", "search", query="travel card")
        add(end, "/cards/compare", "form_start")
    add(STITCH_LOGIN - 4 * MINUTE, "/cards/travel-rewards")
    add(STITCH_LOGIN, "/login", "login", customer_id=STITCH_CUSTOMER)
    add(STITCH_LOGIN + 3 * MINUTE, "/cards/compare", customer_id=STITCH_CUSTOMER)
    return events


def write_stitch_world(data_dir: Path) -> None:
    """The fixture world with the stitching cookie, as raw tables and a page map under data_dir."""
    tables, page_map = build_fixture_world()
    extra = pa.Table.from_pylist(_stitch_events(), schema=RAW_TABLES["events"].arrow_schema())
    tables["events"] = pa.concat_tables([tables["events"], extra.cast(tables["events"].schema)])
    validated = validate_tables({name: (table, f"fixture:{name}") for name, table in tables.items()})
    replace_table_set(validated, Path(data_dir) / "raw")
    write_page_map(Path(data_dir), page_map)


def write_stage_outputs(settings: Settings, embedding_dim: int = 8) -> None:
    """The taxonomy and encoder stages' Feast tables, from their writers, over stand-in predictions.

    session_intents.parquet carries each session's platform and customer_id from the sequence
    mart exactly as taxonomy.distill.label_all_sessions does; the probabilities and embeddings
    come from seeded generators instead of the models.
    """
    from clickintent.encoder.embed import read_sequences, write_embedding_tables
    from clickintent.features.model_outputs import build_intent_feature_tables
    from clickintent.taxonomy.distill import SESSION_INTENTS_SCHEMA
    from clickintent.taxonomy.model import Node, Taxonomy

    sequences = read_sequences(mart_location(settings.marts_dir, "fct_session_sequences"))
    top_nodes = ("home_buying", "saving")
    Taxonomy(nodes=tuple(Node(id=node, parent_id=None, level=1, name=node.replace("_", " "), description=node) for node in top_nodes)).save(
        settings.taxonomy_dir / "taxonomy.yaml"
    )
    n = len(sequences)
    rng = np.random.default_rng(7)
    probs = rng.dirichlet([1.0, 1.0], size=n).astype(np.float32)
    intents = pa.table(
        {
            "session_id": sequences["session_id"].astype(str).to_numpy(),
            "platform": sequences["platform"].astype(str).to_numpy(),
            "customer_id": pa.array(sequences["customer_id"].where(sequences["customer_id"].notna(), None).tolist(), pa.string()),
            "session_end_ts": pa.array(pd.to_datetime(sequences["session_end_ts"], utc=True), pa.timestamp("us", tz="UTC")),
            "intent_node_id": ["home_buying"] * n,
            "intent_top_node_id": ["home_buying"] * n,
            "intent_confidence": pa.array(probs.max(axis=1)),
            "intent_top_node_probs": pa.array(list(probs), pa.list_(pa.float32())),
            "taxonomy_version": ["fixture"] * n,
        },
        schema=SESSION_INTENTS_SCHEMA,
    )
    pq.write_table(intents, settings.taxonomy_dir / "session_intents.parquet")
    teacher = pa.table({"session_id": sequences["session_id"].astype(str).to_numpy(), "primary_node_id": ["saving"] * n})
    pq.write_table(teacher, settings.taxonomy_dir / "teacher_labels.parquet")
    build_intent_feature_tables(settings)
    embeddings = rng.normal(size=(n, embedding_dim)).astype(np.float32)
    write_embedding_tables(sequences, embeddings, settings, "fixture-encoder")

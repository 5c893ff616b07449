"""Copies of conftest's `feast_world` for the ranker tests: one after the whole ranker stage, one
with stand-ins for the taxonomy and encoder outputs.

The shared world must not change, and the ranker writes models, predictions and reports under
its directories, so the ranker tests work on copies (Feast re-applied there so its registry reads
the copy's files). conftest.py builds each copy once per test run (`ranker_trained_world`,
`ranker_stage_outputs_world`).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings, load_settings

# The encoder version the stand-in embeddings claim (the column the encoder stage writes).
STANDIN_ENCODER_VERSION = "v1-standin"


def copy_world(feast_world: Settings, root: Path) -> Settings:
    from clickintent.features.store import apply_feature_repo

    shutil.copytree(feast_world.data_dir, root / "data", ignore=shutil.ignore_patterns("*.log", "reports", "online_store.db"))
    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1)
    apply_feature_repo(settings)
    return settings


def build_trained_world(feast_world: Settings, root: Path) -> Settings:
    """The copy after `run_ranker_stage` (ablation + production models; no online shoppers, no
    report: their own tests cover them). The small world has neither taxonomy labels nor
    embeddings, so the rows that need them wait."""
    from clickintent.ranker.pipeline import run_ranker_stage

    settings = copy_world(feast_world, root)
    run_ranker_stage(settings, online_shoppers=False, report=False)
    return settings


def build_world_with_stage_outputs(feast_world: Settings, root: Path) -> Settings:
    """A copy where the taxonomy and encoder stages' customer-level tables exist (stand-ins; see
    `write_stage_output_standins` and `write_app_standins`), so every ablation row has its features."""
    settings = copy_world(feast_world, root)
    write_stage_output_standins(settings)
    write_app_standins(settings)
    return settings


def write_app_standins(settings: Settings, embedding_dim: int = 8, seed: int = 8) -> int:
    """customer_app_embedding as the encoder stage shapes it, one as-of row per row of dbt's
    fct_customer_app_intent: probabilities = the window's in-app taxonomy shares, embedding = the
    shares through a fixed random projection plus noise (no encoder run). Returns rows written."""
    from clickintent.artifacts import atomic_write_bytes
    from clickintent.features.model_outputs import CUSTOMER_APP_EMBEDDING

    app = pd.read_parquet(
        mart_location(settings.marts_dir, "fct_customer_app_intent"),
        columns=["customer_id", "as_of_ts", "app_session_id", "n_app_sessions_30d", "app_taxonomy_node_shares_30d"],
    )
    shares = np.stack(app["app_taxonomy_node_shares_30d"].to_numpy()).astype(np.float32)
    rng = np.random.default_rng(seed)
    embedding = shares @ rng.normal(size=(shares.shape[1], embedding_dim)).astype(np.float32) + rng.normal(
        0, 0.1, (len(app), embedding_dim)
    ).astype(np.float32)
    floats = pa.list_(pa.float32())
    columns = {
        "customer_id": app["customer_id"].to_numpy(),
        "as_of_ts": pd.to_datetime(app["as_of_ts"], utc=True),
        "app_embedding": pa.array(list(embedding), floats),
        "app_distilled_top_node_probs": pa.array(list(shares), floats),
        "n_app_sessions": app["n_app_sessions_30d"].to_numpy(),
        "latest_app_session_id": app["app_session_id"].to_numpy(),
        "encoder_version": np.full(len(app), STANDIN_ENCODER_VERSION, dtype=object),
    }
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns, schema=CUSTOMER_APP_EMBEDDING.arrow_schema()), buffer)
    atomic_write_bytes(CUSTOMER_APP_EMBEDDING.path(settings), buffer.getvalue())
    return len(app)


def write_stage_output_standins(settings: Settings, embedding_dim: int = 8, seed: int = 7) -> dict[str, int]:
    """customer_web_intent_labels and customer_web_embedding as the stages would shape them, built
    from each linked web session's taxonomy shares (dbt) instead of a classifier and an encoder.

    Running the real taxonomy stage and encoder would cost minutes per test run; the ranker only
    needs tables of the declared schema with as-of rows per linked web session end. Distilled
    probabilities = the session's shares, teacher = one-hot of its top node, embedding = the shares
    through a fixed random projection plus noise; customer rows are recency-weighted means of the
    sessions up to then, as clickintent.features.model_outputs aggregates them.
    """
    from clickintent.artifacts import atomic_write_bytes
    from clickintent.features.model_outputs import CUSTOMER_WEB_EMBEDDING, CUSTOMER_WEB_INTENT_LABELS, recency_weighted_as_of

    sessions = pd.read_parquet(
        mart_location(settings.marts_dir, "fct_web_sessions"),
        columns=["web_session_id", "customer_id", "session_end_ts", "taxonomy_node_shares"],
    )
    nodes = (
        pd.read_parquet(settings.marts_dir / "dim_taxonomy_top_nodes.parquet")
        .sort_values("top_node_position")["top_taxonomy_node_id"]
        .tolist()
    )
    linked = sessions[sessions["customer_id"].notna()].copy()
    linked["session_end_ts"] = pd.to_datetime(linked["session_end_ts"], utc=True)
    linked = linked.sort_values(["customer_id", "session_end_ts", "web_session_id"], kind="stable")
    linked = linked.drop_duplicates(["customer_id", "session_end_ts"], keep="last").reset_index(drop=True)
    shares = np.stack(linked["taxonomy_node_shares"].to_numpy()).astype(np.float32)
    top = shares.argmax(axis=1)
    onehot = np.eye(len(nodes), dtype=np.float32)[top]
    rng = np.random.default_rng(seed)
    embedding = shares @ rng.normal(size=(len(nodes), embedding_dim)).astype(np.float32) + rng.normal(
        0, 0.1, (len(linked), embedding_dim)
    ).astype(np.float32)
    customers = linked["customer_id"].to_numpy()
    ends = linked["session_end_ts"].dt.tz_localize(None).to_numpy()
    count = linked.groupby("customer_id").cumcount().to_numpy() + 1
    floats = pa.list_(pa.float32())
    tables = {
        CUSTOMER_WEB_INTENT_LABELS: {
            "customer_id": customers,
            "as_of_ts": linked["session_end_ts"],
            "latest_web_session_id": linked["web_session_id"].to_numpy(),
            "n_linked_web_sessions": count,
            "web_distilled_top_node_id": np.array(nodes, dtype=object)[top],
            "web_distilled_top_node_probs": pa.array(list(recency_weighted_as_of(customers, ends, shares)), floats),
            "web_teacher_top_node_id": np.array(nodes, dtype=object)[top],
            "web_teacher_top_node_dist": pa.array(list(recency_weighted_as_of(customers, ends, onehot)), floats),
        },
        CUSTOMER_WEB_EMBEDDING: {
            "customer_id": customers,
            "as_of_ts": linked["session_end_ts"],
            "web_embedding": pa.array(list(recency_weighted_as_of(customers, ends, embedding)), floats),
            "n_linked_web_sessions": count,
            "latest_web_session_id": linked["web_session_id"].to_numpy(),
            "encoder_version": np.full(len(linked), STANDIN_ENCODER_VERSION, dtype=object),
        },
    }
    for output, columns in tables.items():
        buffer = io.BytesIO()
        pq.write_table(pa.table(columns, schema=output.arrow_schema()), buffer)
        atomic_write_bytes(output.path(settings), buffer.getvalue())
    return {output.feature_view: len(linked) for output in tables}

"""Materialize tells the truth: a rewritten source reaches the online store, a partial run is recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.artifacts import atomic_file
from clickintent.settings import Settings, load_settings


def copy_world(world: Settings, root: Path) -> Settings:
    """A private copy of a built world, its Feast registry pointed at the copy."""
    from clickintent.features.store import apply_feature_repo

    shutil.copytree(world.data_dir, root / "data", ignore=shutil.ignore_patterns("reports", ".lock"))
    shutil.copytree(world.models_dir, root / "models")
    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1)
    apply_feature_repo(settings)  # the registry holds absolute source paths: the copy's own
    return settings


def _online_embedding(settings: Settings, session_id: str) -> list[float]:
    from clickintent.features.store import feature_store

    online = feature_store(settings).get_online_features(features=["session_embedding:embedding"], entity_rows=[{"session_id": session_id}])
    return online.to_dict()["embedding"][0]


def test_rewritten_embeddings_are_materialized_again(serving_world: Settings, tmp_path: Path) -> None:
    """A retrained encoder rewrites the embeddings with the same (past) timestamps: an incremental
    materialize would skip every row; the source's changed fingerprint makes it load them all."""
    from clickintent.features.model_outputs import SESSION_EMBEDDING
    from clickintent.features.store import materialize, read_materialize_state

    settings = copy_world(serving_world, tmp_path)
    materialize(settings)
    path = SESSION_EMBEDDING.path(settings)
    table = pq.read_table(path)
    session_id = table.column("session_id")[0].as_py()
    before = np.asarray(_online_embedding(settings, session_id), dtype=np.float32)
    assert np.allclose(before, table.column("embedding")[0].as_py())

    rewritten = [[-value + 0.5 for value in vector] for vector in table.column("embedding").to_pylist()]
    index = table.schema.get_field_index("embedding")
    table = table.set_column(index, table.schema.field(index), pa.array(rewritten, type=table.schema.field(index).type))
    with atomic_file(path) as temporary:
        pq.write_table(table, temporary)
    materialize(settings)

    after = np.asarray(_online_embedding(settings, session_id), dtype=np.float32)
    assert np.allclose(after, rewritten[0]) and not np.allclose(after, before)
    state = read_materialize_state(settings)
    assert state["state"] == "complete" and state["pending_views"] == []
    assert "session_embedding" in state["sources"]

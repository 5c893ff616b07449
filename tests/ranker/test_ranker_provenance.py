"""The taxonomy and encoder versions a ranker records in its card, read from the tables it trained on.

Small tables in tmp_path, no Feast: the end-to-end path (the stages write, the ranker records, the
service compares) runs in test_serving_service.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clickintent.encoder.embed import write_embedding_tables
from clickintent.features.model_outputs import CUSTOMER_APP_EMBEDDING, CUSTOMER_WEB_EMBEDDING, SESSION_EMBEDDING, SESSION_INTENT
from clickintent.ranker.layout import FeatureLayout
from clickintent.ranker.provenance import TrainingDataVersionError, read_views, training_data_versions, version_fields
from clickintent.settings import Settings, load_settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TILE_VIEWS = {"customer_profile", "customer_web_embedding", "customer_web_intent_labels"}


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models", threads=1)


def _sessions(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(n)],
            "platform": ["web", "app"] * (n // 2),
            "anonymous_id": [f"a{i % 3}" for i in range(n)],
            "customer_id": ["c1", None, "c2", "c1", None, "c2"][:n],
            "session_end_ts": [T0 + timedelta(hours=i) for i in range(n)],
        }
    )


def _write_embeddings(settings: Settings, encoder_version: str) -> None:
    frame = _sessions()
    write_embedding_tables(frame, np.random.default_rng(0).normal(size=(len(frame), 4)).astype(np.float32), settings, encoder_version)


def _write_session_intent(settings: Settings, versions: list[str | None]) -> None:
    path = SESSION_INTENT.path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"session_id": [f"s{i}" for i in range(len(versions))], "taxonomy_version": pa.array(versions, pa.string())}), path
    )


def test_the_encoder_stage_writes_its_version_into_both_embedding_tables(settings: Settings) -> None:
    _write_embeddings(settings, "v1-aaaa1111")
    for output in (SESSION_EMBEDDING, CUSTOMER_WEB_EMBEDDING):
        table = pq.read_table(output.path(settings))
        assert table.schema.equals(output.arrow_schema())
        assert table.num_rows > 0 and set(table.column("encoder_version").to_pylist()) == {"v1-aaaa1111"}
    with pytest.raises(ValueError, match="encoder_version"):
        _write_embeddings(settings, "")
    # The refused write left the earlier files whole.
    assert set(pq.read_table(CUSTOMER_WEB_EMBEDDING.path(settings)).column("encoder_version").to_pylist()) == {"v1-aaaa1111"}


def test_the_ranker_records_the_versions_of_the_tables_it_read(settings: Settings) -> None:
    _write_embeddings(settings, "v1-aaaa1111")
    _write_session_intent(settings, ["tax-v3"] * 4)
    assert training_data_versions(settings, TILE_VIEWS) == {"taxonomy_version": "tax-v3", "encoder_version": "v1-aaaa1111"}
    # A rewrite by another encoder is what the next training records.
    _write_embeddings(settings, "v1-bbbb2222")
    assert training_data_versions(settings, TILE_VIEWS)["encoder_version"] == "v1-bbbb2222"
    # Views without stage outputs tie the model to nothing.
    assert training_data_versions(settings, {"customer_profile", "product_features"}) == {}


def test_mixed_versions_fail_the_training_naming_them(settings: Settings) -> None:
    _write_embeddings(settings, "v1-aaaa1111")
    _write_session_intent(settings, ["tax-v3", "tax-v4", "tax-v3"])
    with pytest.raises(
        TrainingDataVersionError,
        match=r"session_intent.parquet mixes taxonomy_version values \(tax-v3, tax-v4\).*clickintent taxonomy distill",
    ):
        training_data_versions(settings, TILE_VIEWS)
    _write_session_intent(settings, ["tax-v3", None])
    with pytest.raises(TrainingDataVersionError, match=r"missing, tax-v3"):
        training_data_versions(settings, TILE_VIEWS)
    # Two embedding tables by different encoders, both read: which one the card should name is unknowable.
    _write_session_intent(settings, ["tax-v3"])
    customers = pq.read_table(CUSTOMER_WEB_EMBEDDING.path(settings))
    _write_embeddings(settings, "v1-bbbb2222")
    pq.write_table(customers, CUSTOMER_WEB_EMBEDDING.path(settings))
    with pytest.raises(TrainingDataVersionError, match="disagree on encoder_version"):
        training_data_versions(settings, TILE_VIEWS | {"session_embedding"})


def test_tables_written_before_the_versions_were_recorded_give_none(settings: Settings) -> None:
    logged: list[str] = []
    path = CUSTOMER_WEB_EMBEDDING.path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    old_schema = pa.schema([field for field in CUSTOMER_WEB_EMBEDDING.arrow_schema() if field.name != "encoder_version"])
    pq.write_table(old_schema.empty_table(), path)
    _write_session_intent(settings, [])
    assert training_data_versions(settings, TILE_VIEWS, logged.append) == {}
    assert any("no encoder_version column" in line and "clickintent encoder embed" in line for line in logged)
    assert any("no taxonomy_version values" in line for line in logged)


def test_only_views_the_model_reads_count() -> None:
    layout = FeatureLayout(
        feast_features=("age", "web_embedding", "web_distilled_top_node_probs"),
        feature_references=(
            "customer_profile:age",
            "customer_web_embedding:web_embedding",
            "customer_web_intent_labels:web_distilled_top_node_probs",
        ),
        scalars=(),
        vectors=(),
        derived=(),
        unused={"web_embedding": "no values in the training split"},
    )
    assert read_views(layout) == {"customer_profile", "customer_web_intent_labels"}
    assert version_fields(layout) == {"taxonomy_version"}


def test_in_app_embedding_ties_to_the_encoder_and_its_probabilities_to_the_taxonomy(settings: Settings) -> None:
    _write_embeddings(settings, "v1-aaaa1111")  # the encoder stage writes customer_app_embedding too
    _write_session_intent(settings, ["tax-v3"] * 4)

    def layout(*features: str) -> FeatureLayout:
        return FeatureLayout(
            feast_features=features,
            feature_references=tuple(f"customer_app_embedding:{name}" for name in features),
            scalars=(),
            vectors=(),
            derived=(),
        )

    embedding_only = layout("app_embedding")
    assert version_fields(embedding_only) == {"encoder_version"}
    assert training_data_versions(settings, read_views(embedding_only)) == {"encoder_version": "v1-aaaa1111"}
    with_labels = layout("app_embedding", "app_distilled_top_node_probs")
    assert version_fields(with_labels) == {"encoder_version", "taxonomy_version"}
    assert training_data_versions(settings, read_views(with_labels)) == {"encoder_version": "v1-aaaa1111", "taxonomy_version": "tax-v3"}
    # The in-app table by another encoder than the web one it is trained beside: refused.
    app_table = pq.read_table(CUSTOMER_APP_EMBEDDING.path(settings))
    _write_embeddings(settings, "v1-bbbb2222")
    pq.write_table(app_table, CUSTOMER_APP_EMBEDDING.path(settings))
    with pytest.raises(TrainingDataVersionError, match="disagree on encoder_version"):
        training_data_versions(settings, read_views(with_labels) | {"customer_web_embedding"})

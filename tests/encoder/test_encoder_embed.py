"""Stored encoder, batch and online embeddings, customer web embeddings, the probe, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from clickintent.cli.encoder import encoder_app
from clickintent.encoder.embed import customer_web_embeddings, load_session_embedder
from clickintent.encoder.synthetic import write_synthetic_sequences
from clickintent.encoder.tokens import mart_row_events
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings


def test_customer_web_embedding_is_an_as_of_recency_weighted_mean():
    day = pd.Timedelta(days=1)
    t0 = pd.Timestamp("2026-02-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "session_id": ["w1", "w2", "a1", "w3", "anon"],
            "platform": ["web", "web", "app", "web", "web"],
            "customer_id": ["c1", "c1", "c1", "c2", None],
            "session_end_ts": [t0, t0 + 14 * day, t0 + 15 * day, t0, t0],
        }
    )
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [9.0, 9.0], [2.0, 2.0], [5.0, 5.0]], dtype=np.float32)
    result = customer_web_embeddings(frame, embeddings, half_life_days=14).set_index(["customer_id", "as_of_ts"])
    assert len(result) == 3  # app and anonymous sessions are not linked web sessions
    first = result.loc[("c1", t0)]
    assert np.allclose(first["web_embedding"], [1.0, 0.0]) and first["n_linked_web_sessions"] == 1
    second = result.loc[("c1", t0 + 14 * day)]
    # One half-life later the first session weighs 0.5 against the new session's 1.
    assert np.allclose(second["web_embedding"], [0.5 / 1.5, 1.0 / 1.5])
    assert second["latest_web_session_id"] == "w2" and second["n_linked_web_sessions"] == 2
    assert np.allclose(result.loc[("c2", t0)]["web_embedding"], [2.0, 2.0])


def test_commands_report_a_missing_mart(tmp_path):
    result = CliRunner().invoke(encoder_app, ["train", "--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m")])
    assert result.exit_code == 2 and "fct_session_sequences.parquet not found" in result.output


@pytest.mark.slow
def test_train_embed_evaluate_commands_end_to_end_with_minilm(tmp_path):
    """Real parts: MiniLM query vectors, safetensors on disk, Parquet outputs, the probe on ground truth."""
    data_dir, models_dir = tmp_path / "data", tmp_path / "models"
    write_synthetic_sequences(Settings(data_dir=data_dir), 1500, seed=5)
    runner = CliRunner()
    common = ["--data-dir", str(data_dir), "--models-dir", str(models_dir)]
    trained = runner.invoke(encoder_app, ["train", *common, "--epochs", "3", "--threads", "1"])
    assert trained.exit_code == 0, trained.output
    stored = sorted(p.name for p in (models_dir / "encoder").iterdir())
    assert stored == ["config.json", "model.safetensors", "model_card.json", "vocab.json"]  # no pickle
    card = json.loads((models_dir / "encoder" / "model_card.json").read_text())
    assert card["name"] == "encoder" and "search_query" in " ".join(card["features"])
    cache = pd.read_parquet(data_dir / "embeddings" / "query_embeddings.parquet")
    assert len(cache) > 10 and len(cache["embedding"].iloc[0]) == 384
    assert not any("rates" in key for key in cache["query_key"])  # keys are hashes, not text

    embedded = runner.invoke(encoder_app, ["embed", *common, "--threads", "1"])
    assert embedded.exit_code == 0, embedded.output
    sessions = pd.read_parquet(data_dir / "embeddings" / "session_embeddings.parquet")
    assert list(sessions.columns) == ["session_id", "platform", "customer_id", "session_end_ts", "embedding", "encoder_version"]
    # `encoder embed` names the stored encoder, the same in every row of both tables.
    assert set(sessions["encoder_version"]) == {card["version"]}
    assert len(sessions) == 1500 and len(sessions["embedding"].iloc[0]) == 64
    assert str(sessions["session_end_ts"].dtype) == "datetime64[us, UTC]"
    customers = pd.read_parquet(data_dir / "embeddings" / "customer_web_embeddings.parquet")
    assert customers["customer_id"].notna().all() and len(customers) > 0
    assert set(customers["encoder_version"]) == {card["version"]}

    # Online: the same session from raw events gives the stored embedding.
    mart = pd.read_parquet(mart_location(data_dir / "marts", "fct_session_sequences"))
    row = mart[mart["search_queries"].map(lambda q: any(x is not None for x in q))].iloc[0]
    events = mart_row_events(row)
    online = load_session_embedder(Settings(data_dir=data_dir, models_dir=models_dir), threads=1, embed_unseen_queries=False)
    stored_vector = np.asarray(sessions.set_index("session_id").loc[row["session_id"], "embedding"])
    assert np.allclose(online.embed_events(events), stored_vector, atol=1e-5)

    # Without the taxonomy stage's labels the distilled representation is named not measured.
    evaluated = runner.invoke(encoder_app, ["evaluate", *common])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((data_dir / "reports" / "encoder.json").read_text())
    distilled = report["cross_platform"]["representations"]["distilled_intent_distribution"]
    assert "session_intents.parquet not found" in distilled["not_measured"]

    # A stand-in for taxonomy/session_intents.parquet: each session's top-node shares.
    tops = sorted({t for row in mart["top_taxonomy_node_ids"] for t in row})
    shares = [np.array([list(row).count(t) for t in tops], dtype=np.float32) / len(row) for row in mart["top_taxonomy_node_ids"]]
    (data_dir / "taxonomy").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"session_id": mart["session_id"], "intent_top_node_probs": shares}).to_parquet(
        data_dir / "taxonomy" / "session_intents.parquet"
    )
    evaluated = runner.invoke(encoder_app, ["evaluate", *common])
    assert evaluated.exit_code == 0, evaluated.output
    assert "web -> app" in evaluated.output and "target (embedding cross >= 0.9" in evaluated.output
    report = json.loads((data_dir / "reports" / "encoder.json").read_text())
    # The keys the report and the demo read before the cross-platform probe are unchanged.
    assert {"label", "split", "sessions", "probe", "embedding", "bag_of_taxonomy_nodes", "embedding_beats_bag_of_nodes", "encoder"} < set(
        report
    )
    assert report["sessions"]["classes"] == 13
    # Far above chance (1/13): the probe reads real signal from both representations.
    assert report["embedding"]["macro_f1"] > 0.3 and report["bag_of_taxonomy_nodes"]["macro_f1"] > 0.3

    cross = report["cross_platform"]
    assert set(cross["representations"]) == {"embedding", "distilled_intent_distribution", "bag_of_taxonomy_nodes"}
    for result in cross["representations"].values():
        assert {"within_web", "within_app", "web_to_app", "app_to_web", "ratio_macro_f1", "ratio_accuracy"} < set(result)
        assert set(result["ratio_macro_f1"]) == {"web_to_app_over_within_app", "app_to_web_over_within_web"}
        assert all(0.0 <= result[cell]["macro_f1"] <= 1.0 for cell in ("within_web", "within_app", "web_to_app", "app_to_web"))
    embedding = cross["representations"]["embedding"]
    assert embedding["within_web"]["macro_f1"] > 0.3 and embedding["within_app"]["macro_f1"] > 0.3
    assert cross["target"]["measured_min_ratio"] == min(embedding["ratio_macro_f1"].values())
    assert cross["target"]["met"] == (cross["target"]["measured_min_ratio"] >= 0.9)
    assert cross["sessions"]["web"]["train"] == cross["sessions"]["app"]["train"]


def test_half_life_matches_the_declared_feature_tables():
    from clickintent.encoder.embed import HALF_LIFE_DAYS
    from clickintent.features.model_outputs import RECENCY_HALF_LIFE_DAYS

    assert HALF_LIFE_DAYS == RECENCY_HALF_LIFE_DAYS


@pytest.mark.slow
def test_encoder_stage_on_the_dbt_world_resumes_and_feeds_feast(pipeline_world, tmp_path):
    """The demo's stage on real dbt marts: train, embed, probe; rerun resumes; Feast serves the vectors."""
    import shutil
    from dataclasses import replace

    from clickintent.encoder.pipeline import PretrainConfig, run_encoder_stage
    from clickintent.features.model_outputs import CUSTOMER_WEB_EMBEDDING, SESSION_EMBEDDING
    from clickintent.features.store import apply_feature_repo, feature_store

    # A copy: the session-scoped world must not change under other tests.
    shutil.copytree(pipeline_world.data_dir, tmp_path / "data", ignore=shutil.ignore_patterns("warehouse.duckdb*", "feast"))
    settings = pipeline_world.model_copy(update={"data_dir": tmp_path / "data", "models_dir": tmp_path / "models"})
    small = PretrainConfig(d_model=32, d_ff=64, use_queries=False)
    config = replace(small, training=replace(small.training, max_epochs=2, batch_size=128))
    first = run_encoder_stage(settings, budget_seconds=None, config=config)
    mart = pd.read_parquet(mart_location(settings.marts_dir, "fct_session_sequences"))
    assert first.epochs_run == first.epochs_this_call == 2 and not first.stopped_by_budget
    assert first.sessions_embedded == len(mart)
    report = json.loads((settings.reports_dir / "encoder.json").read_text())
    assert report["embedding"]["macro_f1"] == first.embedding_macro_f1
    assert 0.0 < first.bag_of_nodes_macro_f1 <= 1.0 and 0.0 < first.embedding_macro_f1 <= 1.0
    sessions = pq.read_table(SESSION_EMBEDDING.path(settings))
    customers = pq.read_table(CUSTOMER_WEB_EMBEDDING.path(settings))
    assert sessions.schema.equals(SESSION_EMBEDDING.arrow_schema())
    assert customers.schema.equals(CUSTOMER_WEB_EMBEDDING.arrow_schema())
    # Every row names the encoder that wrote it (the ranker records it; the service compares).
    for table in (sessions, customers):
        assert set(table.column("encoder_version").to_pylist()) == {first.version}

    # A finished run is not trained again, and re-embedding gives the same vectors.
    again = run_encoder_stage(settings, budget_seconds=None, config=config)
    assert again.epochs_this_call == 0 and again.epochs_run == 2
    assert again.version == first.version == json.loads((settings.models_dir / "encoder" / "model_card.json").read_text())["version"]
    assert pq.read_table(SESSION_EMBEDDING.path(settings)).equals(sessions)

    apply_feature_repo(settings)
    store = feature_store(settings)
    frame = sessions.to_pandas()
    start = frame["session_end_ts"].min() - pd.Timedelta(seconds=1)
    store.materialize(
        start_date=start.to_pydatetime(),
        end_date=pd.Timestamp.now(tz="UTC").to_pydatetime(),
        feature_views=[SESSION_EMBEDDING.feature_view, CUSTOMER_WEB_EMBEDDING.feature_view],
    )
    wanted = frame.iloc[[0, len(frame) // 2]]
    online = store.get_online_features(
        features=[f"{SESSION_EMBEDDING.feature_view}:embedding"],
        entity_rows=[{"session_id": s} for s in wanted["session_id"]],
    ).to_dict()
    for served, stored in zip(online["embedding"], wanted["embedding"]):
        assert np.allclose(served, stored)
    latest = customers.to_pandas().sort_values("as_of_ts").groupby("customer_id").tail(1).iloc[0]
    served = store.get_online_features(
        features=[f"{CUSTOMER_WEB_EMBEDDING.feature_view}:web_embedding"],
        entity_rows=[{"customer_id": latest["customer_id"]}],
    ).to_dict()["web_embedding"][0]
    assert np.allclose(served, latest["web_embedding"])

"""The distilled classifier's online path: the same features as the batch builder, stored without
pickle, decoded top-down; and the lookup keys it shares with dbt."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open

from clickintent.taxonomy.classifier import IntentClassifier, session_features
from clickintent.taxonomy.dbt_rules import url_section
from clickintent.taxonomy.distill import DistillConfig, label_all_sessions, save_classifier, train_classifier
from clickintent.taxonomy.features import batch_features, build_layout
from clickintent.taxonomy.model import Node, Taxonomy
from clickintent.taxonomy.sessions import SessionBatch
from clickintent.taxonomy.text_keys import normalize_query

TAXONOMY = Taxonomy(
    nodes=(
        Node("home", None, 1, "Home buying", "Buying a home."),
        Node("home.rates", "home", 2, "Mortgage rates", "Rates."),
        Node("home.tools", "home", 2, "Mortgage tools", "Calculators."),
        Node("service", None, 1, "Servicing", "Account servicing."),
        Node("fraud", None, 1, "Fraud", "Fraud concern."),
    )
)
PAGE_MAP = pd.DataFrame(
    {
        "page_path": ["/mortgages/rates", "/mortgages/calculator", "/app/accounts", "/app/transfers", "/security/report"],
        "node_id": ["home.rates", "home.tools", "service", "service", "fraud"],
    }
)
QUERY_MAP = pd.DataFrame({"query": ["mortgage rates", "lost card"], "node_id": ["home.rates", "fraud"]})

SESSIONS = [
    (
        "web",
        [
            ("page_view", "/mortgages/rates", 30_000, None),
            ("search", "/search", None, "Mortgage  Rates"),
            ("calculator", "/mortgages/calculator", 90_000, None),
        ],
    ),
    (
        "web",
        [
            ("page_view", "/mortgages/new-page", 10_000, None),
            ("search", "/search", 0, "jumbo loan for jane@example.com"),
            ("page_view", "/unknown/x", 5_000, None),
        ],
    ),
    (
        "app",
        [("screen_view", "/app/accounts", 4_000, None), ("screen_view", "/app/transfers", None, None), ("login", "/app/accounts", 0, None)],
    ),
    (
        "web",
        [
            ("page_view", "/security/report", 60_000, None),
            ("search", "/search", None, "lost card 4111 1111 1111 1111"),
            ("search", "/search", None, None),
        ],
    ),
    ("web", [("page_view", "/mortgages/rates", 0, None)]),
]


def _frame(sessions) -> pd.DataFrame:
    rows = []
    for number, (platform, events) in enumerate(sessions):
        rows.append(
            {
                "session_id": f"s{number:03d}",
                "platform": platform,
                "anonymous_id": f"a{number}",
                "customer_id": "c1" if platform == "app" else None,
                "session_start_ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=number),
                "session_end_ts": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(hours=number, minutes=5),
                "n_events": len(events),
                "page_paths": [e[1] for e in events],
                "event_types": [e[0] for e in events],
                "dwell_ms": [e[2] for e in events],
                "search_queries": [e[3] for e in events],
            }
        )
    return pd.DataFrame(rows)


def test_batch_features_equal_the_online_features_of_each_session() -> None:
    batch = SessionBatch.from_frame(_frame(SESSIONS))
    layout = build_layout(TAXONOMY, PAGE_MAP, QUERY_MAP, hash_buckets=32)
    matrix = batch_features(layout, batch).toarray()
    for row, (platform, events) in enumerate(SESSIONS):
        raw_events = [{"event_type": t, "page_path": p, "dwell_ms": d, "search_query": q, "platform": platform} for t, p, d, q in events]
        online = np.zeros(layout.n_features)
        for index, value in session_features(layout, raw_events).items():
            online[index] = value
        np.testing.assert_allclose(matrix[row], online, atol=1e-12, err_msg=f"session {row}")


def test_features_use_the_page_map_then_the_url_section_then_hashed_query_words() -> None:
    layout = build_layout(TAXONOMY, PAGE_MAP, QUERY_MAP, hash_buckets=32)
    rates = layout.node_ids.index("home.rates")
    # An unseen mortgages page falls back to the node most /mortgages pages map to (a tie goes
    # to the first id in sort order).
    assert layout.node_of_page("/mortgages/new-page") == rates
    assert layout.node_of_page("/nowhere/at/all") == -1
    features = session_features(layout, [{"event_type": "search", "search_query": "Mortgage RATES", "page_path": "/search"}])
    assert features[layout.query_offset + rates] == 1.0  # a known query, whatever its case and spacing
    unknown = session_features(layout, [{"event_type": "search", "search_query": "jumbo mortgage", "page_path": "/search"}])
    assert not any(layout.query_offset <= index < layout.token_offset for index in unknown)
    assert any(layout.token_offset <= index < layout.event_type_offset for index in unknown)  # its words still count


def _training_frame(n_per_class: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    templates = {
        "home.rates": [("page_view", "/mortgages/rates", None), ("search", "/search", "mortgage rates")],
        "home.tools": [("calculator", "/mortgages/calculator", None), ("page_view", "/mortgages/rates", None)],
        "service": [("screen_view", "/app/accounts", None), ("screen_view", "/app/transfers", None)],
        "fraud": [("page_view", "/security/report", None), ("search", "/search", "lost card")],
    }
    sessions, labels = [], []
    for label, template in templates.items():
        for _ in range(n_per_class):
            events = [(t, p, int(rng.integers(1_000, 90_000)), q) for t, p, q in template for _ in range(int(rng.integers(1, 3)))]
            sessions.append(("app" if label == "service" else "web", events))
            labels.append(label)
    frame = _frame(sessions)
    frame["teacher"] = labels
    return frame


def test_a_trained_classifier_is_stored_without_pickle_and_predicts_the_same_online_and_in_batch(tmp_path) -> None:
    frame = _training_frame()
    batch = SessionBatch.from_frame(frame.drop(columns="teacher"))
    labels = pd.DataFrame(
        {
            "session_id": frame["session_id"],
            "primary_node_id": frame["teacher"],
            "node_ids": frame["teacher"],
            "teacher": "offline",
            "taxonomy_version": TAXONOMY.taxonomy_version,
        }
    )
    result = train_classifier(TAXONOMY, PAGE_MAP, QUERY_MAP, batch, labels, DistillConfig(hash_buckets=32, min_class_sessions=3))
    assert result.metrics["agreement_node"]["accuracy"] > 0.9  # four well-separated intents
    directory = tmp_path / "intent_classifier"
    save_classifier(result, directory, teacher="offline")
    assert sorted(path.name for path in directory.iterdir()) == ["features.json", "model_card.json", "weights.safetensors"]
    # plain formats only: JSON, and safetensors (a JSON header and raw float32 data)
    for name in ("features.json", "model_card.json"):
        json.loads((directory / name).read_text())
    with safe_open(str(directory / "weights.safetensors"), framework="numpy") as weights:
        assert sorted(weights.keys()) == ["coef", "intercept"]

    loaded = IntentClassifier.load(tmp_path)  # the models dir, as serving passes it
    assert loaded.card["teacher"] == "offline" and loaded.card["taxonomy_version"] == TAXONOMY.taxonomy_version
    table = label_all_sessions(loaded, batch).to_pandas()
    assert list(table.columns) == [
        "session_id",
        "platform",
        "customer_id",
        "session_end_ts",
        "intent_node_id",
        "intent_top_node_id",
        "intent_confidence",
        "intent_top_node_probs",
        "taxonomy_version",
    ]
    for row in range(len(batch)):
        online = loaded.predict_events(batch.events(row))
        assert online.node_id == table["intent_node_id"].iat[row]
        assert online.confidence == pytest.approx(float(table["intent_confidence"].iat[row]), abs=1e-5)
        np.testing.assert_allclose(online.top_node_probs, table["intent_top_node_probs"].iat[row], atol=1e-5)
        # top-down decoding: the node always lies under the chosen level-1 node
        assert TAXONOMY.top_of(online.node_id).id == online.top_node_id
        assert sum(online.top_node_probs) == pytest.approx(1.0)
        assert list(online.top_node_ids) == TAXONOMY.top_node_ids
    fraud = loaded.predict_events([{"event_type": "search", "search_query": "lost card", "page_path": "/search", "platform": "web"}])
    assert (fraud.node_id, fraud.node_name) == ("fraud", "Fraud")


def test_loading_from_an_empty_directory_says_what_to_run(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="clickintent taxonomy distill"):
        IntentClassifier.load(tmp_path)


# ---------------------------------------------------------------------------------------------
# keys shared with dbt


def test_query_normalisation_masks_like_dbt_and_is_idempotent() -> None:
    # dbt's macro is generated from the same rules (tests/privacy/test_macro.py holds them equal)
    raw = "Refinance  for JOHN@example.com acct 1234 5678 90"
    masked_like_dbt = "refinance for [email] acct [account]"
    assert normalize_query(raw) == masked_like_dbt
    assert normalize_query(masked_like_dbt) == masked_like_dbt
    assert normalize_query("   ") is None and normalize_query(None) is None


@pytest.mark.parametrize(
    ("path", "section"),
    [("/mortgages/rates", "mortgages"), ("/app/cards/lock", "cards"), ("/", "home"), ("/app", "home"), ("/Help", "help")],
)
def test_url_sections_follow_the_dbt_macro(path: str, section: str) -> None:
    assert url_section(path) == section

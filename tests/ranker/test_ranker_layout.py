"""Feature layout: Feast-typed rows become the same matrix in training (frames) and serving (dicts)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from feast.types import Array, Bool, Float32, Float64, Int64, String

from clickintent.ranker.encoding import CandidateBlock, MatrixEncoder
from clickintent.ranker.layout import FeatureLayout, LayoutError, build_layout
from clickintent.ranker.tabular import ColumnKind, FeatureColumn
from clickintent.ranker.training_sets import ServiceFeature

FEATURES = [
    ServiceFeature("customer_profile", "customer_segment", String),
    ServiceFeature("customer_profile", "tenure_months", Int64),
    ServiceFeature("customer_profile", "is_new_customer", Bool),
    ServiceFeature("customer_profile", "held_product_families", Array(String)),
    ServiceFeature("customer_profile", "held_product_ids", Array(String)),
    ServiceFeature("product_features", "product_family", String),
    ServiceFeature("product_features", "annual_fee_usd", Float64),
    ServiceFeature("customer_web_intent_labels", "web_distilled_top_node_probs", Array(Float32)),
    ServiceFeature("customer_web_embedding", "web_embedding", Array(Float32)),
]
CONTEXT = (FeatureColumn("product_id", ColumnKind.CATEGORICAL), FeatureColumn("position", ColumnKind.NUMERIC))
DERIVED = ("holds_candidate_product", "holds_candidate_family")
# The product families of the data the model is trained on (the catalogue's, sorted).
FAMILIES = ("cards", "deposits", "lending")


def frame(rows: int = 40, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    products = ["card_a", "card_b", "loan_c", "sav_d"]
    families = {"card_a": "cards", "card_b": "cards", "loan_c": "lending", "sav_d": "deposits"}
    product = rng.choice(products, rows)
    return pd.DataFrame(
        {
            "customer_segment": [None if i % 7 == 0 else ["mass", "affluent"][i % 2] for i in range(rows)],
            "tenure_months": [np.nan if i % 5 == 0 else float(i) for i in range(rows)],
            "is_new_customer": [None if i % 6 == 0 else bool(i % 2) for i in range(rows)],
            "held_product_families": [
                None if i % 6 == 0 else [["cards"], [], ["cards", "lending"], ["pensions"]][i % 4] for i in range(rows)
            ],
            "held_product_ids": [None if i % 9 == 0 else list(rng.choice(products, 2, replace=False)) for i in range(rows)],
            "product_family": [families[p] for p in product],
            "annual_fee_usd": rng.choice([0.0, 95.0, np.nan], rows),
            "web_distilled_top_node_probs": [None if i % 3 else rng.dirichlet(np.ones(3)).astype(np.float32) for i in range(rows)],
            "web_embedding": [None if i % 4 else rng.normal(size=5).astype(np.float32) for i in range(rows)],
            "product_id": product,
            "position": rng.integers(1, 5, rows),
        }
    )


def layout_for(train: pd.DataFrame) -> FeatureLayout:
    return build_layout(
        FEATURES,
        train,
        context=CONTEXT,
        derived=DERIVED,
        element_labels={"web_distilled_top_node_probs": ["home", "cards", "travel"]},
        grouped_vectors=("web_embedding",),
        flag_sets={"held_product_families": FAMILIES},
    )


def test_layout_follows_feast_types_and_names_vector_elements() -> None:
    layout = layout_for(frame())
    kinds = {column.name: column.kind for column in layout.schema.columns}
    assert kinds["customer_segment"] is ColumnKind.CATEGORICAL
    assert kinds["tenure_months"] is ColumnKind.NUMERIC
    assert kinds["is_new_customer"] is ColumnKind.BOOLEAN
    flags = [c for c in layout.model_columns if c.startswith("held_product_families")]
    assert flags == [f"held_product_families.{family}" for family in FAMILIES]
    assert all(kinds[c] is ColumnKind.BOOLEAN for c in flags) and layout.flag_values("held_product_families") == FAMILIES
    assert kinds["product_id"] is ColumnKind.CATEGORICAL and kinds["position"] is ColumnKind.NUMERIC
    assert [c for c in layout.model_columns if c.startswith("web_distilled")] == [
        "web_distilled_top_node_probs.home",
        "web_distilled_top_node_probs.cards",
        "web_distilled_top_node_probs.travel",
    ]
    assert [c for c in layout.model_columns if c.startswith("web_embedding")] == [f"web_embedding.{i}" for i in range(5)]
    assert "held_product_ids" in layout.unused and "held_product_ids" not in layout.model_columns
    groups = layout.reason_group()
    assert (
        groups["web_embedding.3"] == "web_embedding" and groups["web_distilled_top_node_probs.home"] == "web_distilled_top_node_probs.home"
    )
    assert FeatureLayout.from_json(layout.to_json()) == layout


def test_dict_rows_encode_exactly_like_the_training_frame() -> None:
    train = frame()
    layout = layout_for(train)
    serving = frame(rows=25, seed=9)
    serving.loc[3, "customer_segment"] = "never_seen_segment"
    records = serving.to_dict(orient="records")
    # What a service builds: lists instead of arrays, absent keys, None for missing.
    for record in records:
        for key, value in list(record.items()):
            if isinstance(value, np.ndarray):
                record[key] = value.tolist()
            elif isinstance(value, float) and math.isnan(value):
                del record[key]

    expected = MatrixEncoder.of(layout).encode_frame(serving)
    got = MatrixEncoder.of(layout).encode_rows(records)

    np.testing.assert_array_equal(got, expected)
    segment = layout.model_columns.index("customer_segment")
    assert math.isnan(got[3, segment])  # an unseen category is missing, not a new code
    holds_product = layout.model_columns.index("holds_candidate_product")
    for row, record in enumerate(records):
        held = record.get("held_product_ids")
        assert math.isnan(got[row, holds_product]) if held is None else got[row, holds_product] == float(record["product_id"] in held)
    holds_family = layout.model_columns.index("holds_candidate_family")
    for row, record in enumerate(records):
        held = record.get("held_product_families")
        assert math.isnan(got[row, holds_family]) if held is None else got[row, holds_family] == float(record["product_family"] in held)
    flags = [layout.model_columns.index(f"held_product_families.{family}") for family in FAMILIES]
    for row, record in enumerate(records):
        held = record.get("held_product_families")
        expected_flags = [math.nan] * len(FAMILIES) if held is None else [float(family in held) for family in FAMILIES]
        np.testing.assert_array_equal(got[row, flags], expected_flags)  # a family the model does not know ('pensions') has no column


def test_candidate_block_encodes_like_the_full_rows() -> None:
    """The service's path: the catalogue's columns encoded once, each request's shared values
    once, laid over each other; the derived columns (which read both) per row."""
    layout = layout_for(frame())
    encoder = MatrixEncoder.of(layout)
    catalogue = {
        "card_a": {"product_id": "card_a", "product_family": "cards", "annual_fee_usd": 95.0},
        "card_b": {"product_id": "card_b", "product_family": "cards", "annual_fee_usd": None},
        "loan_c": {"product_id": "loan_c", "product_family": "lending", "annual_fee_usd": 0.0},
        "sav_d": {"product_id": "sav_d", "product_family": "deposits", "annual_fee_usd": 0.0},
    }
    block = CandidateBlock(encoder, catalogue)
    customers = [
        {
            "customer_segment": "mass",
            "tenure_months": 14,
            "held_product_families": ["cards"],
            "held_product_ids": ["card_b"],
            "web_embedding": [0.5] * 5,
        },
        {"customer_segment": "affluent", "held_product_families": [], "web_distilled_top_node_probs": [0.2, 0.5, 0.3]},
        # a shared value under a candidate's key: the candidate's value wins, as in {**shared, **candidate}
        {"annual_fee_usd": 1e6, "product_family": "home"},
        {},
    ]
    for shared in customers:
        for candidate_ids in (["sav_d", "card_a", "card_b"], ["loan_c"], list(catalogue), []):
            rows = [{**shared, **catalogue[candidate]} for candidate in candidate_ids]
            got = block.encode(shared, candidate_ids, rows)
            np.testing.assert_array_equal(got, encoder.encode_rows(rows))
            assert got.shape == (len(candidate_ids), encoder.width)
    holds_product = layout.model_columns.index("holds_candidate_product")
    rows = [{**customers[0], **catalogue[c]} for c in ("card_a", "card_b")]
    assert block.encode(customers[0], ["card_a", "card_b"], rows)[:, holds_product].tolist() == [0.0, 1.0]


def test_a_vector_never_produced_is_left_out_and_listed() -> None:
    train = frame().assign(web_embedding=None)
    layout = layout_for(train)
    assert "web_embedding" in layout.unused and "not produced yet" in layout.unused["web_embedding"]
    assert not any(column.startswith("web_embedding") for column in layout.model_columns)
    # Serving rows may still carry it; it is ignored.
    MatrixEncoder.of(layout).encode_rows([{"web_embedding": [0.0] * 7, "product_id": "card_a"}])


def test_bad_values_are_clear_errors() -> None:
    layout = layout_for(frame())
    encoder = MatrixEncoder.of(layout)
    with pytest.raises(LayoutError, match="'web_embedding' has 3 values; the model expects 5"):
        encoder.encode_rows([{"web_embedding": [1.0, 2.0, 3.0]}])
    with pytest.raises(LayoutError, match="non-numeric"):
        encoder.encode_rows([{"tenure_months": "twelve"}])
    bad = frame().assign(web_embedding=[np.zeros(3, dtype=np.float32)] * 40)
    with pytest.raises(LayoutError, match="'web_embedding' has 3 values"):
        encoder.encode_frame(bad)
    card = layout.to_json()
    card["derived"] = {"holds_a_pony": "?"}
    with pytest.raises(LayoutError, match="holds_a_pony"):
        FeatureLayout.from_json(card)

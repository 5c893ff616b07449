"""Reason codes from real trained models whose driving feature is known by construction."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from clickintent.ranker.conversion_model import DEFAULT_CANDIDATES, ConversionModel, TrainingConfig
from clickintent.ranker.feature_reasons import FEATURE_REASON_TEMPLATES
from clickintent.ranker.reasons import ReasonTemplates, display_value, explain, literal_prefix
from clickintent.ranker.tree_shap import PathTreeShap

SMALL = TrainingConfig(candidates=(replace(DEFAULT_CANDIDATES[0], max_rounds=200, early_stopping_rounds=20),))
NODES = ["home_buying", "account_servicing", "travel_rewards", "retirement"]


def web_intent_world(rows: int = 1500, seed: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    """Conversion is driven by researching home buying on the web; the other columns are noise."""
    rng = np.random.default_rng(seed)
    top_node = rng.choice(NODES, rows)
    frame = pd.DataFrame(
        {
            "top_taxonomy_node_id_30d": top_node,
            "n_linked_sessions_30d": rng.integers(1, 9, rows),
            "tenure_months": rng.integers(1, 200, rows),
            "balance": rng.gamma(2.0, 1000.0, rows).round(2),
            "has_card": rng.random(rows) < 0.5,
        }
    )
    flip = rng.random(rows) < 0.05
    labels = ((top_node == "home_buying") ^ flip).astype(np.int8)
    return frame, labels


def numeric_driver_world(rows: int = 1500, seed: int = 8) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows) for name in ("calculator_uses", "noise_a", "noise_b", "noise_c")})
    labels = (frame["calculator_uses"] + rng.normal(0, 0.3, rows) > 0.8).astype(np.int8).to_numpy()
    return frame, labels


@pytest.fixture(scope="module")
def web_intent_model() -> ConversionModel:
    frame, labels = web_intent_world()
    return ConversionModel.fit(frame, labels, config=SMALL, seed=2, threads=1)


def test_categorical_driver_is_the_top_reason_in_the_feature_templates(web_intent_model: ConversionModel) -> None:
    frame, _ = web_intent_world(rows=300, seed=11)
    reasons = explain(web_intent_model, frame)

    researched = frame["top_taxonomy_node_id_30d"] == "home_buying"
    assert researched.sum() > 40
    for row_index in np.flatnonzero(researched.to_numpy()):
        top = reasons[row_index][0]
        assert top.feature == "top_taxonomy_node_id_30d" and top.value == "home_buying"
        sessions = frame["n_linked_sessions_30d"].iloc[row_index]
        assert top.text == f"researched home buying on the web (web sessions in the last 30 days: {sessions})"
        assert top.contribution > 0
    # Contributions are sorted and positive only.
    for row in reasons:
        assert all(reason.contribution > 0 for reason in row)
        assert [reason.contribution for reason in row] == sorted((reason.contribution for reason in row), reverse=True)
        assert len(row) <= 3


def test_numeric_driver_is_the_top_reason_with_generic_fallback() -> None:
    frame, labels = numeric_driver_world()
    model = ConversionModel.fit(frame, labels, config=SMALL, seed=3, threads=1)
    test_frame, _ = numeric_driver_world(rows=400, seed=21)
    high = test_frame[test_frame["calculator_uses"] > 1.2]
    assert len(high) > 30

    reasons = explain(model, high, templates=ReasonTemplates(), top_k=2)

    for row, value in zip(reasons, high["calculator_uses"]):
        assert row[0].feature == "calculator_uses"
        assert row[0].text == f"calculator_uses = {value:.3g} raised the score"


def test_single_request_row_matches_the_batch_and_survives_save_load(web_intent_model: ConversionModel, tmp_path: Path) -> None:
    frame, _ = web_intent_world(rows=50, seed=12)
    batch = explain(web_intent_model, frame)
    request = frame.iloc[7].to_dict()  # what a service gets: one plain mapping

    single = explain(web_intent_model, request)

    assert single == [batch[7]]
    web_intent_model.save(tmp_path / "conversion", name="conversion")
    loaded = ConversionModel.load(tmp_path / "conversion", threads=1)
    assert explain(loaded, frame) == batch


def test_reason_contributions_are_treeshap_shares_of_the_margin(web_intent_model: ConversionModel) -> None:
    frame, _ = web_intent_world(rows=100, seed=13)
    matrix = web_intent_model.dmatrix(web_intent_model.encode(frame))
    full = web_intent_model.booster.predict(matrix, pred_contribs=True)
    margin = web_intent_model.booster.predict(matrix, output_margin=True)
    np.testing.assert_allclose(full.sum(axis=1), margin, rtol=1e-4, atol=1e-4)
    columns = web_intent_model.schema.model_feature_names

    for row, reasons in enumerate(explain(web_intent_model, frame, top_k=5)):
        for reason in reasons:
            assert reason.contribution == pytest.approx(float(full[row, columns.index(reason.feature)]), abs=1e-6)


def test_template_registry_matches_feature_value_then_feature_and_falls_back() -> None:
    templates = (
        ReasonTemplates()
        .register(r"plan=(?P<tier>gold|platinum)", "holds the {tier} plan")
        .register(r"n_(?P<thing>.+)_30d", "{value} {thing} in 30 days")
        .register(r"broken", "uses {row[absent_column]}")
    )
    assert templates.render("plan", "gold", {}) == "holds the gold plan"
    assert templates.render("plan", "basic", {}) == "plan = basic raised the score"
    assert templates.render("n_form_starts_30d", "3", {}) == "3 form starts in 30 days"
    assert templates.render("broken", "1", {}) == "broken = 1 raised the score"
    assert FEATURE_REASON_TEMPLATES.render("top_taxonomy_node_id_30d", "section:mortgages", {"n_linked_sessions_30d": "4"}) == (
        "researched mortgages on the web (web sessions in the last 30 days: 4)"
    )


def test_values_are_displayed_by_one_rule() -> None:
    assert [display_value(value) for value in (True, np.bool_(False), 1970.0, 1234.56, 0.62345, np.int64(3), "gold")] == [
        "yes",
        "no",
        "1,970",
        "1,235",
        "0.623",
        "3",
        "gold",
    ]


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        (r"held_product_families\.(?P<family>[^=]+)=yes", "held_product_families"),
        (r"taxonomy_node_shares_30d\.(?P<node>[^=]+)", "taxonomy_node_shares_30d"),
        (r"annual_fee_usd=0", "annual_fee_usd=0"),
        (r"(?:web_)?n_searches_30d=0", ""),
        (r"n_forms?_30d", "n_form"),  # a quantified last literal is optional
        (r"plan=gold|tier=(?P<tier>.+)", ""),  # a top-level alternation has no common start
        (r"plan=(?P<tier>gold|platinum)", "plan="),  # an alternation inside a group keeps the start
        (r"(?i)plan", ""),
    ],
)
def test_literal_prefix_is_read_conservatively_from_the_pattern_text(pattern: str, prefix: str) -> None:
    assert literal_prefix(re.compile(pattern)) == prefix


def test_candidate_filter_renders_exactly_like_trying_every_template() -> None:
    """The per-feature filter only skips templates that could not match: the same texts as a
    registry that tries every template in order, over the real features and tricky names."""
    features = [
        "top_taxonomy_node_id_30d",
        "taxonomy_node_shares_30d.mortgage_loan",
        "held_product_families.cards",
        "held_product_families.pensions",
        "holds_candidate_family",
        "annual_fee_usd",
        "n_form_starts_30d",
        "complexity",
        "product_id",
        "web_embedding",
        "unknown_feature",
        "holds_",
        "held_product_families",
        "n",
    ]
    values = ["0", "1", "yes", "no", "0.25", "0.05", "card_a", "1,970", "section:mortgages"]
    rows = [{}, {"n_linked_sessions_30d": "4", "product_family": "cards"}]

    def brute_force(feature: str, value: str, row: dict) -> str:
        reference = ReasonTemplates()
        for template in FEATURE_REASON_TEMPLATES._templates:
            reference.register(template.pattern.pattern, template.text, min_value=template.min_value)
        for template, with_value in ((t, t.pattern.fullmatch(f"{feature}={value}")) for t in reference._templates):
            match = with_value or template.pattern.fullmatch(feature)
            if match is None or not template.accepts(value):
                continue
            named = {
                key: group.rsplit(":", 1)[-1].replace("_", " ").replace("-", " ")
                for key, group in match.groupdict().items()
                if group is not None
            }
            try:
                return template.text.format_map({"feature": feature, "value": value, "row": row, "contribution": 0.0, **named})
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                continue
        return reference.fallback.format_map({"feature": feature, "value": value, "row": row, "contribution": 0.0})

    for feature in features:
        for value in values:
            for row in rows:
                assert FEATURE_REASON_TEMPLATES.render(feature, value, row) == brute_force(feature, value, row), (feature, value, row)


def test_tabulated_tree_shap_equals_xgboost_with_categories_missing_values_and_repeated_splits() -> None:
    rng = np.random.default_rng(21)
    rows = 2000
    frame = pd.DataFrame(
        {
            "segment": pd.Categorical(rng.choice(["a", "b", "c", "d", "e", "f"], rows)),
            "balance": rng.lognormal(7, 1.5, rows),
            "share": rng.random(rows),
            "visits": rng.poisson(2, rows).astype(float),
        }
    )
    frame.loc[rng.random(rows) < 0.2, "share"] = np.nan  # missing values take each split's default branch
    frame.loc[rng.random(rows) < 0.1, "segment"] = np.nan
    logit = (frame["segment"].isin(["b", "e"])).astype(float) * 1.5 + np.log(frame["balance"]) * 0.4 - 3 + np.nan_to_num(frame["share"]) * 2
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    train = xgb.DMatrix(frame, labels, enable_categorical=True)
    # Deep trees split the same feature more than once on a path; max_cat_to_onehot=1 gives set splits.
    booster = xgb.train({"objective": "binary:logistic", "nthread": 1, "max_depth": 7, "max_cat_to_onehot": 1}, train, 40)

    test = frame.sample(300, random_state=3)
    test_matrix = xgb.DMatrix(test, enable_categorical=True)
    expected = booster.predict(test_matrix, pred_contribs=True)[:, :-1]
    codes = test.assign(segment=test["segment"].cat.codes.replace(-1, np.nan).astype(float)).to_numpy(dtype=np.float32)
    codes[0, 0] = 17.0  # a category code the trees never saw goes the way of every unlisted category

    explainer = PathTreeShap(booster)
    actual = explainer.contributions(codes)
    expected[0] = booster.predict(
        xgb.DMatrix(codes[:1], feature_names=list(frame.columns), feature_types=["c", "float", "float", "float"], enable_categorical=True),
        pred_contribs=True,
    )[0, :-1]

    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=2e-5)
    assert np.abs(expected).max() > 0.1  # the comparison is not between zeros
    assert explainer.contributions(codes[:0]).shape == (0, 4)
    with pytest.raises(ValueError, match="matrix"):
        explainer.contributions(codes[:, :3])


def test_template_candidates_follow_later_registrations() -> None:
    templates = ReasonTemplates().register(r"n_(?P<thing>.+)_30d", "{value} {thing} in 30 days")
    assert templates.render("n_searches_30d", "3", {}) == "3 searches in 30 days"
    templates_first = (
        ReasonTemplates().register(r"(?:web_)?n_searches_30d=0", "never searched").register(r"n_(?P<thing>.+)_30d", "{value} {thing}")
    )
    assert templates_first.render("n_searches_30d", "0", {}) == "never searched"
    assert templates_first.render("n_searches_30d", "2", {}) == "2 searches"
    # A template registered after a render is seen by the next render of the same feature.
    late = ReasonTemplates().register(r"plan", "has a plan")
    assert late.render("score_band", "high", {}) == "score_band = high raised the score"
    late.register(r"score_(?P<what>band)=high", "a high {what}")
    assert late.render("score_band", "high", {}) == "a high band"

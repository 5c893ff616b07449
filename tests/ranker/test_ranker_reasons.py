"""Reason templates for the real feature names: every servable feature reads as a sentence that stays true."""

from __future__ import annotations

from feast.types import Array, PrimitiveFeastType

from clickintent.features.store import load_repo_objects
from clickintent.ranker.anonymous_model import ANONYMOUS_REASON_TEMPLATES
from clickintent.ranker.anonymous_model import GROUPED_VECTORS as ANONYMOUS_GROUPED_VECTORS
from clickintent.ranker.feature_reasons import FEATURE_REASON_TEMPLATES as T
from clickintent.ranker.layout import DERIVED_FEATURES
from clickintent.ranker.reasons import GENERIC_REASON, ReasonTemplates
from clickintent.settings import load_settings

SAMPLE_VALUES = {
    PrimitiveFeastType.STRING: "home_equity",
    PrimitiveFeastType.BOOL: "yes",
    PrimitiveFeastType.INT64: "3",
    PrimitiveFeastType.FLOAT64: "3",
    PrimitiveFeastType.FLOAT32: "0.6",
}


def servable_features(tmp_path) -> dict[tuple[str, str], object]:
    """(task, feature name) -> Feast type of every feature in the repo's production and ablation services."""
    contents = load_repo_objects(load_settings(data_dir=tmp_path / "data"))
    features = {}
    for service in contents.feature_services:
        task = service.tags.get("task", "")
        for projection in service.feature_view_projections:
            for feature in projection.features:
                features[(task, feature.name)] = feature.dtype
    return features


# Each task's models explain with their own templates; vectors whose reasons speak of the whole vector.
TEMPLATES = {"anonymous_ranking": ANONYMOUS_REASON_TEMPLATES}
GROUPED = {"web_embedding", "app_embedding", *ANONYMOUS_GROUPED_VECTORS}


def test_every_servable_feature_has_a_template(tmp_path) -> None:
    features = servable_features(tmp_path)
    names = {name for _, name in features}
    assert {"web_embedding", "web_distilled_top_node_probs", "taxonomy_node_shares_30d", "tenure_months", "journey_embedding"} <= names
    row = {"n_linked_sessions_30d": "3", "product_family": "home"}
    for (task, name), dtype in features.items():
        if name == "held_product_ids":
            continue  # read only by derived features
        if name == "held_product_families":
            feature, value = f"{name}.pensions", "yes"  # one flag per family the model was trained on
        elif isinstance(dtype, Array):
            grouped = name in GROUPED
            feature = name if grouped else f"{name}.mortgage_loan"
            value = "64-d vector" if grouped else "0.6"
        else:
            feature, value = name, SAMPLE_VALUES[dtype]
        text = TEMPLATES.get(task, T).render(feature, value, row)
        assert "raised the score" not in text, (task, feature, text)
    for name in DERIVED_FEATURES:
        assert "raised the score" not in T.render(name, "no", row)


def test_texts_follow_the_value_and_the_rest_of_the_row() -> None:
    share = "taxonomy_node_shares_30d.mortgage_loan"
    assert (
        T.render(share, "0.6", {"n_linked_sessions_30d": "3"})
        == "researched mortgage loan on the web (web sessions in the last 30 days: 3)"
    )
    assert T.render(share, "0.6", {}) == "researched mortgage loan on the web in the last 30 days"
    assert T.render(share, "0.05", {"n_linked_sessions_30d": "3"}) == "little web activity on mortgage loan in the last 30 days"
    probs = "web_distilled_top_node_probs.equity_home"
    assert T.render(probs, "0.9", {}) == "researched equity home on the web recently (intent of linked web sessions)"
    assert T.render(probs, "0.01", {}) == "little recent web interest in equity home"
    assert T.render("web_embedding", "64-d vector", {}) == "recent web browsing resembles customers who chose this"
    assert T.render("n_form_starts_30d", "2", {}) == "started 2 applications on the web in the last 30 days"
    assert T.render("n_form_starts_30d", "0", {}) == "no application started on the web in the last 30 days"
    assert T.render("held_product_families.pensions", "yes", {}) == "already holds pensions products with us"
    assert T.render("held_product_families.pensions", "no", {}) == "holds no pensions products with us yet"
    assert T.render("holds_candidate_family", "no", {"product_family": "home"}) == "has no home product with us yet"
    assert T.render("holds_candidate_family", "no", {}) == "has no product of this kind with us yet"
    assert T.render("total_balance_usd", "1,968", {}) == "balances of $1,968"
    assert T.render("age_band", "55-64", {}) == "in the 55-64 age band"


def test_min_value_and_unfillable_templates_fall_through_in_order() -> None:
    templates = (
        ReasonTemplates()
        .register(r"score", "high score {value} for {row[name]}", min_value=10)
        .register(r"score", "high score {value}", min_value=10)
        .register(r"score", "low score {value}")
    )
    assert templates.render("score", "12", {"name": "ann"}) == "high score 12 for ann"
    assert templates.render("score", "12", {}) == "high score 12"
    assert templates.render("score", "1,200", {}) == "high score 1,200"
    assert templates.render("score", "3", {"name": "ann"}) == "low score 3"
    assert templates.render("score", "n/a", {}) == "low score n/a"
    assert ReasonTemplates().render("x", "1", {}) == GENERIC_REASON.format(feature="x", value="1")

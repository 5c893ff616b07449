"""The ablation: every row on the same splits, evaluation.json in the issue's shape, rows that wait
for a stage say so, and with the stages' tables present every row trains on its own features."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from clickintent.cli.rank import rank_app
from clickintent.evaluation.metrics import (
    ConversionTestUnits,
    TileTestUnits,
    binary_logloss,
    macro_ovr_auc,
    multilabel_micro_f1,
    tile_macro_recall_at_1,
)
from clickintent.features.partitioned_marts import mart_location
from clickintent.ranker.tasks import ConversionAucUnits
from clickintent.settings import Settings

REQUIRED = ["a_baseline", "b_teacher_labels", "c_distilled_labels", "d_embedding", "e_embedding_and_labels"]
ROWS_AFTER_G = [
    "h_app_embedding",
    "i_app_embedding_and_labels",
    "j_app_and_linked_web",
    "k_identity_free_best",
    "l_app_aggregates",
    "m_app_all",
    "n_both_platforms",
]
COLUMNS = ["tile_macro_recall_at_1", "tile_logloss", "conversion_micro_f1", "conversion_auc"]
WAITING_ROWS = [
    "b_teacher_labels",
    "c_distilled_labels",
    "d_embedding",
    "e_embedding_and_labels",
    "g_all_online",
    "h_app_embedding",
    "i_app_embedding_and_labels",
    "j_app_and_linked_web",
    "m_app_all",
    "n_both_platforms",
]


@pytest.fixture(scope="module")
def waiting_evaluation(ranker_trained_world: Settings) -> dict:
    """The stage's evaluation.json on the small world: no taxonomy labels, no embeddings."""
    return json.loads((ranker_trained_world.reports_dir / "evaluation.json").read_text())


@pytest.fixture(scope="module")
def full_evaluation(ranker_stage_outputs_world: Settings) -> dict:
    """`clickintent rank ablation` on a copy with the label and embedding tables present."""
    world = ranker_stage_outputs_world
    result = CliRunner().invoke(rank_app, ["ablation", "--data-dir", str(world.data_dir), "--models-dir", str(world.models_dir)])
    assert result.exit_code == 0, result.output
    return json.loads((world.reports_dir / "evaluation.json").read_text())


def assert_issue_shape(evaluation: dict, measured: list[str]) -> None:
    names = [row["name"] for row in evaluation["rows"]]
    assert (
        names[:5] == REQUIRED and names[7:] == ROWS_AFTER_G and set(names) == {*REQUIRED, "f_web_aggregates", "g_all_online", *ROWS_AFTER_G}
    )
    rows = {row["name"]: row for row in evaluation["rows"]}
    for name in measured:
        row = rows[name]
        for column in COLUMNS:
            assert isinstance(row[column], float), (name, column)
            assert isinstance(row[f"{column}_change_vs_a"], float)
        assert 0.0 <= row["tile_macro_recall_at_1"] <= 1.0 and row["tile_logloss"] > 0
        assert 0.0 <= row["conversion_micro_f1"] <= 1.0 and 0.0 <= row["conversion_auc"] <= 1.0
        if name != "k_identity_free_best":  # a selection row reports the service of the row it took
            assert row["services"] == {"tile": f"tile_ranker_{name}", "conversion": f"conversion_{name}"}
    baseline = rows["a_baseline"]
    assert all(baseline[f"{column}_change_vs_a"] == 0.0 for column in COLUMNS)
    for name in measured:
        expected = (rows[name]["tile_logloss"] - baseline["tile_logloss"]) / baseline["tile_logloss"]
        assert rows[name]["tile_logloss_change_vs_a"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_rows_waiting_for_a_stage_say_so_and_have_no_figures(waiting_evaluation: dict) -> None:
    assert_issue_shape(waiting_evaluation, ["a_baseline", "f_web_aggregates", "l_app_aggregates", "k_identity_free_best"])
    rows = {row["name"]: row for row in waiting_evaluation["rows"]}
    assert rows["a_baseline"]["status"] == "ok" and rows["f_web_aggregates"]["status"] == "ok"
    assert rows["d_embedding"]["status"] == "waiting for the encoder"
    assert rows["c_distilled_labels"]["status"] == "waiting for the taxonomy stage"
    assert rows["e_embedding_and_labels"]["status"] == "waiting for the encoder; waiting for the taxonomy stage"
    for name in WAITING_ROWS:
        assert all(rows[name][column] is None and rows[name][f"{column}_change_vs_a"] is None for column in COLUMNS), name
        assert rows[name]["trees"] == {"tile": None, "conversion": None}
    assert rows["f_web_aggregates"]["model_columns"]["tile"] > rows["a_baseline"]["model_columns"]["tile"]
    assert rows["h_app_embedding"]["status"] == "waiting for the encoder" and rows["l_app_aggregates"]["status"] == "ok"
    # (k) can only take the identity-free row that was trained: (l), the dbt aggregates.
    assert rows["k_identity_free_best"]["chosen"] == {"tile": "l_app_aggregates", "conversion": "l_app_aggregates"}
    assert all(rows["k_identity_free_best"][column] == rows["l_app_aggregates"][column] for column in COLUMNS)
    checks = waiting_evaluation["checks"]
    assert checks["d_status"] == "waiting for the encoder" and checks["d_improves_tile_logloss_over_a"] is None
    assert checks["c_within_7pct_of_b_conversion_micro_f1"] is None
    assert checks["c_vs_b_status"] == "waiting for the taxonomy stage"


@pytest.mark.slow
def test_with_the_stages_tables_every_row_trains_on_its_own_features(full_evaluation: dict, waiting_evaluation: dict) -> None:
    assert_issue_shape(full_evaluation, [row["name"] for row in full_evaluation["rows"]])
    rows = {row["name"]: row for row in full_evaluation["rows"]}
    assert all(row["status"] == "ok" for row in rows.values())
    columns = {name: row["model_columns"] for name, row in rows.items()}
    # K taxonomy nodes per label vector (+1 id column), 8 embedding dimensions.
    assert columns["d_embedding"]["tile"] == columns["a_baseline"]["tile"] + 8
    assert (
        columns["b_teacher_labels"]["conversion"] == columns["c_distilled_labels"]["conversion"] > columns["a_baseline"]["conversion"] + 1
    )
    assert columns["e_embedding_and_labels"]["tile"] == columns["c_distilled_labels"]["tile"] + 8
    # Same splits and seed as the stage run without those tables: the baseline is the same model.
    baseline_before = next(row for row in waiting_evaluation["rows"] if row["name"] == "a_baseline")
    assert all(rows["a_baseline"][column] == baseline_before[column] for column in COLUMNS)
    assert rows["d_embedding"]["tile_logloss"] != rows["a_baseline"]["tile_logloss"]
    checks = full_evaluation["checks"]
    assert checks["d_status"] == "ok" and isinstance(checks["d_improves_tile_logloss_over_a"], bool)
    assert isinstance(checks["c_within_7pct_of_b_conversion_micro_f1"], bool)
    for key in ("d_vs_a_tile_logloss_change", "d_vs_a_tile_macro_recall_at_1_change", "c_vs_b_conversion_micro_f1_change"):
        for figure in (key, f"{key}_web_customers"):
            low, high = checks[f"{figure}_95pct"]
            assert low <= checks[figure] <= high, figure  # the point estimate lies inside its bootstrap interval
            assert low < high
    # The subset is applied: a different set of test impressions gives a different figure.
    assert checks["d_vs_a_tile_logloss_change_web_customers"] != checks["d_vs_a_tile_logloss_change"]


@pytest.mark.slow
def test_splits_and_definitions_are_recorded(full_evaluation: dict) -> None:
    assert set(full_evaluation["splits"]) == {"tile", "conversion"}
    assert full_evaluation["splits"]["conversion"]["label_window_days"] == 14
    assert set(COLUMNS) <= set(full_evaluation["metric_definitions"])
    coverage = full_evaluation["web_feature_coverage"]
    assert 0 < coverage["tile"]["test"] < 1 and 0 < coverage["conversion"]["test"] < 1
    assert full_evaluation["xgboost_threads"] == 1 and full_evaluation["seconds"]["total"] > 0


def _features(store, service: str) -> list[str]:
    from clickintent.ranker.training_sets import service_features

    return [feature.reference for feature in service_features(store, service)]


@pytest.mark.slow
def test_in_app_rows_differ_from_their_parent_only_in_their_features(ranker_trained_world: Settings) -> None:
    from clickintent.features.store import feature_store

    store = feature_store(ranker_trained_world)
    app_embedding = ["customer_app_embedding:app_embedding"]
    app_labels = ["customer_app_embedding:app_distilled_top_node_probs"]
    web = ["customer_web_embedding:web_embedding"] + [
        f"customer_web_intent_labels:{name}" for name in ("web_distilled_top_node_id", "web_distilled_top_node_probs")
    ]
    for prefix in ("tile_ranker", "conversion"):
        base = _features(store, f"{prefix}_a_baseline")
        aggregates = [f for f in _features(store, f"{prefix}_l_app_aggregates") if f not in base]
        assert aggregates and all(f.startswith("customer_app_intent:") for f in aggregates)
        expected = {
            "h_app_embedding": base + app_embedding,
            "i_app_embedding_and_labels": base + app_embedding + app_labels,
            "j_app_and_linked_web": base + app_embedding + app_labels + web,
            "l_app_aggregates": base + aggregates,
            "m_app_all": base + app_embedding + app_labels + aggregates,
            "n_both_platforms": _features(store, f"{prefix}_g_all_online") + app_embedding + app_labels,
        }
        for row, features in expected.items():
            assert _features(store, f"{prefix}_{row}") == features, (prefix, row)
        # The union fetched once per run holds every row's features.
        union = set(_features(store, f"{prefix}_ablation_all"))
        assert all(set(features) <= union for features in expected.values())
        # The production services are rows (j) and (n); the first production services had no in-app feature.
        production_row = "j_app_and_linked_web" if prefix == "tile_ranker" else "n_both_platforms"
        assert sorted(_features(store, f"{prefix}_v2")) == sorted(expected[production_row])
        assert not any(f.startswith("customer_app_") for f in _features(store, f"{prefix}_v1"))


@pytest.mark.slow
def test_reach_is_the_share_of_test_rows_with_an_app_row_in_the_ttl(full_evaluation: dict, ranker_stage_outputs_world: Settings) -> None:
    """(h)'s reach recomputed from the stand-in table by hand: test tiles and observations whose
    customer has an in-app row at or before the label time and within the view's 30-day ttl."""
    import pandas as pd

    from clickintent.features.model_outputs import CUSTOMER_APP_EMBEDDING

    world = ranker_stage_outputs_world
    rows = {row["name"]: row for row in full_evaluation["rows"]}
    app = pd.read_parquet(CUSTOMER_APP_EMBEDDING.path(world), columns=["customer_id", "as_of_ts"])
    app["as_of_ts"] = pd.to_datetime(app["as_of_ts"], utc=True)
    for task, mart, timestamp in (
        ("tile", "fct_tile_impressions", "impression_ts"),
        ("conversion", "fct_conversion_labels", "observation_ts"),
    ):
        labels = pd.read_parquet(mart_location(world.marts_dir, mart))
        if "label_window_complete" in labels:
            labels = labels[labels["label_window_complete"].astype(bool)]
        labels[timestamp] = pd.to_datetime(labels[timestamp], utc=True)
        test = labels[labels[timestamp] >= pd.Timestamp(full_evaluation["splits"][task]["test_start"])].reset_index(drop=True)
        joined = test[["customer_id", timestamp]].reset_index().merge(app, on="customer_id", how="left")
        inside = (joined["as_of_ts"] <= joined[timestamp]) & (joined["as_of_ts"] > joined[timestamp] - pd.Timedelta(days=30))
        reached = joined[inside]["index"].nunique() / len(test)
        assert 0 < reached < 1
        assert rows["h_app_embedding"]["reach"][task] == pytest.approx(reached, abs=1e-4), task
        # Same app rows, so the same customers; (j) adds the web rows' customers.
        assert rows["i_app_embedding_and_labels"]["reach"][task] == rows["h_app_embedding"]["reach"][task]
        assert rows["j_app_and_linked_web"]["reach"][task] >= rows["i_app_embedding_and_labels"]["reach"][task]
    assert rows["a_baseline"]["reach"] == {"tile": None, "conversion": None}
    checks = full_evaluation["checks"]
    assert checks["h_tile_reach"] == rows["h_app_embedding"]["reach"]["tile"]
    assert checks["h_reaches_more_tiles_than_web"] == (checks["h_tile_reach"] > checks["web_tile_reach"])


@pytest.mark.slow
def test_every_row_is_compared_with_a_on_all_and_on_reached_units(full_evaluation: dict) -> None:
    rows = {row["name"]: row for row in full_evaluation["rows"]}
    for name in ("d_embedding", "h_app_embedding", "j_app_and_linked_web", "m_app_all"):
        for column in COLUMNS:
            figures = rows[name]["vs_a"][column]
            assert figures["all"]["change"] == pytest.approx(rows[name][f"{column}_change_vs_a"], abs=1e-5), (name, column)
            for scope in ("all", "reached"):
                low, high = figures[scope]["interval_95pct"]
                assert low <= figures[scope]["change"] <= high, (name, column, scope)
            assert 0 < figures["reached"]["units"]
    # The reached subset is applied: fewer units, another figure.
    tile = rows["h_app_embedding"]["vs_a"]["tile_logloss"]
    assert tile["reached"]["change"] != tile["all"]["change"]
    # (d)'s reached units are its web customers: the existing check's subset, same figure.
    d_reached = rows["d_embedding"]["vs_a"]["tile_logloss"]["reached"]["change"]
    assert d_reached == pytest.approx(full_evaluation["checks"]["d_vs_a_tile_logloss_change_web_customers"], abs=1e-5)
    # (k) is the identity-free candidate best on validation LogLoss, and reports its figures.
    k = rows["k_identity_free_best"]
    candidates = ["h_app_embedding", "i_app_embedding_and_labels", "l_app_aggregates", "m_app_all"]
    best = min(candidates, key=lambda name: rows[name]["validation"]["tile_logloss"])
    assert k["chosen"]["tile"] == best and k["tile_logloss"] == rows[best]["tile_logloss"]
    assert k["identity_free"] and not rows["j_app_and_linked_web"]["identity_free"]


def test_a_tile_impression_is_reached_when_any_of_its_tiles_is() -> None:
    import pandas as pd

    from clickintent.ranker.ablation import per_test_unit, present_rows
    from clickintent.ranker.tasks import CONVERSION_TASK, TILE_TASK

    test = pd.DataFrame(
        {
            "impression_id": ["i2", "i2", "i1", "i1", "i3"],
            "app_embedding": [None, np.ones(2), None, None, None],
            "n_app_sessions_30d": [np.nan, np.nan, np.nan, np.nan, 3.0],
        }
    )

    class Prepared:
        frames = {"test": test}

    rows = present_rows(test, ["app_embedding", "n_app_sessions_30d", "not_fetched"])
    assert rows.tolist() == [False, True, False, False, True]
    # Units in order of first appearance (pd.factorize, as fit_tile numbers them): i2, i1, i3.
    assert per_test_unit(TILE_TASK, Prepared, rows).tolist() == [True, False, True]
    assert per_test_unit(CONVERSION_TASK, Prepared, rows).tolist() == rows.tolist()
    assert not present_rows(test, []).any()


def test_bootstrap_units_reproduce_the_point_metrics() -> None:
    """With every unit weighted once, the per-unit sums give exactly the table's metrics."""
    rng = np.random.default_rng(0)
    impressions = np.repeat(np.arange(300), 5)
    products = rng.choice(["p1", "p2", "p3", "p4"], size=len(impressions))
    clicked = rng.random(len(impressions)) < 0.15
    serving, logged = rng.random(len(impressions)), rng.uniform(0.01, 0.99, len(impressions))
    units = TileTestUnits(impressions, products, clicked, serving, logged)
    ones = np.ones((1, 300))
    assert units.logloss(ones)[0] == pytest.approx(binary_logloss(clicked.astype(int), logged))
    expected = tile_macro_recall_at_1(impressions, products, clicked, serving)["macro_recall_at_1"]
    assert units.macro_recall_at_1(ones)[0] == pytest.approx(expected)
    truth = rng.random((400, 7)) < 0.05
    predicted = rng.random((400, 7)) < 0.08
    conversion = ConversionTestUnits(truth, predicted)
    assert conversion.micro_f1(np.ones((1, 400)))[0] == pytest.approx(multilabel_micro_f1(truth.astype(int), predicted.astype(int)))
    probabilities = rng.random((400, 7))
    truth[:, 6] = False  # a family without positives counts nowhere, as in macro_ovr_auc
    assert ConversionAucUnits(truth, probabilities).macro_auc(np.ones((1, 400)))[0] == pytest.approx(macro_ovr_auc(truth, probabilities)[0])


@pytest.mark.slow
def test_rank_designs_measures_the_alternatives_on_validation(ranker_trained_world: Settings) -> None:
    world = ranker_trained_world
    result = CliRunner().invoke(rank_app, ["designs", "--data-dir", str(world.data_dir), "--models-dir", str(world.models_dir)])
    assert result.exit_code == 0, result.output
    designs = json.loads((world.reports_dir / "ranker_designs.json").read_text())
    tile = {row["design"]: row for row in designs["tile"]}
    assert [row["chosen"] for row in designs["tile"]].count(True) == 1
    assert any(name.startswith("rank:ndcg") for name in tile) and any(name.startswith("rank:pairwise") for name in tile)
    assert all(row["validation_logloss"] is None for name, row in tile.items() if name.startswith("rank:"))
    assert all(0 <= row["validation_macro_recall_at_1"] <= 1 for row in designs["tile"])
    per_family = designs["conversion"][1]
    low, high = per_family["micro_f1_difference_vs_chosen_95pct"]
    assert low <= high and per_family["trees"] > 0
    assert "test split is never read" in designs["note"]

"""The anonymous-visitor ranker: its labels (dbt), its point-in-time training rows (Feast), the
stored model and the ranking metrics it is measured by."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from clickintent.artifacts import ModelCardError
from clickintent.evaluation.metrics import CandidateRankingTestUnits
from clickintent.features.partitioned_marts import mart_location
from clickintent.ranker.anonymous_model import ANONYMOUS_CARD_FORMAT, FAMILY_COLUMN, AnonymousRanker
from clickintent.ranker.anonymous_training import (
    ANONYMOUS_ROWS,
    PRODUCTION_SERVICE,
    REPORT_FILE,
    SESSIONS,
    family_rows,
    load_anonymous_data,
    read_session_outcomes,
)
from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.families import catalogue_families
from clickintent.ranker.training_sets import historical_features
from clickintent.settings import load_settings

# ---------------------------------------------------------------------------------------------
# metrics (fast)


def test_candidate_ranking_metrics_on_a_hand_example():
    truth = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=bool)
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.7, 0.1], [0.3, 0.2, 0.1]])
    units = CandidateRankingTestUnits(truth, scores)
    whole = np.ones((1, 3))
    # unit 0: hit at rank 1; unit 1: true at ranks 2 and 3; unit 2 has nothing to find
    assert units.recall_at(1, whole)[0] == pytest.approx(0.5)
    assert units.recall_at(3, whole)[0] == pytest.approx(1.0)
    ndcg_unit_1 = (1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert units.ndcg_at(3, whole)[0] == pytest.approx((1.0 + ndcg_unit_1) / 2)
    assert units.auc(whole)[0] == pytest.approx(roc_auc_score(truth.ravel(), scores.ravel()))
    # a resample that draws unit 1 twice and unit 0 never
    assert units.recall_at(1, np.array([[0.0, 2.0, 1.0]]))[0] == pytest.approx(0.0)


def test_weighted_auc_counts_ties_as_half_like_sklearn():
    rng = np.random.default_rng(3)
    truth = rng.random((40, 7)) < 0.2
    scores = np.round(rng.random((40, 7)), 1)  # many ties
    units = CandidateRankingTestUnits(truth, scores)
    counts = rng.integers(0, 3, size=40).astype(float)
    expected = roc_auc_score(truth.ravel(), scores.ravel(), sample_weight=np.repeat(counts, 7))
    assert units.auc(counts[None, :])[0] == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# labels: a crafted world through the real dbt build


def _crafted_world(data_dir):
    """The dbt fixture world plus visitors whose later events make each label rule observable."""
    from clickintent.events.loader import replace_table_set, validate_tables
    from support.raw_world import DAY, MINUTE, SECOND, T0, WorldBuilder, build_fixture_world, write_page_map

    tables, page_map = build_fixture_world()
    extra = WorldBuilder()
    extra._next_event = 900_000
    t = T0 + 10 * DAY
    # v_anon_a: a mortgage visit that starts a lending form inside the session, then forms later
    extra.event("v_anon_a", t, "/mortgages/rates")
    extra.event("v_anon_a", t + MINUTE, "/mortgages/calculator", event_type="calculator")
    end_a = t + 2 * MINUTE
    extra.event("v_anon_a", end_a, "/loans/personal", event_type="form_start", product_id="p_lend_1")
    extra.event("v_anon_a", end_a + 2 * DAY, "/mortgages/rates", event_type="form_start", product_id="p_home_1")
    extra.event("v_anon_a", end_a + 14 * DAY, "/", event_type="form_start", product_id="p_ins_1")  # the last instant counts
    extra.event("v_anon_a", end_a + 14 * DAY + SECOND, "/cards/compare", event_type="form_submit", product_id="p_card_1")
    # v_anon_b: a visit at the same time, nothing after it (v_anon_a's forms are not its own)
    extra.event("v_anon_b", t + 5 * MINUTE, "/mortgages/rates")
    extra.event("v_anon_b", t + 6 * MINUTE, "/mortgages/calculator", event_type="calculator")
    # v_anon_c: a visit, a login 3 days later as c_900, whose conversions decide
    extra.event("v_anon_c", t, "/investing/start")
    end_c = t + MINUTE
    extra.event("v_anon_c", end_c, "/retirement/calculator", event_type="calculator")
    login = end_c + 3 * DAY
    extra.event("v_anon_c", login, "/login", event_type="login", customer_id="c_900")
    extra.event("v_anon_c", login + 4 * DAY, "/investing/start")  # an anonymous visit after the login
    conversions = [
        dict(conversion_id="cv_900a", customer_id="c_900", product_id="p_inv_1", converted_ts=end_c + 5 * DAY, channel="branch"),
        dict(conversion_id="cv_900b", customer_id="c_900", product_id="p_bus_1", converted_ts=end_c + 20 * DAY, channel="branch"),
        dict(conversion_id="cv_900c", customer_id="c_900", product_id="p_dep_1", converted_ts=end_c - DAY, channel="branch"),
    ]
    events = pa.concat_tables([tables["events"], pa.Table.from_pylist(extra.events, schema=tables["events"].schema)])
    conversion_table = pa.concat_tables([tables["conversions"], pa.Table.from_pylist(conversions, schema=tables["conversions"].schema)])
    raw = {name: (table, f"fixture:{name}") for name, table in tables.items()}
    raw["events"] = (events, "fixture:events")
    raw["conversions"] = (conversion_table, "fixture:conversions")
    replace_table_set(validate_tables(raw), data_dir / "raw")
    write_page_map(data_dir, page_map)
    return {"end_a": end_a, "end_c": end_c, "login_c": login}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    from clickintent.features.dbt import run_dbt_build

    data_dir = tmp_path_factory.mktemp("anonymous_labels") / "data"
    times = _crafted_world(data_dir)
    settings = load_settings(data_dir=data_dir, threads=1)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    mart = pd.read_parquet(mart_location(settings.marts_dir, "fct_anonymous_session_outcomes"))
    mart["session_end_ts"] = pd.to_datetime(mart["session_end_ts"], utc=True)
    # the catalogue's families (dim_products): one row per session and family
    times["families"] = catalogue_families(settings.marts_dir)
    return mart, times


def _session_rows(mart: pd.DataFrame, anonymous_id: str, end, families) -> dict[str, pd.Series]:
    rows = mart[(mart["anonymous_id"] == anonymous_id) & (mart["session_end_ts"] == pd.Timestamp(end))]
    assert tuple(rows[FAMILY_COLUMN]) == families, f"{anonymous_id}: one row per family, in the catalogue's order"
    return {row[FAMILY_COLUMN]: row for _, row in rows.iterrows()}


@pytest.mark.slow
def test_outcomes_come_from_the_visitors_own_later_events_within_14_days(outcomes):
    mart, times = outcomes
    a = _session_rows(mart, "v_anon_a", times["end_a"], times["families"])
    assert a["home"]["outcome"] and a["home"]["n_form_starts_after"] == 1 and list(a["home"]["outcome_product_ids"]) == ["p_home_1"]
    assert a["insurance"]["outcome"]  # exactly 14 days after the end: inside the window
    assert not a["cards"]["outcome"]  # one second past the window
    assert not a["lending"]["outcome"]  # the session's own form start is a feature, not a label
    assert a["home"]["visitor_id"] == "web:v_anon_a"
    b = mart[mart["anonymous_id"] == "v_anon_b"]
    assert len(b) == len(times["families"]) and not b["outcome"].any()  # another visitor's forms never count


@pytest.mark.slow
def test_conversions_count_through_the_customer_the_cookie_later_logs_in_as(outcomes):
    mart, times = outcomes
    c = _session_rows(mart, "v_anon_c", times["end_c"], times["families"])
    assert c["investing"]["outcome"] and c["investing"]["n_conversions_after"] == 1
    assert not c["business"]["outcome"]  # opened 20 days later
    assert not c["deposits"]["outcome"]  # opened before the session
    assert not c["investing"]["visitor_logged_in_before"]
    # the login session is not anonymous; the visit after it is, and knows of the login
    assert not (mart["session_end_ts"] == pd.Timestamp(times["login_c"])).any()
    later = mart[(mart["anonymous_id"] == "v_anon_c") & (mart["session_end_ts"] > pd.Timestamp(times["login_c"]))]
    assert len(later) == len(times["families"]) and later["visitor_logged_in_before"].all()
    # nobody else's conversions: v_anon_b never logged in
    assert not mart.loc[mart["anonymous_id"] == "v_anon_b", "n_conversions_after"].any()


# ---------------------------------------------------------------------------------------------
# Feast training rows and the trained model (the shared worlds)


def test_point_in_time_join_reads_nothing_after_the_session_end(feast_world):
    from clickintent.features.store import feature_store

    store = feature_store(feast_world)
    sessions, _ = read_session_outcomes(feast_world)
    sample = sessions.head(200).reset_index(drop=True)
    at_end = historical_features(store, "anonymous_b_session_aggregates", sample, SESSIONS)
    assert at_end["n_events"].notna().all()  # each session's own row, stamped at its end
    earlier = sample.assign(session_end_ts=sample["session_end_ts"] - timedelta(milliseconds=1))
    before = historical_features(store, "anonymous_b_session_aggregates", earlier, SESSIONS)
    # a millisecond before its end, the session's row is in the future: the same visitor's earlier
    # sessions are other entities, so nothing is joined
    assert before["n_events"].isna().all()


def test_family_rows_equal_encoding_each_session_family_row(ranker_trained_world):
    from clickintent.features.store import feature_store

    data = load_anonymous_data(ranker_trained_world, feature_store(ranker_trained_world), "anonymous_b_session_aggregates", print)
    sessions = data.frames["validation"].head(5)
    encoder = MatrixEncoder.of(data.layout)
    assert data.families == catalogue_families(ranker_trained_world.marts_dir)
    rows = [{**session, FAMILY_COLUMN: family} for session in sessions.to_dict(orient="records") for family in data.families]
    np.testing.assert_array_equal(family_rows(encoder, data.layout, sessions, data.families), encoder.encode_rows(rows))


def _one_family_session(settings, section: str) -> dict:
    """A visit to one family's pages with two calculator uses and an application start, as dbt's
    web_session_stats would describe it (shares over the world's top-level nodes)."""
    nodes = (
        pd.read_parquet(settings.marts_dir / "dim_taxonomy_top_nodes.parquet")
        .sort_values("top_node_position")["top_taxonomy_node_id"]
        .tolist()
    )
    events = {section: 4, "section:tools": 2, "section:apply": 2}
    shares = np.array([events.get(node, 0) for node in nodes], dtype=np.float32)
    return dict(
        n_events=8,
        n_page_views=5,
        n_clicks=0,
        n_searches=0,
        n_calculator_events=2,
        n_form_starts=1,
        n_form_submits=0,
        n_product_events=3,
        total_dwell_s=400.0,
        mean_dwell_s=50.0,
        median_dwell_s=40.0,
        max_dwell_s=120.0,
        depth=7,
        duration_s=900.0,
        device_type="desktop",
        entry_source="search",
        top_taxonomy_node_id=section,
        top_taxonomy_node_share=0.5,
        taxonomy_node_shares=(shares / shares.sum()).tolist(),
    )


@pytest.mark.parametrize(("family", "section"), [("home", "section:mortgages"), ("investing", "section:investing")])
def test_trained_ranker_puts_the_browsed_family_in_its_top_3(ranker_trained_world, family, section):
    ranker = AnonymousRanker.load(ranker_trained_world.models_dir)
    values = _one_family_session(ranker_trained_world, section)
    probabilities = ranker.score_families(values)
    assert tuple(probabilities) == catalogue_families(ranker_trained_world.marts_dir)
    assert family in sorted(probabilities, key=probabilities.get, reverse=True)[:3], probabilities
    reasons = ranker.reasons(values, family)
    assert reasons and all(reason.contribution > 0 for reason in reasons)
    products = ranker.score_products(values, {"p_a": family, "p_unknown": family})
    assert products["p_a"] == pytest.approx(probabilities[family] * ranker.unseen_product_share[family])


def test_stored_ranker_round_trip_card_and_report(ranker_trained_world, tmp_path):
    settings = ranker_trained_world
    ranker = AnonymousRanker.load(settings.models_dir)
    card = ranker.card
    assert card["format"] == ANONYMOUS_CARD_FORMAT and ranker.feature_service == PRODUCTION_SERVICE
    assert ranker.families == list(catalogue_families(settings.marts_dir)) and FAMILY_COLUMN in ranker.row_keys and ranker.version
    assert set(card["data_window"]) >= {"validation_start", "test_start", "train", "validation", "test"}
    for family, shares in card["product_shares"].items():
        assert 0 < sum(shares.values()) + card["unseen_product_share"][family] <= 1 + 1e-6
    # scoring through the loaded model equals the booster on the training encoder's rows
    values = _one_family_session(settings, "section:mortgages")
    matrix = ranker.encode(ranker.rows(values))
    np.testing.assert_allclose(list(ranker.score_families(values).values()), ranker.booster.inplace_predict(matrix), rtol=1e-6)

    report = json.loads((settings.reports_dir / REPORT_FILE).read_text())
    assert [row["name"] for row in report["rows"]] == [row.name for row in ANONYMOUS_ROWS]
    by_name = {row["name"]: row for row in report["rows"]}
    assert by_name["b_session_aggregates"]["status"] == "ok" and "vs_a_popularity" in by_name["b_session_aggregates"]
    assert by_name["b_session_aggregates"]["test"]["ndcg_at_3"] > by_name["a_popularity"]["test"]["ndcg_at_3"]
    assert by_name["d_embedding"]["status"].startswith("waiting")  # the small world has no encoder outputs

    # a card that does not fit is refused at load, with what is wrong
    copy = tmp_path / "models"
    shutil.copytree(settings.models_dir / "anonymous_ranker", copy / "anonymous_ranker")
    card_path = copy / "anonymous_ranker" / "model_card.json"
    broken = {**card, "families": []}
    card_path.write_text(json.dumps(broken))
    with pytest.raises(ModelCardError, match="families"):
        AnonymousRanker.load(copy)
    card_path.write_text(json.dumps({**card, "format": "clickintent-tile-ranker/1"}))
    with pytest.raises(ModelCardError):
        AnonymousRanker.load(copy)
    with pytest.raises(ValueError, match="unknown product famil"):
        ranker.rows(values, ["mortgages"])

"""Feast over the dbt marts: generated definitions, apply, point-in-time retrieval, online serving."""

from __future__ import annotations

import ast
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from clickintent.features.codegen import PACKAGE_DIR, write_generated_definitions
from clickintent.features.dbt import manifest_path
from clickintent.features.manifest import ENTITY_JOIN_KEYS, read_feast_marts
from clickintent.features.partitioned_marts import mart_location
from clickintent.features.store import apply_feature_repo, feature_store, load_repo_objects

pytestmark = pytest.mark.slow


def test_committed_feature_definitions_match_the_dbt_manifest(pipeline_world):
    """src/clickintent/feast_repo/data_sources.py and feature_views.py are exactly what the manifest generates."""
    stale = write_generated_definitions(pipeline_world, check=True, manifest_file=manifest_path(pipeline_world))
    assert stale == [], f"regenerate with `clickintent features generate`: {stale}"


def test_entities_file_and_generator_agree_on_join_keys(pipeline_world):
    contents = load_repo_objects(pipeline_world)
    declared = {entity.name: entity.join_key for entity in contents.entities if entity.name != "__dummy"}
    assert declared == ENTITY_JOIN_KEYS


def test_every_feature_mart_becomes_a_feature_view_with_its_columns(pipeline_world):
    marts = {mart.feature_view: mart for mart in read_feast_marts(manifest_path(pipeline_world)) if mart.role == "features"}
    views = {view.name: view for view in load_repo_objects(pipeline_world).feature_views}
    assert set(marts) <= set(views)
    for name in marts:
        view = views[name]
        assert [field.name for field in view.features] == [column.name for column in marts[name].features]
        assert view.batch_source.path.startswith(str(pipeline_world.marts_dir))


def test_apply_registers_services_and_is_idempotent(feast_world):
    store = feature_store(feast_world)
    assert {service.name for service in store.list_feature_services()} >= {"tile_ranker_v2", "conversion_v2"}
    before = _registered_shape(store)
    apply_feature_repo(feast_world)
    after = _registered_shape(feature_store(feast_world))
    assert after == before


def _registered_shape(store) -> dict:
    """What a re-apply must not change (registry timestamps aside)."""
    return {
        view.name: (
            [(field.name, str(field.dtype)) for field in view.features],
            sorted(view.entities),
            view.ttl,
            view.batch_source.path,
            view.online,
            view.most_recent_end_time,
        )
        for view in store.list_feature_views()
    }


def _expected_web_intent(sessions: pd.DataFrame, customer: str, at: pd.Timestamp) -> tuple[float, float]:
    """(n_linked_sessions_30d, n_events_30d) recomputed from the linked web sessions themselves:
    the latest feature row at or before `at` (as_of, when a session starts to count: its end, or
    the login that stitched it) aggregates the sessions counted by as_of that ended in
    [as_of - 30 days, as_of]."""
    mine = sessions[(sessions.customer_id == customer) & (sessions.counts_from_ts <= at)]
    if mine.empty:
        return (np.nan, np.nan)
    as_of = mine.counts_from_ts.max()
    if at - as_of > timedelta(days=30):  # the feature view's ttl
        return (np.nan, np.nan)
    window = mine[(mine.counts_from_ts <= as_of) & (mine.session_end_ts >= as_of - timedelta(days=30))]
    return (float(len(window)), float(window.n_events.sum()))


def test_historical_features_at_t_use_nothing_after_t(feast_world):
    marts = feast_world.marts_dir
    links = pd.read_parquet(mart_location(marts, "fct_web_login_links"))[["web_session_id", "customer_id", "link_method", "counts_from_ts"]]
    sessions = pd.read_parquet(mart_location(marts, "fct_web_sessions")).drop(columns=["customer_id"]).merge(links, on="web_session_id")
    busy = sessions.groupby("customer_id").size()
    stitched = set(sessions.loc[sessions.link_method == "stitched", "customer_id"])
    # customers with stitched sessions first, so that the login-time rule is probed too
    customers = sorted(busy[busy >= 2].index, key=lambda customer: (customer not in stitched, customer))[:40]
    assert len(customers) >= 10, "the test world should have customers with several linked web sessions"
    assert stitched & set(customers), "the test world should have sessions stitched at a login"

    # For each linked session's counting time t (its end, or the login that stitched it) and each
    # stitched session's own end: just before t, exactly at t, and well after it.
    probes = []
    for customer in customers:
        mine = sessions[sessions.customer_id == customer]
        for t in pd.concat([mine.counts_from_ts, mine.session_end_ts]).unique():
            for offset in (timedelta(microseconds=-1), timedelta(0), timedelta(hours=6)):
                probes.append({"customer_id": customer, "event_timestamp": t + offset})
    entity_df = pd.DataFrame(probes)
    store = feature_store(feast_world)
    result = store.get_historical_features(
        entity_df=entity_df,
        features=["customer_web_intent:n_linked_sessions_30d", "customer_web_intent:n_events_30d"],
    ).to_df()
    assert len(result) == len(entity_df)

    mismatches = []
    for row in result.itertuples():
        expected = _expected_web_intent(sessions, row.customer_id, row.event_timestamp)
        actual = (float(row.n_linked_sessions_30d), float(row.n_events_30d))
        if not np.allclose(actual, expected, equal_nan=True):
            mismatches.append((row.customer_id, row.event_timestamp, actual, expected))
    assert not mismatches, f"{len(mismatches)} point-in-time mismatches, e.g. {mismatches[:3]}"
    # a probe 1 µs before a customer's first linked session must see no web intent at all
    first_probe = result.sort_values("event_timestamp").groupby("customer_id").head(1)
    assert first_probe.n_events_30d.isna().all()


def test_online_features_by_service_are_the_latest_mart_rows(feast_world):
    marts = feast_world.marts_dir
    profiles = pd.read_parquet(mart_location(marts, "dim_customer_profiles")).sort_values("snapshot_ts")
    latest = profiles.groupby("customer_id").tail(1).set_index("customer_id")
    products = pd.read_parquet(marts / "dim_products.parquet").set_index("product_id")
    customers = list(latest.index[:25])
    product_ids = list(products.index[: len(customers)])

    store = feature_store(feast_world)
    service = store.get_feature_service("tile_ranker_v2")
    online = store.get_online_features(
        features=service,
        entity_rows=[{"customer_id": c, "product_id": p} for c, p in zip(customers, product_ids)],
    ).to_df()
    assert online.tenure_months.tolist() == latest.loc[customers, "tenure_months"].tolist()
    assert online.customer_segment.tolist() == latest.loc[customers, "customer_segment"].tolist()
    assert online.complexity.tolist() == products.loc[product_ids, "complexity"].tolist()


def test_generated_files_are_valid_python_with_one_object_per_mart(pipeline_world):
    views_source = (PACKAGE_DIR / "feature_views.py").read_text()
    tree = ast.parse(views_source)
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets if isinstance(target, ast.Name)}
    from clickintent.features.model_outputs import MODEL_OUTPUTS

    feature_views = [mart.feature_view for mart in read_feast_marts(manifest_path(pipeline_world)) if mart.role == "features"]
    feature_views += [output.feature_view for output in MODEL_OUTPUTS]
    assert assigned == {f"{name}_fv" for name in feature_views}

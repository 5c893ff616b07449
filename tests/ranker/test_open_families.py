"""Product families come from the data: a catalogue with a family the synthetic world never had
(`pensions`) flows through load -> dbt build -> Feast -> rankers with no code change, and a
model trained on one family set refuses data with another, naming the families."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings, load_settings

NEW_FAMILY = "pensions"
PENSION_PRODUCTS = ("p_pension_personal", "p_pension_workplace")


def _with_pensions(raw_dir: Path, source: Path) -> None:
    """The world's contract tables with a pensions family: two products, half of the investing
    conversions and web application forms moved to a pension, and a pension held by every third
    customer snapshot. Written to `source` as a bank's export would be."""
    source.mkdir(parents=True)
    tables = {name: pq.read_table(raw_dir / f"{name}.parquet") for name in ("events", "products", "customers", "conversions")}
    products = tables["products"]
    first = products.slice(0, 1).to_pylist()[0]
    pensions = [
        {
            **first,
            "product_id": product_id,
            "product_name": name,
            "family": NEW_FAMILY,
            "category": category,
            "complexity": 3,
        }
        for product_id, name, category in zip(
            PENSION_PRODUCTS, ("Personal Pension", "Workplace Pension"), ("personal_pension", "workplace_pension")
        )
    ]
    tables["products"] = pa.concat_tables([products, pa.Table.from_pylist(pensions, schema=products.schema)])
    investing = set(products.filter(pc.equal(products["family"], "investing"))["product_id"].to_pylist())

    def half_to_pension(table: pa.Table, rows: np.ndarray) -> pa.Table:
        product = np.array(table["product_id"].to_pylist(), dtype=object)
        chosen = np.flatnonzero(rows)[::2]
        product[chosen] = PENSION_PRODUCTS[0]
        return table.set_column(table.schema.get_field_index("product_id"), "product_id", pa.array(product, pa.string()))

    conversions = tables["conversions"]
    tables["conversions"] = half_to_pension(conversions, np.isin(conversions["product_id"].to_numpy(zero_copy_only=False), list(investing)))
    events = tables["events"]
    forms = np.isin(events["event_type"].to_numpy(zero_copy_only=False), ["form_start", "form_submit"]) & np.isin(
        events["product_id"].to_numpy(zero_copy_only=False), list(investing)
    )
    tables["events"] = half_to_pension(events, forms)
    customers = tables["customers"]
    held = [  # ';'-separated, as the contract has it
        ";".join([*filter(None, ids.split(";")), *([PENSION_PRODUCTS[1]] if index % 3 == 0 else [])])
        for index, ids in enumerate(customers["held_product_ids"].to_pylist())
    ]
    tables["customers"] = customers.set_column(
        customers.schema.get_field_index("held_product_ids"), customers.schema.field("held_product_ids"), pa.array(held, pa.string())
    )
    for name, table in tables.items():
        pq.write_table(table, source / f"{name}.parquet")
    shutil.copy(raw_dir / "tile_impressions.parquet", source / "tile_impressions.parquet")


@pytest.fixture(scope="module")
def pensions_world(pipeline_world: Settings, tmp_path_factory) -> Settings:
    """pipeline_world's tables with a pensions family, loaded, built, in Feast and ranked."""
    from clickintent.events import load_and_install
    from clickintent.features.dbt import run_dbt_build
    from clickintent.features.store import apply_feature_repo, materialize
    from clickintent.ranker.production import train_production_models

    root = tmp_path_factory.mktemp("pensions_world")
    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1)
    _with_pensions(pipeline_world.raw_dir, root / "bank_export")
    load_and_install(root / "bank_export", settings.raw_dir)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    apply_feature_repo(settings)
    materialize(settings)
    train_production_models(settings)
    return settings


def _mart(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(mart_location(settings.marts_dir, name))


def test_a_new_family_reaches_every_mart(pensions_world: Settings) -> None:
    products = _mart(pensions_world, "dim_products")
    assert set(products.loc[products["product_family"] == NEW_FAMILY, "product_id"]) == set(PENSION_PRODUCTS)
    profiles = _mart(pensions_world, "dim_customer_profiles")
    holds = profiles["held_product_families"].map(lambda families: NEW_FAMILY in families)
    assert holds.mean() == pytest.approx(1 / 3, abs=0.02)
    assert all(list(families) == sorted(set(families)) for families in profiles["held_product_families"])
    labels = _mart(pensions_world, "fct_conversion_labels")
    assert (labels["label_product_family"] == NEW_FAMILY).sum() > 0
    assert labels["converted_product_families"].map(lambda families: NEW_FAMILY in families).sum() > 0
    outcomes = _mart(pensions_world, "fct_anonymous_session_outcomes")
    per_session = outcomes.groupby("web_session_id")["product_family"].apply(tuple)
    assert set(per_session) == {tuple(sorted(products["product_family"].unique()))}  # every session, every family
    assert outcomes.loc[outcomes["product_family"] == NEW_FAMILY, "outcome"].sum() > 0


def test_a_new_family_is_served_by_feast(pensions_world: Settings) -> None:
    from clickintent.features.store import feature_store

    store = feature_store(pensions_world)
    profiles = _mart(pensions_world, "dim_customer_profiles")
    latest = profiles.sort_values("snapshot_ts").drop_duplicates("customer_id", keep="last")
    holder = latest[latest["held_product_families"].map(lambda families: NEW_FAMILY in families)]["customer_id"].iloc[0]
    online = store.get_online_features(features=["customer_profile:held_product_families"], entity_rows=[{"customer_id": holder}]).to_dict()
    assert NEW_FAMILY in online["held_product_families"][0]
    products = store.get_online_features(
        features=["product_features:product_family"], entity_rows=[{"product_id": PENSION_PRODUCTS[0]}]
    ).to_dict()
    assert products["product_family"] == [NEW_FAMILY]
    labels = _mart(pensions_world, "fct_conversion_labels")
    entity = labels[labels["label_product_family"] == NEW_FAMILY][["customer_id", "observation_ts"]].head(5)
    joined = store.get_historical_features(
        entity_df=entity.rename(columns={"observation_ts": "event_timestamp"}), features=["customer_profile:held_product_families"]
    ).to_df()
    assert joined["held_product_families"].notna().any()


def test_a_new_family_is_a_class_of_every_ranker(pensions_world: Settings) -> None:
    from clickintent.ranker.anonymous_model import AnonymousRanker
    from clickintent.ranker.conversion_family import load_conversion_model
    from clickintent.ranker.families import catalogue_families
    from clickintent.ranker.tile_model import TileRanker

    families = catalogue_families(pensions_world.marts_dir)
    assert NEW_FAMILY in families and list(families) == sorted(families)
    conversion = load_conversion_model(pensions_world.models_dir)
    assert conversion.classes == ["none", *families]
    assert conversion.card["metrics"]["test"]["positives_per_family"].keys() == set(families)
    probabilities = conversion.family_probabilities([{}])[0]
    assert list(probabilities) == list(families) and 0 < probabilities[NEW_FAMILY] < 1
    anonymous = AnonymousRanker.load(pensions_world.models_dir)
    assert anonymous.families == list(families)
    assert set(anonymous.product_shares[NEW_FAMILY]) == set(PENSION_PRODUCTS) and anonymous.family_prior[NEW_FAMILY] > 0
    assert NEW_FAMILY in anonymous.score_families({})
    tile = TileRanker.load(pensions_world.models_dir)
    assert tile.layout.flag_values("held_product_families") == families
    column = tile.layout.model_columns.index(f"held_product_families.{NEW_FAMILY}")
    matrix = tile.encode([{"held_product_families": [NEW_FAMILY]}, {"held_product_families": ["cards"]}, {}])
    assert matrix[:2, column].tolist() == [1.0, 0.0] and np.isnan(matrix[2, column])


def test_models_and_a_catalogue_with_other_families_fail_naming_them(pensions_world: Settings, ranker_trained_world: Settings) -> None:
    """The service's start-up check, on real models and real catalogues: the default world's
    models against the pensions catalogue, and the pensions models against the default one."""
    from clickintent.ranker.anonymous_model import AnonymousRanker
    from clickintent.ranker.conversion_family import FamilyConversionModel
    from clickintent.ranker.tile_model import TileRanker
    from clickintent.serving.artifacts import ArtifactError
    from clickintent.serving.recommender import check_catalogue_families

    def models(settings: Settings) -> dict:
        return {
            "tile_ranker": TileRanker.load(settings.models_dir),
            "conversion": FamilyConversionModel.load(settings.models_dir),
            "anonymous_ranker": AnonymousRanker.load(settings.models_dir),
        }

    def catalogue(settings: Settings) -> dict:
        return _mart(settings, "dim_products").set_index("product_id")[["product_family"]].to_dict(orient="index")

    check_catalogue_families(models(pensions_world), catalogue(pensions_world), "dim_products")
    check_catalogue_families(models(ranker_trained_world), catalogue(ranker_trained_world), "dim_products")
    with pytest.raises(ArtifactError, match=rf"trained on the product families business, .*\(new in the data: {NEW_FAMILY}\); retrain"):
        check_catalogue_families(models(ranker_trained_world), catalogue(pensions_world), "dim_products")
    with pytest.raises(ArtifactError, match=rf"\(missing from the data: {NEW_FAMILY}\); retrain"):
        check_catalogue_families(models(pensions_world), catalogue(ranker_trained_world), "dim_products")

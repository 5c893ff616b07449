"""Training sets come from Feast's point-in-time join by feature service, split by time."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from clickintent.features.partitioned_marts import mart_location
from clickintent.features.store import feature_store
from clickintent.ranker.families import catalogue_families
from clickintent.ranker.tasks import CONVERSION_TASK, TILE_TASK, prepare, vector_element_labels
from clickintent.ranker.training_sets import (
    CONVERSION_LABELS,
    TILE_LABELS,
    TrainingSetError,
    build_training_set,
    read_label_table,
    service_features,
    time_split,
)
from clickintent.settings import Settings

PROFILE_COLUMNS = ["customer_segment", "tenure_months", "total_balance_usd", "n_held_products", "held_product_families"]


@pytest.fixture(scope="module")
def tile_set(feast_world: Settings):
    return build_training_set(feast_world, feature_store(feast_world), "tile", TILE_LABELS, "tile_ranker_a_baseline")


@pytest.mark.slow
def test_tile_training_set_is_feasts_point_in_time_join_of_the_service(feast_world: Settings, tile_set) -> None:
    labels = read_label_table(feast_world, TILE_LABELS)
    frame = tile_set.frame

    # One row per label row, in label order, with exactly the service's features.
    assert len(frame) == len(labels)
    assert frame[["impression_id", "position"]].equals(labels[["impression_id", "position"]])
    names = [feature.name for feature in tile_set.features]
    assert set(names) <= set(frame.columns)
    assert {"customer_segment", "product_family", "held_product_ids"} <= set(names)
    assert not any(name.startswith("web_") or name.endswith("_30d") for name in names)  # row (a): no web features

    # The profile values are the latest snapshot at or before each impression (an independent
    # as-of merge as the oracle).
    profiles = pd.read_parquet(mart_location(feast_world.marts_dir, "dim_customer_profiles"))
    profiles["snapshot_ts"] = pd.to_datetime(profiles["snapshot_ts"], utc=True)
    expected = (
        pd.merge_asof(
            labels[["impression_ts", "customer_id"]].reset_index().sort_values("impression_ts"),
            profiles.sort_values("snapshot_ts"),
            left_on="impression_ts",
            right_on="snapshot_ts",
            by="customer_id",
            direction="backward",
            tolerance=pd.Timedelta(days=400),
        )
        .set_index("index")
        .sort_index()
    )
    have_profile = expected["snapshot_ts"].notna().to_numpy()
    assert have_profile.mean() > 0.9

    def plain(values: np.ndarray) -> list:
        return [list(value) if isinstance(value, (list, np.ndarray)) else value for value in values]

    for column in PROFILE_COLUMNS:
        got = frame[column].to_numpy(dtype=object)[have_profile]
        want = expected[column].to_numpy(dtype=object)[have_profile]
        assert plain(got) == plain(want), column
    assert frame.loc[~have_profile, "customer_segment"].isna().all()


@pytest.mark.slow
def test_tile_splits_are_in_time_order(tile_set) -> None:
    times = tile_set.frame["impression_ts"]
    parts = {name: times[tile_set.split_of_row == name] for name in ("train", "validation", "test")}
    assert all(len(part) > 0 for part in parts.values())
    assert parts["train"].max() < parts["validation"].min() <= parts["validation"].max() < parts["test"].min()
    assert (tile_set.split_of_row != "").all()  # no embargo for clicks (label known at once)
    # An impression never straddles two splits.
    splits_per_impression = pd.Series(tile_set.split_of_row).groupby(tile_set.frame["impression_id"].to_numpy()).nunique()
    assert (splits_per_impression == 1).all()
    shares = {name: len(part) / len(times) for name, part in parts.items()}
    assert shares["train"] == pytest.approx(0.70, abs=0.03)


@pytest.mark.slow
def test_conversion_set_uses_complete_windows_and_an_embargo(feast_world: Settings) -> None:
    training_set = build_training_set(feast_world, feature_store(feast_world), "conversion", CONVERSION_LABELS, "conversion_a_baseline")
    mart = pd.read_parquet(mart_location(feast_world.marts_dir, "fct_conversion_labels"))
    assert len(training_set.frame) == int(mart["label_window_complete"].sum()) < len(mart)
    split, times = training_set.split, training_set.frame["observation_ts"]
    window = timedelta(days=14)
    train = times[training_set.split_of_row == "train"]
    validation = times[training_set.split_of_row == "validation"]
    test = times[training_set.split_of_row == "test"]
    assert len(train) and len(validation) and len(test)
    # Every kept row's label window ends before the next split starts.
    assert (train + window < split.validation_start).all()
    assert (validation >= split.validation_start).all() and (validation + window < split.test_start).all()
    assert (test >= split.test_start).all()
    assert (training_set.split_of_row == "").sum() > 0  # rows inside an embargo are dropped


@pytest.mark.slow
def test_an_ablation_row_reads_the_same_values_as_its_own_fetch(feast_world: Settings) -> None:
    """Fetching the union service once and selecting a row's columns equals fetching the row's service."""
    store = feature_store(feast_world)
    labels = read_label_table(feast_world, TILE_LABELS).head(3000)
    union = build_training_set(feast_world, store, "tile", TILE_LABELS, TILE_TASK.ablation_service, labels)
    row_service = TILE_TASK.row_service("f_web_aggregates")
    direct = build_training_set(feast_world, store, "tile", TILE_LABELS, row_service, labels)
    element_labels = vector_element_labels(feast_world)
    families = catalogue_families(feast_world.marts_dir)

    prepared_union = prepare(TILE_TASK, union, element_labels, families)
    layout, columns = prepared_union.row_layout(service_features(store, row_service))
    prepared_direct = prepare(TILE_TASK, direct, element_labels, families)

    assert layout.model_columns == prepared_direct.layout.model_columns
    assert "n_linked_sessions_30d" in layout.model_columns and "web_embedding" not in layout.feast_features
    for split in ("train", "validation", "test"):
        np.testing.assert_array_equal(prepared_union.matrices[split][:, columns], prepared_direct.matrices[split])
    assert np.isfinite(prepared_direct.matrices["train"][:, layout.model_columns.index("n_linked_sessions_30d")]).any()


def test_time_split_rejects_too_little_data() -> None:
    times = pd.Series(pd.date_range("2026-01-01", periods=100, freq="h", tz="UTC"))
    with pytest.raises(TrainingSetError, match="less than two 14-day label windows"):
        time_split(times, label_window_days=14)
    with pytest.raises(TrainingSetError, match="too few"):
        time_split(times.head(10))
    split = time_split(times)
    assigned = split.assign(times)
    assert list(pd.Series(assigned).value_counts().reindex(["train", "validation", "test"])) == [70, 15, 15]


def test_missing_label_mart_is_a_clear_error(tmp_path) -> None:
    from clickintent.settings import load_settings

    settings = load_settings(data_dir=tmp_path / "empty")
    with pytest.raises(TrainingSetError, match="fct_conversion_labels.parquet not found; run `clickintent build`"):
        read_label_table(settings, CONVERSION_TASK.table)

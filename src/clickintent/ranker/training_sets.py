"""Point-in-time training sets from Feast, by feature service, over the dbt label marts.

The label marts are the entity dataframes: each label row's own time (a tile's impression_ts, a
conversion observation's observation_ts) becomes Feast's `event_timestamp`, and
`get_historical_features` joins, per feature view, the latest feature row at or before that
time and within the view's ttl. No feature reaches a label from its future; nothing here joins
features by hand.

Splits are by time. Tile rows split at quantiles of impression time (all tiles of an impression
share it, so an impression never straddles two splits). Conversion rows carry a 14-day label
window, so a row near a boundary would be labelled with what happened in the next split; such
rows are dropped (an embargo): every kept row's label window ends before the next split starts.
Only rows with `label_window_complete` are used at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings

FEAST_TIMESTAMP = "event_timestamp"
SPLITS = ("train", "validation", "test")
# Shares of the label period (by row quantiles of label time) for train/validation/test.
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass(frozen=True)
class LabelTable:
    """A dbt label mart and how its rows enter Feast."""

    mart: str
    timestamp: str
    keys: tuple[str, ...]  # unique per row
    entity_keys: tuple[str, ...]  # Feast join keys present in the rows
    columns: tuple[str, ...]  # columns kept from the mart (keys, labels, context)
    # Days after the label time that the label looks into (0: known at once).
    label_window_days: int = 0


TILE_LABELS = LabelTable(
    mart="fct_tile_impressions",
    timestamp="impression_ts",
    keys=("impression_id", "position"),
    entity_keys=("customer_id", "product_id"),
    columns=("impression_id", "position", "customer_id", "product_id", "impression_ts", "clicked"),
)

CONVERSION_LABELS = LabelTable(
    mart="fct_conversion_labels",
    timestamp="observation_ts",
    keys=("session_id",),
    entity_keys=("customer_id",),
    columns=(
        "session_id",
        "customer_id",
        "observation_ts",
        "observation_point",
        "label_product_family",
        "label_window_complete",
        "converted_product_families",
    ),
    label_window_days=14,
)


class TrainingSetError(ValueError):
    """A label table or feature service that cannot make a training set; the message says why."""


def read_label_table(settings: Settings, table: LabelTable) -> pd.DataFrame:
    """The label mart dbt wrote, with UTC timestamps; conversion rows only where the label is final."""
    path = mart_location(settings.marts_dir, table.mart)
    if not path.exists():
        raise TrainingSetError(f"label mart {path} not found; run `clickintent build` first")
    frame = pd.read_parquet(path, columns=list(table.columns))
    if frame.empty:
        raise TrainingSetError(f"label mart {path} has no rows")
    frame[table.timestamp] = pd.to_datetime(frame[table.timestamp], utc=True)
    if "label_window_complete" in frame.columns:
        frame = frame[frame["label_window_complete"].astype(bool)].drop(columns=["label_window_complete"])
        if frame.empty:
            raise TrainingSetError(f"{table.mart}: no row has a complete label window yet (the data is too short)")
    return frame.sort_values([table.timestamp, *table.keys], kind="stable").reset_index(drop=True)


def historical_features(store: Any, service_name: str, labels: pd.DataFrame, table: LabelTable) -> pd.DataFrame:
    """Feast's point-in-time join of feature service `service_name` onto the label rows.

    Rows come back in the order of `labels`, with the label time under its own name again.
    """
    service = store.get_feature_service(service_name)
    entity_df = labels.rename(columns={table.timestamp: FEAST_TIMESTAMP})
    joined = store.get_historical_features(entity_df=entity_df, features=service, full_feature_names=False).to_df()
    if len(joined) != len(labels):
        raise TrainingSetError(
            f"Feast returned {len(joined)} rows for {len(labels)} label rows of {table.mart} ({service_name}); "
            f"are the keys {table.keys} unique?"
        )
    joined = joined.rename(columns={FEAST_TIMESTAMP: table.timestamp})
    joined[table.timestamp] = pd.to_datetime(joined[table.timestamp], utc=True)
    # Back to label order: Feast sorts by its own keys.
    order = labels[list(table.keys)].reset_index().merge(joined.reset_index(names="_joined"), on=list(table.keys), how="left")
    return joined.iloc[order.sort_values("index")["_joined"].to_numpy()].reset_index(drop=True)


@dataclass(frozen=True)
class ServiceFeature:
    """One feature of a feature service: the view it comes from, its name and Feast type."""

    view: str
    name: str
    dtype: Any

    @property
    def reference(self) -> str:
        return f"{self.view}:{self.name}"


def service_features(store: Any, service_name: str) -> list[ServiceFeature]:
    """The features of a registered service, in the service's order."""
    service = store.get_feature_service(service_name)
    return [
        ServiceFeature(view=projection.name_to_use(), name=feature.name, dtype=feature.dtype)
        for projection in service.feature_view_projections
        for feature in projection.features
    ]


# ---------------------------------------------------------------------------------------------
# time splits


@dataclass(frozen=True)
class TimeSplit:
    """Train before validation_start, validation before test_start, test after; embargoed rows dropped."""

    validation_start: pd.Timestamp
    test_start: pd.Timestamp
    label_window: timedelta = timedelta(0)

    def assign(self, timestamps: pd.Series) -> np.ndarray:
        """'train' / 'validation' / 'test' per row, or '' for a row dropped by the embargo."""
        ts = pd.to_datetime(timestamps, utc=True)
        window_end = ts + self.label_window
        out = np.full(len(ts), "", dtype=object)
        out[(window_end < self.validation_start).to_numpy()] = "train"
        out[((ts >= self.validation_start) & (window_end < self.test_start)).to_numpy()] = "validation"
        out[(ts >= self.test_start).to_numpy()] = "test"
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "validation_start": self.validation_start.isoformat(),
            "test_start": self.test_start.isoformat(),
            "label_window_days": self.label_window.days,
        }


def time_split(timestamps: pd.Series, label_window_days: int = 0, fractions: Sequence[float] = SPLIT_FRACTIONS) -> TimeSplit:
    """Boundaries giving train/validation/test roughly `fractions` of the label period.

    Without a label window the boundaries are row quantiles of the label times.
    """
    ts = pd.to_datetime(timestamps, utc=True).sort_values().reset_index(drop=True)
    if len(ts) < 30:
        raise TrainingSetError(f"{len(ts)} label rows are too few to split by time")
    window = timedelta(days=label_window_days)
    if not window:
        validation_start = ts.iloc[int(len(ts) * fractions[0])]
        test_start = ts.iloc[int(len(ts) * (fractions[0] + fractions[1]))]
        return TimeSplit(validation_start, test_start)
    # With an embargo the shares are of time, not rows: the label period minus two windows is
    # cut in `fractions`, and each later split starts one window after the earlier one's rows.
    first, last = ts.iloc[0], ts.iloc[-1]
    usable = (last - first) - 2 * window
    if usable <= timedelta(0):
        raise TrainingSetError(f"label rows span {last - first}, less than two {label_window_days}-day label windows: cannot split by time")
    validation_start = first + usable * fractions[0] + window
    test_start = first + usable * (fractions[0] + fractions[1]) + 2 * window
    return TimeSplit(validation_start, test_start, window)


def ranker_validation_start(settings: Settings) -> pd.Timestamp:
    """The earliest label time any ranker validates on, for the label marts of this data directory.

    The earlier of the tile and conversion tasks' `validation_start`, split as the rank stage
    splits them (the anonymous-visitor ranker uses the conversion task's boundaries). A model
    stage fitted only on sessions that end before it gives the ablation a prospective test.
    """
    return min(
        time_split(read_label_table(settings, table)[table.timestamp], table.label_window_days).validation_start
        for table in (TILE_LABELS, CONVERSION_LABELS)
    )


# ---------------------------------------------------------------------------------------------
# the sets


@dataclass
class TrainingSet:
    """Label rows of one task with the features of one feature service, and their split."""

    task: str
    table: LabelTable
    service: str
    features: list[ServiceFeature]
    frame: pd.DataFrame
    split: TimeSplit
    split_of_row: np.ndarray
    fetch_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def part(self, name: str) -> pd.DataFrame:
        return self.frame[self.split_of_row == name]

    def window(self) -> dict[str, Any]:
        """Label-time range and row count of each split (for model cards and the report)."""
        out: dict[str, Any] = {"label_table": self.table.mart, "timestamp": self.table.timestamp, **self.split.to_json()}
        times = self.frame[self.table.timestamp]
        for name in SPLITS:
            mask = self.split_of_row == name
            out[name] = {
                "rows": int(mask.sum()),
                "from": times[mask].min().isoformat() if mask.any() else None,
                "to": times[mask].max().isoformat() if mask.any() else None,
            }
        out["embargoed_rows"] = int((self.split_of_row == "").sum())
        return out


def build_training_set(
    settings: Settings, store: Any, task: str, table: LabelTable, service_name: str, labels: pd.DataFrame | None = None
) -> TrainingSet:
    """Fetch `service_name` for every row of `table` (or of `labels`) and split by time."""
    labels = read_label_table(settings, table) if labels is None else labels
    started = time.perf_counter()
    frame = historical_features(store, service_name, labels, table)
    seconds = time.perf_counter() - started
    split = time_split(frame[table.timestamp], table.label_window_days)
    assigned = split.assign(frame[table.timestamp])
    for name in SPLITS:
        if not (assigned == name).any():
            raise TrainingSetError(f"{table.mart}: the {name} split is empty ({split.to_json()})")
    return TrainingSet(
        task=task,
        table=table,
        service=service_name,
        features=service_features(store, service_name),
        frame=frame,
        split=split,
        split_of_row=assigned,
        fetch_seconds=seconds,
    )


def columns_of(features: Iterable[ServiceFeature]) -> list[str]:
    return [feature.name for feature in features]

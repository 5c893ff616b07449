"""Worlds built through a tracker-shaped source (Snowplow, GA4, Segment) and their marts compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from clickintent.features.dbt import dbt_target_dir, run_dbt_build
from clickintent.features.manifest import read_feast_marts
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings, load_settings

# Small enough for a build in seconds, big enough for every feast mart to have rows.
ROUND_TRIP_EVENTS = 3_000


def build_shaped_world(root: Path, shape: str, events: int = ROUND_TRIP_EVENTS, seed: int = 7) -> Settings:
    """A synthetic world written in `shape` (generate --format) and built through its adapter."""
    from clickintent.synth import generate_world

    settings = load_settings(data_dir=root / "data", models_dir=root / "models", threads=1, seed=seed)
    settings = settings.model_copy(update={"source_shape": shape})
    generate_world(settings, target_events=events, source_format=shape)
    result = run_dbt_build(settings, quiet=True)
    assert result.success, result.summary()
    return settings


def feast_mart_names(settings: Settings) -> list[str]:
    return [mart.model for mart in read_feast_marts(dbt_target_dir(settings) / "manifest.json")]


def sorted_mart(settings: Settings, name: str) -> pd.DataFrame:
    """A mart's rows in a canonical order (every column, as text), lists as tuples."""
    frame = pq.read_table(mart_location(settings.marts_dir, name)).to_pandas()
    for column in frame.columns:
        if frame[column].map(lambda value: isinstance(value, list | np.ndarray)).any():
            frame[column] = frame[column].map(lambda value: None if value is None else tuple(value))
    order = frame.astype(str).sort_values(list(frame.columns)).index
    return frame.loc[order].reset_index(drop=True)


def mart_differences(expected: Settings, actual: Settings, name: str) -> list[str]:
    """Where two builds' copies of a mart differ: columns, row count, then values (floats within 1e-9 relative)."""
    left, right = sorted_mart(expected, name), sorted_mart(actual, name)
    if list(left.columns) != list(right.columns):
        return [f"{name}: columns {list(left.columns)} != {list(right.columns)}"]
    if len(left) != len(right):
        return [f"{name}: {len(left)} rows != {len(right)} rows"]
    problems = []
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            same = np.isclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-9, equal_nan=True)
        else:
            same = (a.astype(str) == b.astype(str)).to_numpy()
        if not same.all():
            row = int(np.flatnonzero(~same)[0])
            problems.append(f"{name}.{column}: {int((~same).sum())} rows differ, first at row {row}: {a.iloc[row]!r} != {b.iloc[row]!r}")
    return problems

"""Where the feature repo finds the marts: resolved from the settings when the repo is imported.

Feast stores the absolute path in its registry at `apply` time, so a registry always points at
the data directory it was applied from.
"""

from __future__ import annotations

from clickintent.settings import load_settings


def mart_path(model: str) -> str:
    """Absolute path of the Parquet file dbt writes for `model`."""
    return str(load_settings().marts_dir / f"{model}.parquet")


def data_path(relative: str) -> str:
    """Absolute path of a feature table a model stage writes under the data directory."""
    return str(load_settings().data_dir / relative)

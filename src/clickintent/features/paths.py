"""Where the marts and the model stages' feature tables live, from the settings.

The feature repo resolves its paths when it is imported: Feast stores the absolute path in its
registry at `apply` time, so a registry always points at the data directory it was applied from.
"""

from __future__ import annotations

from pathlib import Path

from clickintent.features.dbt import spark_marts_dir
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings, load_settings

# The dbt mart of one row per session with its event sequences (encoder and taxonomy input).
SESSION_SEQUENCES_MART = "fct_session_sequences"


def mart_file(settings: Settings, model: str) -> Path:
    """The Parquet data dbt writes for mart `model`: a file, or a directory of days (partitioned_marts)."""
    return mart_location(settings.marts_dir, model)


def mart_path(model: str) -> str:
    """Absolute path of the Parquet data dbt writes for `model` (a file or a directory of files)."""
    return str(mart_file(load_settings(), model))


def spark_mart_path(model: str) -> str:
    """Absolute path of the Parquet table directory a Spark build writes for `model` (docs/spark.md)."""
    return str(spark_marts_dir(load_settings()) / model)


def data_path(relative: str) -> str:
    """Absolute path of a feature table a model stage writes under the data directory."""
    return str(load_settings().data_dir / relative)

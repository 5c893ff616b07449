"""Where the taxonomy stage reads and writes, and the layout of its JSON and Parquet files.

Every output is written atomically (clickintent.artifacts), so that an interrupted run leaves
either the previous file or the new one, never half of one, and a rerun simply overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.artifacts import atomic_file, atomic_write_json
from clickintent.settings import Settings


@dataclass(frozen=True)
class TaxonomyPaths:
    """Every file of the taxonomy stage, from one Settings object."""

    taxonomy_dir: Path
    models_dir: Path
    reports_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> TaxonomyPaths:
        return cls(settings.taxonomy_dir, settings.models_dir, settings.reports_dir)

    @property
    def taxonomy(self) -> Path:
        """The readable, editable taxonomy (YAML)."""
        return self.taxonomy_dir / "taxonomy.yaml"

    @property
    def versions_dir(self) -> Path:
        """Every taxonomy version ever written, as taxonomy.v<N>.yaml, for `taxonomy diff`."""
        return self.taxonomy_dir / "versions"

    @property
    def page_assignments(self) -> Path:
        """The generator's own page -> node proposal (offline backend: cluster membership)."""
        return self.taxonomy_dir / "page_assignments.parquet"

    @property
    def page_map(self) -> Path:
        """page_path -> node, read by dbt as the source taxonomy.page_map."""
        return self.taxonomy_dir / "page_map.parquet"

    @property
    def query_map(self) -> Path:
        """Known search query (normalised) -> node, the lookup the online classifier uses."""
        return self.taxonomy_dir / "query_map.parquet"

    @property
    def teacher_labels(self) -> Path:
        return self.taxonomy_dir / "teacher_labels.parquet"

    @property
    def session_intents(self) -> Path:
        """Distilled labels for every session (a Feast feature)."""
        return self.taxonomy_dir / "session_intents.parquet"

    @property
    def embedding_cache(self) -> Path:
        return self.taxonomy_dir / "embedding_cache.npz"

    @property
    def llm_cache_dir(self) -> Path:
        return self.taxonomy_dir / "llm_cache"

    @property
    def llm_usage(self) -> Path:
        return self.taxonomy_dir / "llm_usage.json"

    @property
    def generation_log(self) -> Path:
        """What the TnT-LLM loop did: summaries kept, critiques, steps that failed."""
        return self.taxonomy_dir / "generation_log.json"

    @property
    def classifier_dir(self) -> Path:
        return self.models_dir / "intent_classifier"

    @property
    def report(self) -> Path:
        return self.reports_dir / "taxonomy.json"


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# The stage's JSON (its files and the classifier's card): readable non-ASCII labels, NumPy values as numbers.
JSON_OPTIONS: dict[str, Any] = {"ensure_ascii": False, "default": _json_default}


def write_json_atomically(path: Path, payload: Any) -> None:
    atomic_write_json(path, payload, **JSON_OPTIONS)


def write_parquet_atomically(path: Path, table: pa.Table) -> None:
    """The stage's Parquet (zstd)."""
    with atomic_file(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")

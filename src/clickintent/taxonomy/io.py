"""Where the taxonomy stage reads and writes, and how it writes: atomically (temp file + rename).

Every output of the stage goes through the writers here, so that an interrupted run leaves
either the previous file or the new one, never half of one, and a rerun simply overwrites.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.settings import Settings


@dataclass(frozen=True)
class TaxonomyPaths:
    """Every file of the taxonomy stage, from one Settings object."""

    taxonomy_dir: Path
    models_dir: Path
    reports_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> "TaxonomyPaths":
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


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto `path` when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json_atomically(path: Path, payload: Any) -> None:
    write_text_atomically(path, json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=False, default=_json_default) + "\n")


def write_parquet_atomically(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")


def write_with(path: Path, writer: Callable[[Path], None]) -> None:
    """Run `writer(temporary_path)` and rename the result onto `path`."""
    with atomic_path(path) as temporary:
        writer(temporary)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")

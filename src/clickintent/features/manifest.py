"""Read the Feast-facing description of the feature marts from dbt's manifest.

dbt owns each mart's schema (columns, `data_type`, descriptions, enforced contracts); the Feast
definitions are derived from it rather than written a second time. A mart takes part when it
carries the `feast` tag and a `meta.feast` block:

    config:
      tags: ["feast"]
      meta:
        feast:
          feature_view: web_session_stats   # -> web_session_stats_source, web_session_stats_fv
          entities: [web_session]           # names defined in src/clickintent/feast_repo/entities.py
          timestamp_field: session_end_ts
          ttl_days: 30                       # 0 = no expiry
          online: true                       # false: offline retrieval only, never materialized
      # or, for a label table read as an entity dataframe:  feast: {role: label}

A column is a feature unless it is an entity join key, a timestamp, or marked
`meta: {feast: {feature: false}}`.

Feast ships `feast dbt import`, whose parser needs dbt-artifacts-parser and whose file sources
point at a placeholder path; its type mapper is reused here, extended for DuckDB's `T[]` arrays
and `timestamp with time zone`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from feast.dbt.mapper import map_dbt_type_to_feast_type
from feast.types import Array, FeastType, UnixTimestamp

# Entity name -> join key; src/clickintent/feast_repo/entities.py defines the same (a test keeps them equal).
ENTITY_JOIN_KEYS: dict[str, str] = {
    "web_session": "web_session_id",
    "session": "session_id",
    "customer": "customer_id",
    "product": "product_id",
    "visitor": "visitor_id",
}


class ManifestError(ValueError):
    """A feast-tagged dbt model whose metadata cannot become a Feast definition."""


@dataclass(frozen=True)
class MartColumn:
    name: str
    data_type: str
    description: str
    feast_type: FeastType
    is_feature: bool


@dataclass(frozen=True)
class FeastMart:
    model: str  # dbt model name = Parquet file stem in the marts directory
    description: str
    role: str  # "features" or "label"
    feature_view: str | None
    entities: tuple[str, ...]
    timestamp_field: str
    ttl_days: int
    online: bool
    columns: tuple[MartColumn, ...]
    original_file_path: str
    # Feature tables written by a Python stage (model_outputs.py) live at this path under the
    # data directory instead of in the marts directory.
    data_relative_path: str | None = None
    # Also wrap the source in a PushSource so a live event can update the feature online.
    push: bool = False

    @property
    def features(self) -> tuple[MartColumn, ...]:
        return tuple(column for column in self.columns if column.is_feature)


def duckdb_type_to_feast(data_type: str) -> FeastType:
    normalized = data_type.strip().upper()
    if normalized.endswith("[]"):
        return Array(duckdb_type_to_feast(normalized[:-2]))
    if normalized.startswith("TIMESTAMP"):
        return UnixTimestamp
    return map_dbt_type_to_feast_type(normalized)


def _mart_from_node(node: dict) -> FeastMart:
    name = node["name"]
    config = node.get("config", {})
    feast_meta = (config.get("meta") or {}).get("feast") or (node.get("meta") or {}).get("feast")
    if not feast_meta:
        raise ManifestError(f"dbt model {name} is tagged feast but has no meta.feast block")
    role = feast_meta.get("role", "features")
    if role not in ("features", "label"):
        raise ManifestError(f"dbt model {name}: meta.feast.role must be 'features' or 'label', not {role!r}")
    entities = tuple(feast_meta.get("entities", ()))
    unknown = [entity for entity in entities if entity not in ENTITY_JOIN_KEYS]
    if unknown:
        raise ManifestError(f"dbt model {name}: unknown Feast entities {unknown}; known: {sorted(ENTITY_JOIN_KEYS)}")
    timestamp_field = feast_meta.get("timestamp_field")
    if role == "features" and not (feast_meta.get("feature_view") and entities and timestamp_field):
        raise ManifestError(f"dbt model {name}: meta.feast needs feature_view, entities and timestamp_field")

    join_keys = {ENTITY_JOIN_KEYS[entity] for entity in entities}
    columns = []
    for column_name, column in node.get("columns", {}).items():
        data_type = column.get("data_type")
        if not data_type:
            raise ManifestError(f"dbt model {name}, column {column_name}: data_type is required for Feast")
        feast_type = duckdb_type_to_feast(data_type)
        column_meta = ((column.get("meta") or {}).get("feast") or {}) | ((column.get("config", {}).get("meta") or {}).get("feast") or {})
        is_feature = (
            column_name not in join_keys
            and column_name != timestamp_field
            and feast_type is not UnixTimestamp
            and column_meta.get("feature", True)
        )
        columns.append(MartColumn(column_name, data_type, column.get("description", ""), feast_type, bool(is_feature)))
    names = {column.name for column in columns}
    missing = (join_keys | ({timestamp_field} if timestamp_field else set())) - names
    if missing:
        raise ManifestError(f"dbt model {name}: columns {sorted(missing)} named in meta.feast are not documented")
    return FeastMart(
        model=name,
        description=node.get("description", "").strip(),
        role=role,
        feature_view=feast_meta.get("feature_view"),
        entities=entities,
        timestamp_field=timestamp_field or "",
        ttl_days=int(feast_meta.get("ttl_days", 0)),
        online=bool(feast_meta.get("online", True)),
        columns=tuple(columns),
        original_file_path=node.get("original_file_path", ""),
    )


def read_feast_marts(manifest_file: Path) -> list[FeastMart]:
    """Every feast-tagged model in the manifest, sorted by model name."""
    manifest_file = Path(manifest_file)
    if not manifest_file.is_file():
        raise FileNotFoundError(f"dbt manifest not found at {manifest_file}; run `dbt parse` (or `clickintent build`) first")
    manifest = json.loads(manifest_file.read_text())
    marts = [
        _mart_from_node(node)
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model" and "feast" in (node.get("config", {}).get("tags") or node.get("tags") or [])
    ]
    return sorted(marts, key=lambda mart: mart.model)

"""clickintent's Feast objects as a package: entities, data sources, feature views, feature services.

A host Feast repo imports them beside its own objects (docs/feast-repo.md):

    # <host repo>/clickintent_features.py
    from clickintent.feast_repo import *  # noqa: F403  (every clickintent entity, source, view, service)
    from clickintent.feast_repo import require_sources

    require_sources()  # `feast apply` stops here, naming the data directory, when the tables are not there

The modules import each other by package name (`clickintent.feast_repo.entities`, never a bare
`entities`), so a host repo's own `entities.py` or `data_sources.py` neither shadows ours nor is
shadowed. `feature_repo/` in the checkout is a plain Feast repo made of the same two lines.

Paths: every file source points into the data directory of the settings when the package is
imported (`CLICKINTENT_DATA_DIR`, else `clickintent.toml`, else `./data` of the working
directory). `feast apply` imports the repo, so the paths are resolved at apply time; Feast then
stores them in the registry. `clickintent.features.store.load_repo_objects(settings)` imports the
package afresh for another data directory in the same process.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, FileSource
from feast.data_source import DataSource, PushSource

from clickintent.feast_repo import data_sources, entities, feature_services, feature_views

# In dependency order, as a Feast repo would list its files.
MODULES = (entities, data_sources, feature_views, feature_services)
_FEAST_TYPES = (Entity, DataSource, FeatureView, FeatureService)


def _feast_objects() -> dict[str, object]:
    found: dict[str, object] = {}
    for module in MODULES:
        for name, value in vars(module).items():
            if not name.startswith("_") and isinstance(value, _FEAST_TYPES):
                found[name] = value
    return found


_OBJECTS = _feast_objects()
globals().update(_OBJECTS)
__all__ = sorted(_OBJECTS)  # every Feast object of the modules, nothing else


class MissingFeatureTablesError(FileNotFoundError):
    """A file source of the package points at a table that is not there."""


def data_sources() -> list[DataSource]:
    """Every data source of the package, each once: the push sources and their batch sources
    included, as Feast's parse_repo collects them."""
    return collect_data_sources(_OBJECTS[name] for name in __all__)


def collect_data_sources(objects: Iterable[object]) -> list[DataSource]:
    """The data sources among `objects`, each once, a push source's batch source included."""
    sources: list[DataSource] = []
    for value in objects:
        for source in (value, value.batch_source) if isinstance(value, PushSource) else (value,):
            if isinstance(source, DataSource) and all(source is not known for known in sources):
                sources.append(source)
    return sources


def file_sources() -> list[FileSource]:
    """Every file source of the package (the batch sources of the push sources included)."""
    return [source for source in data_sources() if isinstance(source, FileSource)]


def data_dir() -> Path:
    """The data directory the file sources were resolved against (the marts' parent)."""
    return sources_data_dir(file_sources())


def sources_data_dir(sources: Iterable[DataSource]) -> Path:
    """The data directory of sources over the dbt marts: `<data dir>/<marts dir>/<mart>`."""
    marts = [Path(source.path) for source in sources if "dbt_model" in source.tags]
    return marts[0].parent.parent


def require_sources() -> None:
    """Raise MissingFeatureTablesError, naming the data directory and where it came from, when a
    dbt mart of a file source is missing: `feast apply` would otherwise register the paths and
    fail only at query time ("No files found that match the pattern"). Missing model-stage
    tables (written after the taxonomy and encoder stages) are a warning: until then their views
    have nothing to serve, and `clickintent features apply` writes empty ones."""
    require_tables(
        file_sources(),
        present=Path.exists,  # a partitioned mart is a directory
        build_hint="run `clickintent build` (or dbt with the profile's external_root at <data dir>/marts)",
    )


def require_tables(sources: list[DataSource], *, present: Callable[[Path], bool], build_hint: str) -> None:
    """require_sources for any sources with a path: `present` tells whether a table is there,
    `build_hint` what builds the missing marts."""
    missing = [source for source in sources if not present(Path(source.path))]
    marts = sorted(source.tags["dbt_model"] for source in missing if "dbt_model" in source.tags)
    stage_tables = sorted(Path(source.path).name for source in missing if "dbt_model" not in source.tags)
    origin = (
        f"CLICKINTENT_DATA_DIR={os.environ['CLICKINTENT_DATA_DIR']}"
        if os.environ.get("CLICKINTENT_DATA_DIR")
        else "CLICKINTENT_DATA_DIR unset: clickintent.toml or ./data of the working directory"
    )
    if marts:
        raise MissingFeatureTablesError(
            f"clickintent marts missing under {sources_data_dir(sources)} ({origin}): {', '.join(marts)}; {build_hint}"
        )
    if stage_tables:
        warnings.warn(
            f"clickintent model-stage tables missing under {sources_data_dir(sources)}: {', '.join(stage_tables)} "
            "(the taxonomy and encoder stages write them; `clickintent features apply` writes empty ones)",
            stacklevel=3,
        )

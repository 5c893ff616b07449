"""Whether `clickintent build` builds incrementally, and over which raw event files.

The dbt project's event-scale models are incremental (dbt_project/macros/incremental.sql): given
the raw event files not built yet, they sessionize again only what those events touch. This
module decides what to give them. After each successful build it records the raw event files
the build read (each with its size and modification time) and a fingerprint of everything else
the incremental tables were built from: the dbt variables, the taxonomy page map, and the
project's models and macros. The next build is

  incremental  over the files added since, when nothing recorded changed;
  full         (dbt's --full-refresh) when asked, when nothing was recorded, when a recorded file
               changed or went away (history was rewritten: a reload), when the fingerprint
               differs (new settings, a new taxonomy, changed SQL), or for a tracker's source
               shape (its tables are not day partitions).

A build forgets the record before dbt runs and records again only when it succeeds (a
`--select` build never does), so the next build after a failed, killed or selective one is full:
the incremental tables it changed are ahead of the committed marts, whose days an incremental
build would carry over (clickintent.features.partitioned_marts).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from clickintent.artifacts import atomic_write_text
from clickintent.events.partitions import raw_event_files
from clickintent.settings import Settings

STATE_FILE = "incremental_state.json"
PLAN_FILE = "build_plan.json"  # the files this build reads as new, for the dbt models
# What the fingerprint hashes of the dbt project: what the incremental tables' SQL comes from.
PROJECT_SOURCES = ("dbt_project.yml", "models/**/*.sql", "models/**/*.yml", "macros/**/*.sql")


@dataclass(frozen=True)
class BuildPlan:
    """What one `clickintent build` will do with the incremental models."""

    full_refresh: bool
    reason: str  # why a full build, or what an incremental one adds
    new_files: tuple[str, ...] = ()  # absolute paths, for an incremental build
    files: dict[str, list[int]] = field(default_factory=dict)  # every raw event file -> [size, mtime_ns]
    fingerprint: dict[str, str] = field(default_factory=dict)

    def dbt_vars(self, settings: Settings) -> dict[str, object]:
        """Writes which files are new (none in a full build) and where the committed marts are,
        where the models read them (dbt_project/macros/incremental.sql, new_event_files()); the
        variable naming that file.

        The variable's value is the same in every build of a data directory, so that dbt can
        parse the project partially: a change of vars makes it parse the whole project again."""
        settings = settings.absolute()
        path = settings.dbt_dir / PLAN_FILE
        plan = {
            "new_event_files": None if self.full_refresh else list(self.new_files),
            # where the marts partitioned by day find the days they carry over (macros/partitioned_marts.sql)
            "committed_marts": str(settings.marts_dir),
        }
        atomic_write_text(path, json.dumps(plan))
        return {"clickintent_build_plan": str(path)}

    def dbt_flags(self) -> list[str]:
        """A full build passes --full-refresh. An incremental one leaves the unit tests out: they
        read only their fixtures, and the models and macros have not changed since the full build
        that ran them (a change makes the build full), so they cannot come out otherwise."""
        return ["--full-refresh"] if self.full_refresh else ["--exclude-resource-type", "unit_test"]


def state_path(settings: Settings) -> Path:
    return settings.dbt_dir / STATE_FILE


def plan_build(settings: Settings, dbt_vars: dict[str, object], *, full_refresh: bool = False) -> BuildPlan:
    """The build to run now; dbt_vars are the variables the build passes to dbt."""
    settings = settings.absolute()
    files = _event_files(settings)
    fingerprint = _fingerprint(settings, dbt_vars)

    def full(reason: str) -> BuildPlan:
        return BuildPlan(full_refresh=True, reason=reason, files=files, fingerprint=fingerprint)

    if full_refresh:
        return full("full refresh asked for")
    if settings.source_shape != "contract":
        return full(f"the {settings.source_shape} source shape builds in full")
    recorded = _read_state(settings)
    if recorded is None or not settings.warehouse_path.is_file():
        return full("no successful build recorded for this warehouse, or the last build did not finish")
    changed = [name for name in fingerprint if recorded["fingerprint"].get(name) != fingerprint[name]]
    if changed:
        return full(f"changed since the last build: {', '.join(changed)}")
    rewritten = sorted(name for name, stat in recorded["files"].items() if files.get(name) != stat)
    if rewritten:
        return full(f"raw event files changed or removed since the last build: {_listed(rewritten)}")
    new = sorted(name for name in files if name not in recorded["files"])
    return BuildPlan(
        full_refresh=False,
        reason=f"{len(new)} new raw event file(s)" + (f": {_listed(new)}" if new else ""),
        new_files=tuple(str(settings.raw_dir / name) for name in new),
        files=files,
        fingerprint=fingerprint,
    )


def record_build(settings: Settings, plan: BuildPlan) -> None:
    """Remember what a successful build read, for the next plan."""
    document = {"files": plan.files, "fingerprint": plan.fingerprint}
    atomic_write_text(state_path(settings), json.dumps(document, indent=1, sort_keys=True))


def forget_build(settings: Settings) -> None:
    """The next build is a full one (the incremental tables no longer match the committed marts)."""
    state_path(settings).unlink(missing_ok=True)


def _event_files(settings: Settings) -> dict[str, list[int]]:
    out = {}
    for path in raw_event_files(settings.raw_dir):
        stat = path.stat()
        out[str(path.relative_to(settings.raw_dir))] = [stat.st_size, stat.st_mtime_ns]
    return out


def _fingerprint(settings: Settings, dbt_vars: dict[str, object]) -> dict[str, str]:
    from clickintent.taxonomy.io import TaxonomyPaths

    page_map = TaxonomyPaths.from_settings(settings).page_map
    project = hashlib.sha256()
    for pattern in PROJECT_SOURCES:
        for path in sorted(settings.dbt_project_dir.glob(pattern)):
            project.update(str(path.relative_to(settings.dbt_project_dir)).encode() + b"\0" + path.read_bytes())
    return {
        "dbt variables": _digest(json.dumps(dbt_vars, sort_keys=True, default=str).encode()),
        "taxonomy page map": _digest(page_map.read_bytes()) if page_map.is_file() else "none",
        "dbt models and macros": project.hexdigest(),
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_state(settings: Settings) -> dict | None:
    path = state_path(settings)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: build in full, which writes it again
    if not isinstance(document, dict) or not {"files", "fingerprint"} <= set(document):
        return None
    return document


def _listed(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")

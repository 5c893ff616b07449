"""Run the dbt project in-process, once per build, and report what it did.

dbt has a fixed start-up cost of about 5 s per invocation, so a build is one `dbt build`
(models, data tests and unit tests together) through `dbt.cli.main.dbtRunner`, never a
subprocess per step. Everything the project reads and writes follows the settings' data
directory: the raw tables, the DuckDB warehouse, the Parquet marts, and dbt's own target/
(manifest, run results, partial parse state) and logs/, which go to `<data dir>/dbt/` through
dbt's --target-path and --log-path. So two builds of two data directories at once never share
a manifest, and a plain `dbt build` inside dbt_project/ keeps its own target/.

Marts are written by the project's `external` materialization (dbt_project/macros/
materialization_external.sql), one file per model, each by DuckDB's COPY (a temporary file
renamed over the target, so a file is never half-written).
A build can still fail half-way, after some marts were rewritten and before others: a failing
data test skips the models downstream of it. Feast reads the marts as a set, so
`run_dbt_build` keeps the previous set until the build succeeds: it hard-links the marts aside
before dbt starts and, if the build fails (or was interrupted, noticed at the next build), puts
exactly that set back. During a build, readers may see a mix; after it, they see the previous
set or the new one. The warehouse's tables and views are not restored: they belong to the last
attempt, and the marts are what other stages read.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from clickintent.settings import Settings

# The directory beside the marts where the previous set is kept while a build runs.
PREVIOUS_MARTS_DIRNAME = ".marts.previous"
# How many failures a summary spells out before it only counts them.
MAX_LISTED_FAILURES = 5


@dataclass(frozen=True)
class NodeResult:
    """One node dbt ran: a model, a data test, a unit test or a hook."""

    unique_id: str
    name: str
    resource_type: str  # model, test, unit_test, operation ...
    status: str  # success, error, skipped (models); pass, fail, warn, error, skipped (tests)
    execution_time_s: float
    message: str | None = None
    failures: int | None = None  # failing rows of a data test

    @property
    def failed(self) -> bool:
        return self.status in {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class DbtBuildResult:
    """What one `dbt build` did: success, per-node results and wall time."""

    success: bool
    elapsed_s: float
    nodes: tuple[NodeResult, ...] = field(default_factory=tuple)
    # Set when dbt could not run at all (bad project, missing profile, crash).
    error: str | None = None
    marts_restored: bool = False

    def of_type(self, resource_type: str) -> list[NodeResult]:
        return [node for node in self.nodes if node.resource_type == resource_type]

    @property
    def failures(self) -> list[NodeResult]:
        return [node for node in self.nodes if node.failed]

    def counts(self) -> dict[str, Counter]:
        """{resource type: Counter(status -> nodes)}."""
        counts: dict[str, Counter] = {}
        for node in self.nodes:
            counts.setdefault(node.resource_type, Counter())[node.status] += 1
        return counts

    def summary(self) -> str:
        labels = {"model": "models", "test": "data tests", "unit_test": "unit tests", "seed": "seeds", "snapshot": "snapshots"}
        parts = []
        for resource_type, label in labels.items():
            statuses = self.counts().get(resource_type)
            if statuses:
                detail = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
                parts.append(f"{label}: {detail}")
        outcome = "succeeded" if self.success else "FAILED"
        lines = [f"dbt build {outcome} in {self.elapsed_s:.1f} s" + (f" ({'; '.join(parts)})" if parts else "")]
        if self.error:
            lines.append(f"  error: {self.error}")
        for node in self.failures[:MAX_LISTED_FAILURES]:
            message = (node.message or "").strip().splitlines()
            lines.append(f"  {node.status}: {node.name}" + (f": {message[0]}" if message else ""))
        if len(self.failures) > MAX_LISTED_FAILURES:
            lines.append(f"  ... and {len(self.failures) - MAX_LISTED_FAILURES} more")
        if self.marts_restored:
            lines.append("  the previous marts were kept (the failed build's marts were discarded)")
        return "\n".join(lines)


def dbt_vars(settings: Settings) -> dict[str, object]:
    """Project variables that come from the settings.

    identity_linking: "login" links a web session with a login event to its customer (the
    default in dbt_project.yml too, so a plain `dbt build` links); "off" builds every mart
    without any web-to-customer link (int_sessions gives no web session a customer_id).
    """
    return {"session_timeout_minutes": settings.session_timeout_minutes, "identity_linking": settings.identity_linking}


def dbt_target_dir(settings: Settings) -> Path:
    """dbt's target path for this data directory: manifest.json, run_results.json, compiled SQL."""
    return settings.dbt_dir / "target"


def dbt_log_dir(settings: Settings) -> Path:
    """dbt's log path for this data directory (dbt.log)."""
    return settings.dbt_dir / "logs"


def _dbt_args(settings: Settings, command: str) -> list[str]:
    settings = settings.absolute()  # a relative target path would be taken from dbt_project/
    project_dir = str(settings.dbt_project_dir)
    return [
        command,
        "--project-dir",
        project_dir,
        # profiles.yml lives in the project (no ~/.dbt needed)
        "--profiles-dir",
        project_dir,
        # per data directory, and over DBT_TARGET_PATH / DBT_LOG_PATH / dbt_project.yml
        "--target-path",
        str(dbt_target_dir(settings)),
        "--log-path",
        str(dbt_log_dir(settings)),
        "--vars",
        json.dumps(dbt_vars(settings)),
        "--threads",
        str(settings.threads),
    ]


@contextmanager
def _environment(settings: Settings) -> Iterator[None]:
    """The environment profiles.yml and the sources read, for the duration of one dbt call."""
    values = {"CLICKINTENT_DATA_DIR": str(settings.data_dir), "CLICKINTENT_THREADS": str(settings.threads)}
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _invoke(settings: Settings, args: list[str]):
    from dbt.cli.main import dbtRunner

    with _environment(settings):
        try:
            return dbtRunner().invoke(args)
        finally:
            _release_warehouse()


def _release_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the whole invocation.

    profiles.yml sets `keep_open: true` so that a build opens the warehouse once instead of
    once per node; dbt-duckdb then holds it until the process exits. In-process, that would
    lock the file against the next stage (Feast, the benchmarks, another build with other
    settings), so it is closed here, after every invocation.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing was opened
        return
    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()


def _node_results(run_result) -> tuple[NodeResult, ...]:
    results = getattr(run_result, "results", None) or []
    nodes = []
    for result in results:
        node = result.node
        nodes.append(
            NodeResult(
                unique_id=node.unique_id,
                name=node.name,
                resource_type=str(getattr(node.resource_type, "value", node.resource_type)),
                status=str(getattr(result.status, "value", result.status)),
                execution_time_s=float(result.execution_time or 0.0),
                message=result.message,
                failures=result.failures,
            )
        )
    return tuple(nodes)


def check_raw_tables(settings: Settings) -> None:
    """Fail early, and clearly, when the raw tables dbt reads are not there."""
    from clickintent.events.contract import RAW_TABLES

    missing = [name for name in RAW_TABLES if not (settings.raw_dir / f"{name}.parquet").is_file()]
    if missing:
        what = "no raw events" if "events" in missing else f"raw tables missing: {', '.join(missing)}"
        raise FileNotFoundError(
            f"{what} at {settings.raw_dir / (missing[0] + '.parquet')}; run `clickintent generate` (synthetic "
            f"world) or `clickintent load <dir>` (your own data) for data directory {settings.data_dir} first"
        )


def run_dbt_build(settings: Settings, select: str | None = None, *, quiet: bool = False) -> DbtBuildResult:
    """`dbt build` of the project against settings.data_dir, in-process; keeps the previous marts if it fails.

    select: a dbt selection (e.g. "fct_web_sessions+"); None builds everything.
    quiet: show only errors on the console (dbt's --quiet).
    """
    settings = settings.absolute()
    check_raw_tables(settings)
    args = _dbt_args(settings, "build")
    if select:
        args += ["--select", select]
    if quiet:
        args.insert(0, "--quiet")

    marts = MartsSnapshot(settings.marts_dir)
    marts.take()
    started = time.perf_counter()
    try:
        outcome = _invoke(settings, args)
        nodes = _node_results(outcome.result)
    except BaseException:
        marts.restore()
        raise
    elapsed = time.perf_counter() - started
    success = bool(outcome.success) and not any(node.failed for node in nodes)
    if success:
        marts.discard()
    else:
        marts.restore()
    error = None if outcome.exception is None else f"{type(outcome.exception).__name__}: {outcome.exception}"
    return DbtBuildResult(success=success, elapsed_s=elapsed, nodes=nodes, error=error, marts_restored=not success)


def manifest_path(settings: Settings, *, refresh: bool = False) -> Path:
    """The data directory's dbt manifest (<data dir>/dbt/target/manifest.json), which the Feast
    definitions are generated from.

    Runs `dbt parse` when the manifest is missing (or refresh=True). Parsing reads the
    project's YAML, not the data, so it needs no raw tables.
    """
    settings = settings.absolute()
    path = dbt_target_dir(settings) / "manifest.json"
    if refresh or not path.is_file():
        outcome = _invoke(settings, _dbt_args(settings, "parse"))
        if not outcome.success or not path.is_file():
            raise RuntimeError(f"dbt parse of {settings.dbt_project_dir} failed: {outcome.exception}")
    return path


def session_filter_counts(settings: Settings) -> dict[str, dict[str, int]]:
    """{platform: {session_class: sessions}} from the last successful build (fct_session_filter_counts)."""
    import pyarrow.parquet as pq

    table = pq.read_table(settings.marts_dir / "fct_session_filter_counts.parquet").to_pylist()
    counts: dict[str, dict[str, int]] = {}
    for row in table:
        counts.setdefault(row["platform"], {})[row["session_class"]] = row["n_sessions"]
    return counts


class MartsSnapshot:
    """Keeps the Parquet marts of the last successful build while a new build runs.

    take() hard-links every `<marts>/*.parquet` into `<data dir>/.marts.previous/` (a copy
    where hard links are not possible). dbt then replaces the marts by rename, which leaves
    the linked files untouched. restore() makes the marts directory hold exactly that set
    again; discard() drops it after a successful build. A snapshot left by an interrupted
    build is restored by the next take().
    """

    def __init__(self, marts_dir: Path):
        self.marts_dir = Path(marts_dir)
        self.previous_dir = self.marts_dir.parent / PREVIOUS_MARTS_DIRNAME

    def take(self) -> None:
        if self.previous_dir.exists():
            # the last build died between take() and discard()/restore(): its marts are suspect
            self.restore()
        self.marts_dir.mkdir(parents=True, exist_ok=True)
        staging = self.previous_dir.with_name(PREVIOUS_MARTS_DIRNAME + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for mart in sorted(self.marts_dir.glob("*.parquet")):
            try:
                os.link(mart, staging / mart.name)
            except OSError:
                shutil.copy2(mart, staging / mart.name)
        os.replace(staging, self.previous_dir)  # the snapshot exists only once complete

    def restore(self) -> None:
        if not self.previous_dir.exists():
            return
        previous = {path.name for path in self.previous_dir.glob("*.parquet")}
        for mart in self.marts_dir.glob("*.parquet"):
            if mart.name not in previous:
                mart.unlink()
        for name in sorted(previous):
            os.replace(self.previous_dir / name, self.marts_dir / name)
        shutil.rmtree(self.previous_dir)

    def discard(self) -> None:
        shutil.rmtree(self.previous_dir, ignore_errors=True)

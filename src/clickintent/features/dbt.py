"""Run the dbt project in-process, once per build, and report what it did.

dbt has a fixed start-up cost of about 5 s per invocation, so a build is one `dbt build`
(models, data tests and unit tests together) through `dbt.cli.main.dbtRunner`, never a
subprocess per step. Everything the project reads and writes follows the settings' data
directory: the raw tables, the DuckDB warehouse, the Parquet marts, and dbt's own target/
(manifest, run results, partial parse state) and logs/, which go to `<data dir>/dbt/` through
dbt's --target-path and --log-path. So two builds of two data directories at once never share
a manifest, and a plain `dbt build` inside dbt_project/ keeps its own target/.

Marts are written by the project's `external` materialization (dbt_project/macros/
materialization_external.sql), one file per model or a directory of days (partitioned_marts),
each by DuckDB's COPY. Feast reads the marts as a set, so a build never writes into
`<data dir>/marts/`: dbt writes the new set into a hidden sibling (`.marts.tmp-build`, its
`external_root` in the profile a build writes under `<data dir>/dbt/profile/`; the same each
time, so that dbt parses partially), and only a successful build records the set
(`_commit.json`: each mart file with its size and hash) and swaps it in
(artifacts.swap_directory). A failed or killed build leaves the previous set as it was, and its
staging directory is removed by the next build. Readers (Feast apply, the rankers, the
service) check the record (`verify_marts`), so a set a plain `dbt build` or a crash left mixed
is refused with what to run. The warehouse's views over the marts are pointed back at
`<data dir>/marts/` after the swap; its tables belong to the last attempt.
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

from clickintent.artifacts import (
    UncommittedOutputError,
    atomic_write_text,
    read_commit,
    recover_directory,
    staging_sibling,
    swap_directory,
    verify_commit,
    write_commit,
)
from clickintent.features.partitioned_marts import MART_FILES, mart_files, mart_location, parquet_relation
from clickintent.features.partitioned_marts import assemble as assemble_partitioned_marts
from clickintent.settings import Settings

BUILD_STAGE = "clickintent build"
# The profile's output that builds with dbt-spark instead of DuckDB (dbt_project/profiles.yml, docs/spark.md).
SPARK_TARGET = "spark"
SPARK_BUILD_STAGE = f"clickintent build --target {SPARK_TARGET}"
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
    # how the incremental models were built: "incremental: ..." or "full: <why>" (features.incremental)
    plan: str | None = None

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
        if self.plan:
            lines.append(f"  {self.plan}")
        if self.error:
            lines.append(f"  error: {self.error}")
        for node in self.failures[:MAX_LISTED_FAILURES]:
            message = (node.message or "").strip().splitlines()
            lines.append(f"  {node.status}: {node.name}" + (f": {message[0]}" if message else ""))
        if len(self.failures) > MAX_LISTED_FAILURES:
            lines.append(f"  ... and {len(self.failures) - MAX_LISTED_FAILURES} more")
        # warnings are counts the build reports without failing (e.g. events of an unknown type kept as 'other')
        for node in [node for node in self.nodes if node.status == "warn"][:MAX_LISTED_FAILURES]:
            lines.append(f"  warn: {node.name}: {node.failures if node.failures is not None else '?'} rows")
        if self.marts_restored:
            lines.append("  the previous marts were kept (the failed build's marts were discarded)")
        return "\n".join(lines)


def dbt_vars(settings: Settings) -> dict[str, object]:
    """Project variables that come from the settings.

    identity_linking: "login" links a web session with a login event to its customer (the
    default in dbt_project.yml too, so a plain `dbt build` links); "off" builds every mart
    without any web-to-customer link (int_sessions gives no web session a customer_id).
    stitch_window_days: how far back a login stitches the cookie's anonymous sessions.
    """
    from clickintent.events.partitions import is_partitioned, partition_glob

    variables: dict[str, object] = {
        "session_timeout_minutes": settings.session_timeout_minutes,
        "identity_linking": settings.identity_linking,
        "stitch_window_days": settings.stitch_window_days,
        "source_shape": settings.source_shape,
    }
    if is_partitioned(settings.raw_dir):  # the day partitions, not the one file (events.partitions)
        variables["clickintent_events_location"] = partition_glob(settings.absolute().raw_dir)
        variables["clickintent_events_partitioned"] = True
    return variables


def dbt_target_dir(settings: Settings, target: str | None = None) -> Path:
    """dbt's target path for this data directory: manifest.json, run_results.json, compiled SQL.
    A Spark build has its own, so that the manifest the Feast definitions come from stays DuckDB's."""
    return settings.dbt_dir / ("target" if target != SPARK_TARGET else "spark_target")


def dbt_log_dir(settings: Settings, target: str | None = None) -> Path:
    """dbt's log path for this data directory (dbt.log)."""
    return settings.dbt_dir / ("logs" if target != SPARK_TARGET else "spark_logs")


def is_spark_target(target: str | None) -> bool:
    """Whether a profile output builds on Spark: None or "local" is DuckDB; ValueError for any other."""
    if target not in (None, "local", SPARK_TARGET):
        raise ValueError(f"dbt target must be local (DuckDB) or {SPARK_TARGET}, not {target!r}")
    return target == SPARK_TARGET


def spark_marts_dir(settings: Settings) -> Path:
    """Where a Spark build writes the marts, one Parquet table directory each (the marts'
    location_root in dbt_project/dbt_project.yml)."""
    return settings.data_dir / "spark_marts"


def spark_build_unavailable() -> str | None:
    """Why `clickintent build --target spark` cannot run here; None when it can."""
    import importlib.util
    import shutil

    for module, package in (("dbt.adapters.spark", "dbt-spark"), ("pyspark", "pyspark")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed: pip install -e '.[spark]'"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (pyspark needs Java 17 or later on PATH or in JAVA_HOME)"
    return None


def _dbt_args(
    settings: Settings,
    command: str,
    profiles_dir: Path | None = None,
    target: str | None = None,
    variables: dict[str, object] | None = None,
) -> list[str]:
    settings = settings.absolute()  # a relative target path would be taken from dbt_project/
    project_dir = str(settings.dbt_project_dir)
    target_args = [] if target is None else ["--target", target]
    # dbt.log at dbt's default level, debug, logs every statement of every node (some 900 in a
    # build), which costs the build CPU; info keeps each node's result, and dbt's own
    # DBT_LOG_LEVEL_FILE=debug brings the statements back
    log_args = [] if "DBT_LOG_LEVEL_FILE" in os.environ else ["--log-level-file", "info"]
    return [
        command,
        *target_args,
        *log_args,
        "--project-dir",
        project_dir,
        # profiles.yml lives in the project (no ~/.dbt needed); a build uses a copy writing to staging
        "--profiles-dir",
        str(profiles_dir or project_dir),
        # per data directory, and over DBT_TARGET_PATH / DBT_LOG_PATH / dbt_project.yml
        "--target-path",
        str(dbt_target_dir(settings, target)),
        "--log-path",
        str(dbt_log_dir(settings, target)),
        "--vars",
        json.dumps(dbt_vars(settings) if variables is None else variables),
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
    """Fail early, and clearly, when the raw tables dbt reads are not there, saying what writes them."""
    from clickintent.events.shapes import SHAPE_EVENT_TABLES, raw_table_names

    shape = settings.source_shape
    from clickintent.events.partitions import has_raw_events

    def present(name: str) -> bool:
        return has_raw_events(settings.raw_dir) if name == "events" else (settings.raw_dir / f"{name}.parquet").is_file()

    missing = [name for name in raw_table_names(shape) if not present(name)]
    if not missing:
        return
    events = SHAPE_EVENT_TABLES[shape]
    if missing[0] in events:
        what = f"no raw {'' if shape == 'contract' else shape + ' '}events"
        held = [
            other for other, tables in SHAPE_EVENT_TABLES.items() if other != shape and _has_rows(settings.raw_dir / f"{tables[0]}.parquet")
        ]
        if held:
            what += f" (the raw directory holds {held[0]} events: set CLICKINTENT_SOURCE_SHAPE={held[0]})"
    else:
        what = f"raw tables missing: {', '.join(missing)}"
    if shape == "contract":
        remedy = "run `clickintent generate` (synthetic world) or `clickintent load <dir>` (your own data)"
    elif missing[0] in events:
        files = ", ".join(f"{name}.parquet" for name in events)
        remedy = (
            f"run `clickintent generate --format {shape}` (synthetic world) or put your tracker's tables there as {files} (docs/sources.md)"
        )
    else:
        remedy = f"run `clickintent load <dir>` with your {', '.join(missing)} (no contract events needed with the {shape} shape)"
    raise FileNotFoundError(
        f"{what} at {settings.raw_dir / (missing[0] + '.parquet')}; {remedy} for data directory {settings.data_dir} first"
    )


def _has_rows(path: Path) -> bool:
    import pyarrow.parquet as pq

    return path.is_file() and pq.read_metadata(path).num_rows > 0


def run_dbt_build(
    settings: Settings,
    select: str | None = None,
    *,
    quiet: bool = False,
    target: str | None = None,
    full_refresh: bool = False,
) -> DbtBuildResult:
    """`dbt build` of the project against settings.data_dir, in-process; the marts change only if it succeeds.

    Incremental where it can be (features.incremental): the event-scale models build only the
    raw event files not built yet; full_refresh=True (or a change the plan names) rebuilds them
    from all the events (dbt's --full-refresh).

    select: a dbt selection (e.g. "fct_web_sessions+"); None builds everything. With a
    selection, the marts it does not select are carried over (hard links) into the new set.
    quiet: show only errors on the console (dbt's --quiet).
    target: the profile's output; None or "local" is DuckDB, "spark" builds with dbt-spark
    (run_spark_build).
    """
    from clickintent.features.identity_links import write_identity_link_report
    from clickintent.features.incremental import forget_build, plan_build, record_build
    from clickintent.taxonomy.commit import verify_taxonomy

    if is_spark_target(target):
        return run_spark_build(settings, select, quiet=quiet)
    settings = settings.absolute()
    check_raw_tables(settings)
    verify_taxonomy(settings)  # the page map is a dbt source: not one a killed taxonomy run left
    marts_dir = settings.marts_dir
    recover_directory(marts_dir)  # a build killed earlier: its staging set goes, the last committed set stays
    staging = staging_sibling(marts_dir, fixed=True)  # in the profile dbt is given: the same path lets it parse partially
    try:
        if select:  # DuckDB's COPY replaces by rename, a partitioned one clears the directory: the committed files stay
            for mart in mart_files(marts_dir):
                (staging / mart.relative_to(marts_dir)).parent.mkdir(exist_ok=True)
                os.link(mart, staging / mart.relative_to(marts_dir))
        variables = dbt_vars(settings)
        plan = plan_build(settings, variables, full_refresh=full_refresh)
        args = _dbt_args(settings, "build", profiles_dir=_staging_profile(settings, staging), variables=variables | plan.dbt_vars(settings))
        args += plan.dbt_flags()
        if select:
            args += ["--select", select]
        if quiet:
            args.insert(0, "--quiet")
        # the tables dbt changes get ahead of the committed marts, whose days an incremental build
        # carries over: until a build records its success, whatever stops it, the next is full
        forget_build(settings)
        started = time.perf_counter()
        outcome = _invoke(settings, args)
        nodes = _node_results(outcome.result)
        elapsed = time.perf_counter() - started
        success = bool(outcome.success) and not any(node.failed for node in nodes)
        if success:
            assemble_partitioned_marts(staging, marts_dir)
            write_commit(staging, BUILD_STAGE, mart_files(staging), reuse=_committed_files(marts_dir), select=select)
            swap_directory(staging, marts_dir)
            _point_views_at(settings, staging, marts_dir)
            write_identity_link_report(settings)
            if not select:  # a selection may leave incremental models out: the next build is full
                record_build(settings, plan)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    error = None if outcome.exception is None else f"{type(outcome.exception).__name__}: {outcome.exception}"
    mode = f"full: {plan.reason}" if plan.full_refresh else f"incremental: {plan.reason}"
    return DbtBuildResult(success=success, elapsed_s=elapsed, nodes=nodes, error=error, marts_restored=not success, plan=mode)


def run_spark_build(settings: Settings, select: str | None = None, *, quiet: bool = False) -> DbtBuildResult:
    """`dbt build --target spark`: the same models in a local Spark session (docs/spark.md),
    the marts written as Parquet tables under spark_marts_dir(settings).

    As in the DuckDB build, the marts are written into a staging directory and swapped in as one
    set, with its commit record, only when the build succeeds: a failed build leaves the previous
    set as it was. Only the contract source shape runs on Spark (dbt stops at compile time for
    another), and the unit tests (DuckDB SQL fixtures) run in the DuckDB build only; the data
    tests run on both.
    """
    from clickintent.taxonomy.io import TaxonomyPaths

    unavailable = spark_build_unavailable()
    if unavailable:
        raise RuntimeError(f"clickintent build --target {SPARK_TARGET}: {unavailable}")
    settings = settings.absolute()
    check_raw_tables(settings)
    marts_dir = spark_marts_dir(settings)
    recover_directory(marts_dir)  # a build killed earlier: its staging set goes, the last committed set stays
    staging = staging_sibling(marts_dir, fixed=True)  # a dbt var: the same path lets dbt parse partially
    try:
        if select and marts_dir.is_dir():
            for mart in sorted(path for path in marts_dir.iterdir() if path.is_dir()):
                shutil.copytree(mart, staging / mart.name, copy_function=os.link)  # the marts it does not select
        args = _dbt_args(settings, "build", target=SPARK_TARGET)
        variables = {
            **dbt_vars(settings),
            # Spark SQL cannot look for the optional page map file (macros/source_is_present.sql)
            "clickintent_page_map_present": TaxonomyPaths.from_settings(settings).page_map.is_file(),
            "clickintent_spark_marts_root": str(staging),
        }
        args[args.index("--vars") + 1] = json.dumps(variables)
        if select:
            args += ["--select", select]
        if quiet:
            args.insert(0, "--quiet")
        started = time.perf_counter()
        try:
            outcome = _invoke(settings, args)
            nodes = _node_results(outcome.result)
            elapsed = time.perf_counter() - started
            success = bool(outcome.success) and not any(node.failed for node in nodes)
            if success:
                files = [path for path in staging.rglob("*") if path.is_file()]
                write_commit(staging, SPARK_BUILD_STAGE, files, select=select)
                swap_directory(staging, marts_dir)
            if marts_dir.is_dir():  # the new set, or after a failure the one committed before
                _point_spark_tables_at(settings, marts_dir)
        finally:
            stop_spark_session()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    error = None if outcome.exception is None else f"{type(outcome.exception).__name__}: {outcome.exception}"
    return DbtBuildResult(success=success, elapsed_s=elapsed, nodes=nodes, error=error, marts_restored=not success)


def _point_spark_tables_at(settings: Settings, marts_dir: Path) -> None:
    """The metastore's mart tables, pointed from the staging directory at the committed set (the
    DuckDB build's _point_views_at), so that a later `--select` build reads the marts it does not
    build from there. Uses the Spark session the build ran in (none: dbt stopped before Spark)."""
    import yaml
    from pyspark.sql import SparkSession

    session = getattr(SparkSession, "_instantiatedSession", None)  # as stop_spark_session finds it
    if session is None:
        return
    profiles = yaml.safe_load((settings.dbt_project_dir / "profiles.yml").read_text(encoding="utf-8"))
    schema = profiles["clickintent"]["outputs"][SPARK_TARGET]["schema"]
    for mart in sorted(path for path in marts_dir.iterdir() if path.is_dir()):
        if session.catalog.tableExists(f"{schema}.{mart.name}"):
            session.sql(f"alter table {schema}.{mart.name} set location '{mart}'")


def verify_spark_marts(settings: Settings) -> dict | None:
    """The Spark marts are the set the last successful Spark build committed; UncommittedOutputError otherwise."""
    marts_dir = spark_marts_dir(settings)
    if not marts_dir.is_dir():
        raise UncommittedOutputError(f"no Spark marts at {marts_dir}; run `{SPARK_BUILD_STAGE}`")
    return verify_commit(marts_dir, what="the Spark marts", command=SPARK_BUILD_STAGE, unlisted=("*/*.parquet",))


def stop_spark_session() -> None:
    """Stop the process's Spark session (dbt-spark's, or Feast's Spark offline store's). A
    builder's getOrCreate keeps it for the process, with the settings it was started with (the
    metastore and warehouse of one data directory, or no Hive at all for Feast's): a later build
    in the process starts its own."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pyspark not installed: nothing was started
        return
    session = getattr(SparkSession, "_instantiatedSession", None)  # the builder's cache, across threads
    if session is not None:
        session.stop()


def _staging_profile(settings: Settings, marts_dir: Path) -> Path:
    """A copy of the project's profiles.yml whose DuckDB outputs' external_root is `marts_dir`; its directory."""
    import yaml

    document = yaml.safe_load((settings.dbt_project_dir / "profiles.yml").read_text(encoding="utf-8"))
    for name, profile in document.items():
        if name != "config" and isinstance(profile, dict):
            for output in profile.get("outputs", {}).values():
                if output.get("type") == "duckdb":
                    output["external_root"] = str(marts_dir)
    directory = settings.dbt_dir / "profile"
    atomic_write_text(directory / "profiles.yml", yaml.safe_dump(document, sort_keys=False))
    return directory


def _point_views_at(settings: Settings, staging: Path, marts_dir: Path) -> None:
    """The warehouse's views over the staged marts, pointed at the committed ones (a later
    `--select` build reads the marts it does not rebuild through them). A partitioned mart's view
    read the days carried over by name and the days written through the staging directory: it
    now reads the committed directory."""
    import duckdb

    with duckdb.connect(str(settings.warehouse_path)) as connection:
        views = connection.execute(
            "select database_name, schema_name, view_name from duckdb_views() where not internal and contains(sql, ?)", [str(staging)]
        ).fetchall()
        for database, schema, view in views:
            name = ".".join('"{}"'.format(part.replace('"', '""')) for part in (database, schema, view))
            connection.execute(f"create or replace view {name} as select * from {parquet_relation(mart_location(marts_dir, view))}")


def _committed_files(marts_dir: Path) -> dict:
    """The committed set's file records, for the files a build carries over unchanged (not hashed again)."""
    try:
        return (read_commit(marts_dir) or {}).get("files", {})
    except UncommittedOutputError:
        return {}


def verify_marts(settings: Settings) -> dict | None:
    """The marts are the set the last successful `clickintent build` committed; UncommittedOutputError otherwise.

    Marts without a commit record (a plain `dbt build`, or built before records existed) pass.
    """
    if not settings.marts_dir.is_dir():
        raise UncommittedOutputError(f"no marts at {settings.marts_dir}; run `clickintent build`")
    return verify_commit(settings.marts_dir, what="the feature marts", command="clickintent build", unlisted=MART_FILES)


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

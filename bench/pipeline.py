"""Pipeline throughput: `clickintent generate` and the dbt build, beside a hand-written DuckDB floor.

For each size (default 1M and 10M events) in a scratch data directory:
  1. generate the synthetic world          (events/s, peak RSS)
  2. dbt build: raw events -> feature marts, models and data tests, one invocation (events/s, peak RSS)
  3. the floor: ONE hand-written DuckDB query doing the same sessionization (30-minute inactivity
     per anonymous_id and platform) and session aggregates, written to Parquet (events/s, peak RSS)
Each step runs in its own process so that its peak RSS is its own (os.wait4). Prints a table and
writes JSON to <data dir>/reports/bench_pipeline.json.

Besides the whole build, the per-model seconds come from dbt's run_results.json, and the models
that do the floor's work (sessionization, session aggregates, the web sessions mart:
FLOOR_EQUIVALENT_MODELS) are summed and set beside the floor, so that like is compared with like
as well as the whole build (which also runs the other marts, data tests and unit tests). As
for every `clickintent build`, dbt writes its target (run_results.json, compiled SQL) and logs
under the data directory (<scratch>/events_<size>/dbt/), never into dbt_project/target, so a
bench run does not disturb a build in the checkout.

Targets (docs/design.md): dbt build >= 500k events/s at 10M events and within 2x of the floor.

    python bench/pipeline.py [--sizes 1000000 10000000] [--scratch /tmp/clickintent-bench] [--reuse-world]

--incremental measures the incremental build instead (docs/incremental.md), in one run: a world
of history + increment events generated as day partitions, its history days built in full; the
remaining days appended (`generate --append`) and built incrementally; the same raw files rebuilt
in full (`build --full-refresh`) in a second data directory; and the increment's files alone
built in full in a third. The incremental build is also run once more with no new file: what
any incremental build costs whatever its events. The synthetic world spans a fixed 120 days, so
the increment is the last days holding about --increment-events events (about 11 days for
10M + 1M), not one day of 1M events. The incremental build's feast-tagged marts are compared
with the full rebuild's. Targets: the incremental build at most 1.5x the increment's own full
build and at most 20 % of the full rebuild. Writes <data dir>/reports/bench_pipeline_incremental.json.

    python bench/pipeline.py --incremental [--history-events 10000000] [--increment-events 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from clickintent.features.dbt import dbt_target_dir
from clickintent.features.partitioned_marts import mart_location, parquet_relation
from clickintent.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "clickintent.cli.main"]

# The floor: sessionization and per-session aggregates in one statement, as a skilled engineer
# would write it by hand for DuckDB with no staging layers, tests or documentation: the window
# runs over narrow integer keys (file row number, hashed visitor key, epoch microseconds) and
# the session numbers are joined back to the full rows once for the aggregates.
FLOOR_QUERY = """
copy (
  with keys as (
    select file_row_number as row_number, hash(anonymous_id, platform) as visitor_key,
           epoch_us(event_ts) as ts
    from read_parquet('%(raw)s/events.parquet', file_row_number = true)
  ), gaps as (
    select row_number, visitor_key, ts,
      coalesce(ts - lag(ts) over (partition by visitor_key order by ts) >= %(timeout_us)d, true) as is_new
    from keys
  ), numbered as (
    select row_number, visitor_key,
      sum(is_new::int) over (partition by visitor_key order by ts rows unbounded preceding) as session_number
    from gaps
  )
  select numbered.visitor_key, numbered.session_number,
    any_value(anonymous_id) as anonymous_id, any_value(platform) as platform,
    min(event_ts) as session_start_ts, max(event_ts) as session_end_ts,
    count(*) as n_events,
    count(*) filter (where event_type = 'page_view') as n_page_views,
    count(*) filter (where event_type = 'search') as n_searches,
    count(*) filter (where event_type = 'calculator') as n_calculator_events,
    count(*) filter (where event_type = 'form_start') as n_form_starts,
    count(*) filter (where event_type = 'form_submit') as n_form_submits,
    sum(dwell_ms) / 1000.0 as total_dwell_s, avg(dwell_ms) / 1000.0 as mean_dwell_s,
    median(dwell_ms) / 1000.0 as median_dwell_s, max(dwell_ms) / 1000.0 as max_dwell_s,
    count(distinct page_path) as depth,
    min(customer_id) as customer_id,
    bool_or(event_type = 'login') as has_login
  from read_parquet('%(raw)s/events.parquet', file_row_number = true) as events
  join numbered on numbered.row_number = events.file_row_number
  group by numbered.visitor_key, numbered.session_number
) to '%(out)s' (format parquet)
"""


# The dbt models doing what FLOOR_QUERY does: sessionize, aggregate per session, write the
# web sessions' features.
FLOOR_EQUIVALENT_MODELS = ("int_events_sessionized", "int_sessions", "fct_web_sessions")


def _run(command: list[str], env: dict[str, str]) -> dict:
    """Run a command in its own process; wall seconds, CPU seconds (user + system) and peak RSS.

    On a shared machine the wall seconds swing with the other processes' load (the same 10M
    build measured 38 s and 115 s within minutes); the CPU seconds swing much less, so compare
    those too when the machine is not idle.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        sys.stderr.write(output.decode(errors="replace")[-4000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def _event_count(raw_dir: Path) -> int:
    return duckdb.connect().execute(f"select count(*) from read_parquet('{raw_dir}/events.parquet')").fetchone()[0]


def _model_seconds(run_results: Path) -> dict[str, float]:
    """{model name: execution seconds} of the models in one dbt run_results.json."""
    seconds = {}
    for result in json.loads(run_results.read_text())["results"]:
        kind, _, rest = result["unique_id"].partition(".")  # model.<project>.<name>
        if kind == "model":
            seconds[rest.partition(".")[2]] = round(float(result["execution_time"]), 2)
    return dict(sorted(seconds.items(), key=lambda item: -item[1]))


def _node_kind_seconds(run_results: Path) -> dict[str, float]:
    """Total execution seconds per dbt node kind (model, test, unit_test, operation)."""
    totals: dict[str, float] = {}
    for result in json.loads(run_results.read_text())["results"]:
        kind = result["unique_id"].partition(".")[0]
        totals[kind] = round(totals.get(kind, 0.0) + float(result["execution_time"]), 2)
    return totals


def bench_size(size: int, scratch: Path, seed: int, *, reuse_world: bool = False) -> dict:
    # absolute: the commands run in the checkout (cwd=REPO), this process may not
    data_dir = (scratch / f"events_{size}").resolve()
    # `clickintent build` points dbt's target (run_results.json read below) into the data directory
    dbt_target = dbt_target_dir(Settings(data_dir=data_dir))
    env = {**os.environ, "CLICKINTENT_DATA_DIR": str(data_dir)}
    if reuse_world and (data_dir / "raw" / "events.parquet").is_file():
        generate = None
    else:
        generate = _run([*CLI, "generate", "--events", str(size), "--seed", str(seed)], env)
    events = _event_count(data_dir / "raw")
    run_results = dbt_target / "run_results.json"
    run_results.unlink(missing_ok=True)
    build = _run([*CLI, "build"], env)
    model_seconds = _model_seconds(run_results)
    missing = [name for name in FLOOR_EQUIVALENT_MODELS if name not in model_seconds]
    if missing:
        raise SystemExit(f"run_results.json at {run_results} lacks the models {', '.join(missing)}")
    floor_equivalent = {"seconds": round(sum(model_seconds[name] for name in FLOOR_EQUIVALENT_MODELS), 2)}
    floor_sql = FLOOR_QUERY % {"raw": data_dir / "raw", "out": scratch / "floor_sessions.parquet", "timeout_us": 30 * 60 * 1_000_000}
    floor_script = f'import duckdb; c = duckdb.connect(); c.execute("set threads=2"); c.execute({floor_sql!r})'
    floor = _run([sys.executable, "-c", floor_script], env)
    for step in (generate, build, floor_equivalent, floor):
        if step is not None:
            step["events_per_s"] = round(events / step["seconds"])
    return {
        "events": events,
        "generate": generate,
        "dbt_build": build,
        "dbt_floor_equivalent_models": {**floor_equivalent, "models": list(FLOOR_EQUIVALENT_MODELS)},
        "floor_single_query": floor,
        "dbt_build_vs_floor": round(build["seconds"] / floor["seconds"], 2),
        "dbt_floor_equivalent_vs_floor": round(floor_equivalent["seconds"] / floor["seconds"], 2),
        "dbt_build_vs_floor_cpu": round(build["cpu_seconds"] / floor["cpu_seconds"], 2),
        "dbt_model_seconds": model_seconds,
        "dbt_node_kind_seconds": _node_kind_seconds(run_results),
        "targets": {
            "dbt_build_events_per_s_at_10M": 500_000,
            "dbt_build_vs_floor_max": 2.0,
        },
    }


def bench_incremental(history_events: int, increment_events: int, scratch: Path, seed: int) -> dict:
    import shutil

    from clickintent.events.partitions import raw_event_files
    from clickintent.features.manifest import read_feast_marts
    from clickintent.synth.timeline import WINDOW_DAYS

    total = history_events + increment_events
    history_days = round(WINDOW_DAYS * history_events / total)
    root = (scratch / f"incremental_{history_events}_{increment_events}").resolve()
    shutil.rmtree(root, ignore_errors=True)
    dirs = {name: root / name for name in ("incremental", "full_rebuild", "increment_alone")}

    def env(name: str) -> dict[str, str]:
        return {**os.environ, "CLICKINTENT_DATA_DIR": str(dirs[name])}

    def count(files: list[Path]) -> int:
        listed = [str(path) for path in files]
        return duckdb.connect().execute(f"select count(*) from read_parquet({listed})").fetchone()[0]

    raw = dirs["incremental"] / "raw"
    _run([*CLI, "generate", "--events", str(total), "--seed", str(seed), "--days", str(history_days)], env("incremental"))
    history_files = raw_event_files(raw)
    history_build = _run([*CLI, "build"], env("incremental"))
    _run([*CLI, "generate", "--append", "--days", str(WINDOW_DAYS - history_days)], env("incremental"))
    increment_files = [path for path in raw_event_files(raw) if path not in history_files]
    target = dbt_target_dir(Settings(data_dir=dirs["incremental"]))
    incremental = _run([*CLI, "build"], env("incremental"))
    incremental_models = _model_seconds(target / "run_results.json")
    incremental_kinds = _node_kind_seconds(target / "run_results.json")
    # the same build again with nothing new: what every incremental build pays whatever its events
    no_new_events = _run([*CLI, "build"], env("incremental"))
    no_new_events_kinds = _node_kind_seconds(target / "run_results.json")

    shutil.copytree(raw, dirs["full_rebuild"] / "raw")
    full = _run([*CLI, "build", "--full-refresh"], env("full_rebuild"))
    full_models = _model_seconds(dbt_target_dir(Settings(data_dir=dirs["full_rebuild"])) / "run_results.json")

    alone_raw = dirs["increment_alone"] / "raw"
    alone_raw.mkdir(parents=True)
    for table in raw.glob("*.parquet"):
        shutil.copy2(table, alone_raw / table.name)
    for path in increment_files:
        (alone_raw / path.relative_to(raw)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, alone_raw / path.relative_to(raw))
    alone = _run([*CLI, "build"], env("increment_alone"))

    feast_marts = [mart.model for mart in read_feast_marts(target / "manifest.json")]
    differences = [
        mart
        for mart in feast_marts
        if _mart_fingerprint(mart_location(dirs["incremental"] / "marts", mart))
        != _mart_fingerprint(mart_location(dirs["full_rebuild"] / "marts", mart))
    ]
    return {
        "history_events": count(history_files),
        "increment_events": count(increment_files),
        "history_days": history_days,
        "increment_days": WINDOW_DAYS - history_days,
        "history_full_build": history_build,
        "incremental_build": incremental,
        "full_rebuild": full,
        "increment_alone_full_build": alone,
        "no_new_events_incremental_build": no_new_events,
        "no_new_events_node_kind_seconds": no_new_events_kinds,
        "incremental_vs_increment_alone": round(incremental["seconds"] / alone["seconds"], 2),
        "incremental_vs_full_rebuild": round(incremental["seconds"] / full["seconds"], 3),
        "feast_marts_equal_to_full_rebuild": not differences,
        "feast_marts_differing": differences,
        "incremental_model_seconds": incremental_models,
        "incremental_node_kind_seconds": incremental_kinds,
        "full_rebuild_model_seconds": full_models,
        "targets": {"incremental_vs_increment_alone_max": 1.5, "incremental_vs_full_rebuild_max": 0.2},
    }


def _mart_fingerprint(path: Path) -> tuple:
    """Rows and an order-free hash of a mart's rows, floats rounded to 6 places (sums over the
    same values in another order may differ in the last bits): a check at 10M events in DuckDB,
    where clickintent.features.mart_equality (the tests' comparison, in Python) would need more
    memory than the machine has."""
    connection = duckdb.connect()
    columns = connection.execute(f"describe select * from {parquet_relation(path)}").fetchall()

    def rounded(name: str, kind: str) -> str:
        if kind in ("DOUBLE", "FLOAT"):
            return f"round({name}, 6)"
        if kind in ("DOUBLE[]", "FLOAT[]"):
            return f"list_transform({name}, lambda value: round(value, 6))"
        return name

    row = ", ".join(rounded(f'"{name}"', kind) for name, kind, *_ in columns)
    return connection.execute(f"select count(*), sum(hash({row})::hugeint) from {parquet_relation(path)}").fetchone()


def print_incremental(result: dict) -> None:
    print(
        f"history {result['history_events']:,} events ({result['history_days']} days), "
        f"increment {result['increment_events']:,} events ({result['increment_days']} days)"
    )
    print(f"{'build':<34} {'seconds':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
    for step, label in (
        ("history_full_build", "history, full (before the append)"),
        ("incremental_build", "incremental (the increment)"),
        ("full_rebuild", "full rebuild (history + increment)"),
        ("increment_alone_full_build", "increment alone, full"),
        ("no_new_events_incremental_build", "incremental, no new events"),
    ):
        figures = result[step]
        print(f"{label:<34} {figures['seconds']:>8.1f} {figures['cpu_seconds']:>8.1f} {figures['peak_rss_mib']:>13,.0f}")
    print(f"incremental / increment alone = {result['incremental_vs_increment_alone']:.2f}x (target <= 1.5x)")
    print(f"incremental / full rebuild    = {result['incremental_vs_full_rebuild']:.1%} (target <= 20%)")
    print(f"feast-tagged marts equal to the full rebuild's: {result['feast_marts_equal_to_full_rebuild']}")
    print(
        "incremental build, dbt seconds per node kind: "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["incremental_node_kind_seconds"].items())
    )
    print(
        "no new events, dbt seconds per node kind: "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["no_new_events_node_kind_seconds"].items())
    )
    print(f"{'model':<34} {'incremental s':>13} {'full rebuild s':>15}")
    for name, seconds in result["full_rebuild_model_seconds"].items():
        print(f"{name:<34} {result['incremental_model_seconds'].get(name, 0.0):>13.2f} {seconds:>15.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/clickintent-bench"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--reuse-world",
        action="store_true",
        help="skip `clickintent generate` for a size whose data directory already holds raw events",
    )
    parser.add_argument("--incremental", action="store_true", help="measure the incremental build (see above)")
    parser.add_argument("--history-events", type=int, default=10_000_000)
    parser.add_argument("--increment-events", type=int, default=1_000_000)
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON output (default: <data dir>/reports/bench_pipeline[_incremental].json)"
    )
    args = parser.parse_args()

    from clickintent.settings import load_settings

    args.scratch.mkdir(parents=True, exist_ok=True)
    if args.incremental:
        result = bench_incremental(args.history_events, args.increment_events, args.scratch, args.seed)
        print_incremental(result)
        out = args.out or load_settings().reports_dir / "bench_pipeline_incremental.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": {"cpus": os.cpu_count()}, **result}, indent=2))
        print(f"wrote {out}")
        return
    results = {"machine": {"cpus": os.cpu_count()}, "sizes": {}}
    print(f"{'events':>12} {'step':<20} {'seconds':>8} {'events/s':>12} {'peak RSS MiB':>13} {'CPU s':>8}")
    for size in args.sizes:
        result = bench_size(size, args.scratch, args.seed, reuse_world=args.reuse_world)
        results["sizes"][str(size)] = result
        for step in ("generate", "dbt_build", "dbt_floor_equivalent_models", "floor_single_query"):
            figures = result[step]
            if figures is None:
                print(f"{result['events']:>12,} {step:<20} {'(reused)':>8}")
                continue
            label = "dbt floor's models" if step == "dbt_floor_equivalent_models" else step
            rss = f"{figures['peak_rss_mib']:>13,.0f}" if "peak_rss_mib" in figures else f"{'-':>13}"
            cpu = f"{figures['cpu_seconds']:>8.1f}" if "cpu_seconds" in figures else f"{'-':>8}"
            print(f"{result['events']:>12,} {label:<20} {figures['seconds']:>8.1f} {figures['events_per_s']:>12,} {rss} {cpu}")
        print(
            f"{'':>12} dbt build / floor = {result['dbt_build_vs_floor']:.2f}x wall (target <= 2x), "
            f"{result['dbt_build_vs_floor_cpu']:.2f}x CPU"
        )
        print(f"{'':>12} floor's models ({' + '.join(FLOOR_EQUIVALENT_MODELS)}) / floor = {result['dbt_floor_equivalent_vs_floor']:.2f}x")
        print(
            f"{'':>12} dbt seconds per node kind: "
            + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in result["dbt_node_kind_seconds"].items())
        )
        print(f"{'':>12} dbt seconds per model:")
        for name, seconds in result["dbt_model_seconds"].items():
            print(f"{'':>14} {seconds:>7.2f}  {name}")
    out = args.out or load_settings().reports_dir / "bench_pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

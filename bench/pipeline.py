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
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default: <data dir>/reports/bench_pipeline.json)")
    args = parser.parse_args()

    from clickintent.settings import load_settings

    args.scratch.mkdir(parents=True, exist_ok=True)
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

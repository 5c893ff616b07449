"""Pipeline throughput: `clickintent generate` and the dbt build, beside a hand-written DuckDB floor.

For each size (default 1M and 10M events) in a scratch data directory:
  1. generate the synthetic world          (events/s, peak RSS)
  2. dbt build: raw events -> feature marts, models and data tests, one invocation (events/s, peak RSS)
  3. the floor: ONE hand-written DuckDB query doing the same sessionization (30-minute inactivity
     per anonymous_id and platform) and session aggregates, written to Parquet (events/s, peak RSS)
Each step runs in its own process so that its peak RSS is its own (os.wait4). Prints a table and
writes JSON to <data dir>/reports/bench_pipeline.json.

Targets (DESIGN.md): dbt build >= 500k events/s at 10M events and within 2x of the floor.

    python bench/pipeline.py [--sizes 1000000 10000000] [--scratch /tmp/clickintent-bench]
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


def _run(command: list[str], env: dict[str, str]) -> dict:
    """Run a command in its own process; wall seconds and that process's peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        sys.stderr.write(output.decode(errors="replace")[-4000:])
        raise SystemExit(f"failed: {' '.join(command)}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def _event_count(raw_dir: Path) -> int:
    return duckdb.connect().execute(f"select count(*) from read_parquet('{raw_dir}/events.parquet')").fetchone()[0]


def bench_size(size: int, scratch: Path, seed: int) -> dict:
    data_dir = scratch / f"events_{size}"
    env = {**os.environ, "CLICKINTENT_DATA_DIR": str(data_dir)}
    generate = _run([*CLI, "generate", "--events", str(size), "--seed", str(seed)], env)
    events = _event_count(data_dir / "raw")
    build = _run([*CLI, "build"], env)
    floor_sql = FLOOR_QUERY % {"raw": data_dir / "raw", "out": scratch / "floor_sessions.parquet", "timeout_us": 30 * 60 * 1_000_000}
    floor_script = f"import duckdb; c = duckdb.connect(); c.execute(\"set threads=2\"); c.execute({floor_sql!r})"
    floor = _run([sys.executable, "-c", floor_script], env)
    for step in (generate, build, floor):
        step["events_per_s"] = round(events / step["seconds"])
    return {
        "events": events,
        "generate": generate,
        "dbt_build": build,
        "floor_single_query": floor,
        "dbt_build_vs_floor": round(build["seconds"] / floor["seconds"], 2),
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
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default: <data dir>/reports/bench_pipeline.json)")
    args = parser.parse_args()

    from clickintent.settings import load_settings

    args.scratch.mkdir(parents=True, exist_ok=True)
    results = {"machine": {"cpus": os.cpu_count()}, "sizes": {}}
    print(f"{'events':>12} {'step':<20} {'seconds':>8} {'events/s':>12} {'peak RSS MiB':>13}")
    for size in args.sizes:
        result = bench_size(size, args.scratch, args.seed)
        results["sizes"][str(size)] = result
        for step in ("generate", "dbt_build", "floor_single_query"):
            figures = result[step]
            print(f"{result['events']:>12,} {step:<20} {figures['seconds']:>8.1f} {figures['events_per_s']:>12,} {figures['peak_rss_mib']:>13,.0f}")
        print(f"{'':>12} dbt build / floor = {result['dbt_build_vs_floor']:.2f}x (target <= 2x)")
    out = args.out or load_settings().reports_dir / "bench_pipeline.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

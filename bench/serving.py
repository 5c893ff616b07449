"""Serving performance: /recommend served, beside the empty-service floor and the same computation in-process.

    python bench/serving.py [--data-dir DIR] [--models-dir DIR] [--seconds 30] [--rates 50,100,200]
                            [--saturation-seconds 20] [--workers 2] [--redis] [--out PATH]
                            [--only-pushes] [--push-recommend-rate 100]
                            [--only-overload] [--overload-modes clickintent,bentoml,off]

Each /recommend request carries a signed-in customer's live web session of 50 events (real
events of the world, the customer's id on them), online features for that customer and 30
candidate products: the service's heaviest path short of a login push.

In one run, with the same requests:
1. in-process: `Recommender.recommend` (features, encoder, intent, ranker) called directly,
   with torch, OpenMP and XGBoost on one thread; p50/p95/p99 back to back and paced at 100
   calls/s (what a call costs after the idle gap a fixed rate leaves), and where the time goes;
2. served: the service and the floor (serving/floor_service.py: same schema parsed, constant
   answer, same BentoML setup) both running; each driven in turn by a load generator in its own
   process over loopback, open-loop at fixed rates (latency from each request's scheduled
   start, so a slow server cannot slow the clock down) and closed-loop at saturation;
   p50/p95/p99, throughput, errors, the server's RSS;
3. pushes: /recommend at 100 req/s while a second stream logs new web sessions in at 10 per
   second (each a push to the online store): /recommend's p99 with and without, on SQLite and
   (with --redis) on a Redis of its own, loaded from the same registry;
4. overload, per shedding mode on a service of its own (the service's own load limits; with
   --overload-modes also BentoML's traffic max_concurrency, and none): 100 req/s for 10 s, then
   3x the saturation throughput for --overload-seconds, then 100 req/s for 20 s, from clients
   that give up after 5 s: the share answered, 503s, timeouts, p50/p99 during the overload, the
   seconds until p99 is back within 1.5x of its value before, and how long the server kept
   computing after. Once: the server CPU of one 50-event request and of the largest request
   the schema allows (MAX_EVENTS events of never-seen text, just under MAX_BODY_BYTES), and
   the 100 req/s stream's p50/p99 beside 4 clients sending those largest requests.

Pushes go to customers made up for the run (`c_bench_*`), so no real customer's features change;
the SQLite online store is switched to WAL journal mode by the service (persistent, harmless).
Prints a table, writes <data dir>/reports/bench_serving.json. Targets (docs/design.md): at 100 req/s
p50 <= floor p50 + 3 ms, p99 <= 2x floor p99, 0 errors; >= 200 req/s sustained with 0 errors
and >= 60 % of the floor's saturation throughput; in-process p50 <= 3 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

import clickintent.serving.threads  # noqa: F401  (first: one OpenMP/BLAS thread for the in-process part)
from clickintent.artifacts import atomic_write_json
from clickintent.events.partitions import raw_event_files
from clickintent.features.partitioned_marts import mart_location, parquet_pattern, parquet_relation

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

N_EVENTS = 50
N_CANDIDATES = 30
K = 5
N_BODIES = 200
REQUEST_TIMEOUT_S = 10.0
DEFAULT_RATES = (50, 100, 200)
PUSH_RATE = 10
PUSH_RECOMMEND_RATE = 100
# Every service the benchmark starts is on the loopback, for this process alone: no API keys.
# The services on the loopback: every local caller in (an explicit setting), and the key the
# bench, playing the identity provider, signs its logins with.
BENCH_ASSERTION_KEY = "bench-identity-provider-key-0001"
BENCH_ENVIRONMENT = {"CLICKINTENT_SERVING_AUTH": "open", "CLICKINTENT_LOGIN_ASSERTION_KEY": BENCH_ASSERTION_KEY}


# =============================================================================================
# the load generator (runs in its own process: `python bench/serving.py --loadgen SPEC.json`)


async def _post(session, url: str, body: bytes, timeout=None) -> int | str:
    """One request; its HTTP status, or the name of the client error that ended it."""
    import aiohttp

    try:
        async with session.post(url, data=body, headers={"content-type": "application/json"}, timeout=timeout) as response:
            await response.read()
            return response.status
    except (TimeoutError, aiohttp.ClientError) as error:
        return type(error).__name__


def open_loop_offsets(stream: dict, seconds: float) -> list[float]:
    """When each request of an open-loop stream is due, in seconds from the start: `rate` for
    `seconds`, or `phases`, a list of [rate, seconds] run one after the other."""
    offsets: list[float] = []
    start = 0.0
    for rate, length in stream.get("phases") or [[stream["rate"], seconds]]:
        offsets.extend(start + index / rate for index in range(int(rate * length)))
        start += length
    return offsets


async def _open_loop(session, url: str, bodies: list[bytes], offsets: list[float], results: list, t0: float, timeout=None) -> None:
    """Send one request at each offset from t0; latency from each scheduled time."""
    tasks = []

    async def one(index: int, scheduled: float) -> None:
        body = bodies[index % len(bodies)]
        sent = time.perf_counter()
        status = await _post(session, url, body, timeout)
        done = time.perf_counter()
        results.append((scheduled - t0, (done - scheduled) * 1000.0, (sent - scheduled) * 1000.0, status))

    for index, offset in enumerate(offsets):
        scheduled = t0 + offset
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    await asyncio.gather(*tasks)


async def _closed_loop(session, url: str, bodies: list[bytes], concurrency: int, seconds: float, results: list, t0: float) -> None:
    """`concurrency` clients, each sending its next request when the last answered."""
    stop_at = t0 + seconds

    async def client(offset: int) -> None:
        index = offset
        while time.perf_counter() < stop_at:
            body = bodies[index % len(bodies)]
            index += concurrency
            sent = time.perf_counter()
            status = await _post(session, url, body)
            done = time.perf_counter()
            if done <= stop_at:
                results.append((sent - t0, (done - sent) * 1000.0, 0.0, status))

    await asyncio.gather(*(client(offset) for offset in range(concurrency)))


async def _run_spec(spec: dict) -> dict:
    import aiohttp

    streams = spec["streams"]
    bodies = {name: [line.encode("utf-8") for line in Path(stream["bodies"]).read_text().splitlines()] for name, stream in streams.items()}
    connector = aiohttp.TCPConnector(limit=0, force_close=False, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    results: dict[str, list] = {name: [] for name in streams}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm the connection pool so connection set-up is not in the first measured requests.
        first = next(iter(streams))

        async def warm() -> None:
            try:
                async with session.post(
                    streams[first]["url"], data=bodies[first][0], headers={"content-type": "application/json"}
                ) as response:
                    await response.read()
            except (TimeoutError, aiohttp.ClientError):
                pass  # an overloaded server shows in the measured requests, not here

        await asyncio.gather(*(warm() for _ in range(4)))
        t0 = time.perf_counter() + 0.2
        jobs = []
        for name, stream in streams.items():
            if stream["mode"] == "open":
                # A stream may give up sooner than REQUEST_TIMEOUT_S, as a client with a deadline does.
                own_timeout = aiohttp.ClientTimeout(total=stream["timeout_s"]) if stream.get("timeout_s") else None
                offsets = open_loop_offsets(stream, spec["seconds"])
                jobs.append(_open_loop(session, stream["url"], bodies[name], offsets, results[name], t0, own_timeout))
            else:
                jobs.append(_closed_loop(session, stream["url"], bodies[name], stream["concurrency"], spec["seconds"], results[name], t0))
        started = time.perf_counter()
        await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "streams": {name: results[name] for name in streams}}


def loadgen_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    outcome = asyncio.run(_run_spec(spec))
    Path(spec["out"]).write_text(json.dumps(outcome))


# =============================================================================================
# statistics


def summarize(records: list, seconds: float, offered: float | None = None) -> dict:
    latencies = np.array([r[1] for r in records if r[3] == 200], dtype=np.float64)
    errors = [r for r in records if r[3] != 200]
    lags = np.array([r[2] for r in records], dtype=np.float64)
    statuses: dict[str, int] = {}
    for record in records:
        statuses[str(record[3])] = statuses.get(str(record[3]), 0) + 1
    out = {
        "requests": len(records),
        "ok": int(len(latencies)),
        "errors": len(errors),
        "statuses": statuses,
        "throughput_rps": round(len(latencies) / seconds, 1),
    }
    if offered is not None:
        out["offered_rps"] = offered
    if len(latencies):
        out.update(
            {
                "p50_ms": round(float(np.percentile(latencies, 50)), 2),
                "p95_ms": round(float(np.percentile(latencies, 95)), 2),
                "p99_ms": round(float(np.percentile(latencies, 99)), 2),
                "max_ms": round(float(latencies.max()), 2),
                "mean_ms": round(float(latencies.mean()), 2),
            }
        )
    if len(lags) and offered is not None:
        # How late the generator itself sent requests (its own overload would show here).
        out["client_send_lag_p99_ms"] = round(float(np.percentile(lags, 99)), 2)
    return out


# =============================================================================================
# requests


def build_bodies(settings, n_bodies: int, seed: int) -> tuple[list[dict], list[str]]:
    """/recommend bodies: a known customer, a 50-event signed-in web session, 30 candidates."""
    import duckdb

    rng = random.Random(seed)
    with duckdb.connect() as connection:
        customers = [
            row[0]
            for row in connection.execute(
                "select distinct customer_id from read_parquet(?) order by customer_id",
                [parquet_pattern(mart_location(settings.marts_dir, "fct_customer_web_intent"))],
            ).fetchall()
        ]
        products = [
            row[0]
            for row in connection.execute(
                "select product_id from read_parquet(?) order by product_id", [str(settings.marts_dir / "dim_products.parquet")]
            ).fetchall()
        ]
        sessions = connection.execute(
            f"select event_ids from {parquet_relation(mart_location(settings.marts_dir, 'fct_session_sequences'))} "
            "where platform = 'web' and n_events >= 10 order by session_id",
        ).fetchall()
        rng.shuffle(sessions)
        pool_ids = [event_id for (ids,) in sessions[: n_bodies * 6] for event_id in ids]
        columns = "event_id, event_ts, platform, anonymous_id, event_type, page_path, page_title, search_query, dwell_ms, referrer, utm_source, device_type, product_id"
        events = connection.execute(
            f"select {columns} from read_parquet(?) where event_id in (select unnest(?)) order by event_ts, event_id",
            [[str(path) for path in raw_event_files(settings.raw_dir)], pool_ids],
        ).fetchall()
    names = [name.strip() for name in columns.split(",")]
    pool = [{name: value for name, value in zip(names, row) if value is not None} for row in events]
    rng.shuffle(customers)
    bodies = []
    for index in range(n_bodies):
        customer = customers[index % len(customers)]
        start = rng.randrange(0, max(1, len(pool) - N_EVENTS))
        base = datetime(2026, 5, 1, 12, tzinfo=UTC) + timedelta(minutes=index)
        live = []
        for position, event in enumerate(pool[start : start + N_EVENTS]):
            event = dict(event)
            event.update(
                {
                    "event_id": f"bench_{index}_{position}",
                    "event_ts": (base + timedelta(seconds=20 * position)).isoformat(),
                    "anonymous_id": f"a_bench_{index}",
                    "customer_id": customer,  # signed in: the customer's own live session
                    "event_type": "page_view" if event["event_type"] == "login" else event["event_type"],
                }
            )
            live.append(event)
        bodies.append({"customer_id": customer, "events": live, "candidates": rng.sample(products, N_CANDIDATES), "k": K})
    return bodies, products


def login_bodies(bodies: list[dict], customers: list[str], n: int, run_id: str) -> list[dict]:
    """Web sessions that end in a login of a known customer (a push needs one), each with the
    identity provider's assertion: each request is one push. They write to the customers' online
    rows, as real logins would; the next materialization restores the batch values."""
    from clickintent.serving.auth import sign_login_assertion

    out = []
    issued_at = int(time.time())
    for index in range(n):
        template = bodies[index % len(bodies)]
        customer = customers[index % len(customers)]
        session_id = f"s_push_{run_id}_{index}"
        events = [
            {**event, "customer_id": None, "anonymous_id": f"a_push_{run_id}_{index}", "event_id": f"push_{run_id}_{index}_{i}"}
            for i, event in enumerate(template["events"][:20])
        ]
        events = [{key: value for key, value in event.items() if value is not None} for event in events]
        # Happening now: a session older than the customer's stored rows is one they already include.
        shift = datetime.now(UTC) - timedelta(seconds=30) - datetime.fromisoformat(events[-1]["event_ts"])
        for event in events:
            event["event_ts"] = (datetime.fromisoformat(event["event_ts"]) + shift).isoformat()
        last = datetime.fromisoformat(events[-1]["event_ts"])
        events.append(
            {
                "event_id": f"push_{run_id}_{index}_login",
                "event_ts": (last + timedelta(seconds=15)).isoformat(),
                "platform": "web",
                "anonymous_id": f"a_push_{run_id}_{index}",
                "customer_id": customer,
                "event_type": "login",
                "page_path": "/login",
                "device_type": events[0]["device_type"],
            }
        )
        assertion = sign_login_assertion(BENCH_ASSERTION_KEY, customer, session_id, issued_at)
        out.append({"session_id": session_id, "events": events, "k": K, "login_assertion": assertion})
    return out


def known_customers(settings, n: int) -> list[str]:
    """Customers with a profile (what a push needs), the same ones every run."""
    import duckdb

    with duckdb.connect() as connection:
        rows = connection.execute(
            f"select distinct customer_id from read_parquet(?) order by customer_id limit {int(n)}",
            [parquet_pattern(mart_location(settings.marts_dir, "dim_customer_profiles"))],
        ).fetchall()
    return [customer for (customer,) in rows]


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def write_bodies(bodies: list[dict], path: Path) -> Path:
    path.write_text("\n".join(json.dumps(body, default=_json_default) for body in bodies) + "\n")
    return path


# =============================================================================================
# in-process


def in_process(settings, bodies: list[dict], calls: int) -> dict:
    from clickintent.serving.recommender import REASONS_PER_PRODUCT, Recommender
    from serving.schemas import RecommendRequest, RecommendResponse

    recommender = Recommender.load(settings, push_on_login=False)
    texts = [json.dumps(body, default=_json_default) for body in bodies]
    requests = [RecommendRequest.model_validate_json(text) for text in texts]
    events = [[event.model_dump() for event in request.events] for request in requests]

    def call(index: int) -> dict:
        request = requests[index]
        return recommender.recommend(customer_id=request.customer_id, events=events[index], candidates=request.candidates, k=request.k)

    for index in range(min(50, len(bodies))):
        call(index)
    computation = []
    for index in range(calls):
        started = time.perf_counter()
        call(index % len(bodies))
        computation.append((time.perf_counter() - started) * 1000.0)
    # The same calls paced at 100 per second (the fixed-rate phase's spacing, one worker):
    # between calls the CPU idles, and on this 2-core VM each call after an idle gap costs
    # markedly more than back to back (caches and clocks cold), which the served figures pay.
    paced_wall, paced_cpu = [], []
    next_call = time.perf_counter()
    for index in range(min(calls, 500)):
        next_call += 0.01
        time.sleep(max(0.0, next_call - time.perf_counter()))
        started, cpu_started = time.perf_counter(), time.thread_time()
        call(index % len(bodies))
        paced_wall.append((time.perf_counter() - started) * 1000.0)
        paced_cpu.append((time.thread_time() - cpu_started) * 1000.0)
    with_http_models = []
    for index in range(min(calls, 500)):
        started = time.perf_counter()
        request = RecommendRequest.model_validate_json(texts[index % len(texts)])
        dumped = [event.model_dump() for event in request.events]
        result = recommender.recommend(customer_id=request.customer_id, events=dumped, candidates=request.candidates, k=request.k)
        RecommendResponse.model_validate(result).model_dump_json()
        with_http_models.append((time.perf_counter() - started) * 1000.0)

    # Where the time goes (each part alone, same inputs).
    parts: dict[str, list[float]] = {
        "online_features": [],
        "encoder": [],
        "intent_classifier": [],
        "ranker_score_30": [],
        "ranker_reasons_5": [],
    }
    session_models = recommender.session_models
    for index in range(min(calls, 300)):
        request = requests[index % len(requests)]
        live = events[index % len(events)]
        started = time.perf_counter()
        customer = recommender.online.customer(request.customer_id)
        parts["online_features"].append((time.perf_counter() - started) * 1000.0)
        started = time.perf_counter()
        session_models.embedder.embed_events(live)
        parts["encoder"].append((time.perf_counter() - started) * 1000.0)
        started = time.perf_counter()
        session_models.classifier.predict_events(live)
        parts["intent_classifier"].append((time.perf_counter() - started) * 1000.0)
        rows = [recommender._row(customer.values, product) for product in request.candidates]
        # The ranker's parts as `Recommender._rank` runs them: the shared values encoded over the
        # catalogue's pre-encoded columns, one scoring call, reasons for the top K.
        over = (recommender._candidate_block, customer.values, request.candidates)
        started = time.perf_counter()
        matrix = recommender.ranker.matrix(rows, over=over)
        scores = recommender.ranker.score_matrix(matrix)
        parts["ranker_score_30"].append((time.perf_counter() - started) * 1000.0)
        top = np.argsort(-np.asarray(scores), kind="stable")[:K]
        started = time.perf_counter()
        recommender.ranker.explain_matrix([rows[index] for index in top], matrix[top], REASONS_PER_PRODUCT)
        parts["ranker_reasons_5"].append((time.perf_counter() - started) * 1000.0)
    batching = batching_potential(recommender, requests)
    recommender.close()

    def stats(values: list[float]) -> dict:
        array = np.array(values)
        return {
            "calls": len(values),
            "p50_ms": round(float(np.percentile(array, 50)), 3),
            "p95_ms": round(float(np.percentile(array, 95)), 3),
            "p99_ms": round(float(np.percentile(array, 99)), 3),
        }

    return {
        "recommend": stats(computation),
        "recommend_paced_100_per_s": {**stats(paced_wall), "cpu_p50_ms": round(float(np.percentile(paced_cpu, 50)), 3)},
        "recommend_with_request_parsing_and_response_model": stats(with_http_models),
        "parts_p50_ms": {name: stats(values)["p50_ms"] for name, values in parts.items()},
        "batching_potential": batching,
        "threads": {"torch": _torch_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "xgboost_nthread": 1},
    }


def batching_potential(recommender, requests, batch: int = 16, repeats: int = 20) -> dict:
    """What adaptive batching could save per request: the batchable parts (one Feast read for
    `batch` customers, one ranker call for their rows) against one call per request."""
    chosen = requests[:batch]
    customers = [request.customer_id for request in chosen]
    rows = [recommender._row({}, product) for request in chosen for product in request.candidates]
    store, refs = recommender.online.store, recommender.online.customer_refs
    timings: dict[str, list[float]] = {"feast_single": [], "feast_batch": [], "score_single": [], "score_batch": []}
    per = len(rows) // len(chosen)
    for _ in range(repeats):
        started = time.perf_counter()
        for customer in customers:
            store.get_online_features(features=refs, entity_rows=[{"customer_id": customer}]).to_dict()
        timings["feast_single"].append((time.perf_counter() - started) * 1000.0 / batch)
        started = time.perf_counter()
        store.get_online_features(features=refs, entity_rows=[{"customer_id": customer} for customer in customers]).to_dict()
        timings["feast_batch"].append((time.perf_counter() - started) * 1000.0 / batch)
        started = time.perf_counter()
        for index in range(len(chosen)):
            recommender.ranker.score(rows[index * per : (index + 1) * per])
        timings["score_single"].append((time.perf_counter() - started) * 1000.0 / batch)
        started = time.perf_counter()
        recommender.ranker.score(rows)
        timings["score_batch"].append((time.perf_counter() - started) * 1000.0 / batch)
    medians = {name: round(float(np.median(values)), 3) for name, values in timings.items()}
    medians["saving_per_request_ms"] = round(
        medians["feast_single"] - medians["feast_batch"] + medians["score_single"] - medians["score_batch"], 3
    )
    medians["batch"] = batch
    return medians


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# =============================================================================================
# served


class RssSampler:
    """Max resident memory of a served process tree while a phase runs."""

    def __init__(self, served) -> None:
        self.served = served
        self.max_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_bytes = max(self.max_bytes, self.served.rss_bytes())
            self._stop.wait(0.5)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


IDLE_PROBE_MS = 50.0


def wait_until_idle(served, timeout: float = 180.0) -> float:
    """Seconds until the server answers /readyz within IDLE_PROBE_MS twice in a row.

    An overloaded phase leaves a backlog: the generator gives up on requests after
    REQUEST_TIMEOUT_S but the server still works through them, and the next phase would
    measure that backlog instead of itself.
    """
    import httpx

    started = time.perf_counter()
    prompt = 0
    while prompt < 2 and time.perf_counter() - started < timeout:
        probe = time.perf_counter()
        try:
            answered = httpx.get(f"{served.url}/readyz", timeout=10.0).status_code == 200
        except httpx.HTTPError:
            answered = False
        prompt = prompt + 1 if answered and (time.perf_counter() - probe) * 1000.0 < IDLE_PROBE_MS else 0
        if prompt < 2:
            time.sleep(0.2)
    return round(time.perf_counter() - started, 1)


def with_cpu_per_request(result: dict, cpu_used: float, seconds: float) -> dict:
    """The server's CPU milliseconds per answered request in a phase: what caps throughput on
    a machine of few cores, comparable between the service and the floor."""
    answered = result.get("throughput_rps", 0.0) * seconds
    result["server_cpu_ms_per_request"] = round(cpu_used * 1000.0 / answered, 3) if answered else None
    return result


def run_load(workdir: Path, seconds: float, streams: dict, served) -> tuple[dict, int]:
    """One load phase in a separate generator process; per-stream records and the server's max RSS
    (and, in the returned records, the server's CPU seconds during the phase)."""
    waited = wait_until_idle(served)
    if waited > 1.0:
        print(f"  (waited {waited:.0f} s for the server to drain the previous phase's backlog)", flush=True)
    spec_path = workdir / "spec.json"
    out_path = workdir / "loadgen_out.json"
    spec_path.write_text(json.dumps({"seconds": seconds, "streams": streams, "out": str(out_path)}))
    cpu_before = served.cpu_seconds()
    with RssSampler(served) as rss:
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--loadgen", str(spec_path)], check=True, timeout=seconds + 120)
    outcome = json.loads(out_path.read_text())
    outcome["server_cpu_seconds"] = served.cpu_seconds() - cpu_before
    return outcome, rss.max_bytes


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def start_redis(workdir: Path):
    from clickintent.serving.process import free_port

    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("--redis needs redis-server (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import socket

    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("redis-server did not start")


def redis_settings(settings, workdir: Path, port: int):
    """A data directory whose Feast registry and online store are Redis, loaded with the service's views."""
    from clickintent.features.store import feature_store
    from clickintent.settings import load_settings

    data = workdir / "redis_data"
    (data / "feast").mkdir(parents=True, exist_ok=True)
    shutil.copy2(settings.feast_dir / "registry.db", data / "feast" / "registry.db")
    for folder in ("taxonomy", "marts", "embeddings"):
        source = settings.data_dir / folder
        if source.is_dir():
            (data / folder).symlink_to(source, target_is_directory=True)
    redis = load_settings(data_dir=data, models_dir=settings.models_dir, online_store="redis", redis_url=f"127.0.0.1:{port}")
    views = ["customer_profile", "product_features", "customer_web_intent", "customer_web_intent_labels", "customer_web_embedding"]
    started = time.perf_counter()
    feature_store(redis).materialize(start_date=datetime(2000, 1, 1, tzinfo=UTC), end_date=datetime.now(UTC), feature_views=views)
    return redis, time.perf_counter() - started


def push_phase(
    settings,
    workdir: Path,
    bodies_path: Path,
    bodies: list[dict],
    seconds: float,
    label: str,
    workers: int,
    recommend_rate: float = PUSH_RECOMMEND_RATE,
) -> dict:
    from clickintent.serving.process import start_service

    run_id = f"{label}_{int(time.time())}"
    n_pushes = int(PUSH_RATE * seconds) + 10
    pushes = write_bodies(login_bodies(bodies, known_customers(settings, n_pushes), n_pushes, run_id), workdir / f"logins_{label}.jsonl")
    with start_service(
        settings, workers=workers, log_path=workdir / f"service_push_{label}.log", timeout=300, extra_environment=BENCH_ENVIRONMENT
    ) as served:
        streams = {"recommend": {"url": f"{served.url}/recommend", "bodies": str(bodies_path), "mode": "open", "rate": recommend_rate}}
        baseline, _ = run_load(workdir, seconds, streams, served)
        streams["login_push"] = {"url": f"{served.url}/recommend", "bodies": str(pushes), "mode": "open", "rate": PUSH_RATE}
        loaded, rss = run_load(workdir, seconds, streams, served)
    return {
        "online_store": settings.online_store,
        "recommend_without_pushes": summarize(baseline["streams"]["recommend"], seconds, recommend_rate),
        "recommend_with_pushes": summarize(loaded["streams"]["recommend"], seconds, recommend_rate),
        "login_pushes": summarize(loaded["streams"]["login_push"], seconds, PUSH_RATE),
        "server_rss_mib": round(rss / 2**20),
    }


# =============================================================================================
# overload


OVERLOAD_FACTOR = 3.0
# Offered rate before and after the overload: the fixed-rate target's.
OVERLOAD_BASE_RATE = 100
OVERLOAD_BEFORE_S = 10.0
OVERLOAD_AFTER_S = 20.0
# The overload stream's clients give up after this, as a caller with a deadline does.
CLIENT_DEADLINE_S = 5.0
RECOVERY_WINDOW_S = 1.0
# Recovered: every later window's p99 within this factor of the p99 before the overload.
RECOVERY_FACTOR = 1.5
BIG_BODY_CLIENTS = 4
# The most server CPU one request may take (docs/design.md, targets).
LARGEST_REQUEST_CPU_MS = 15.0
# What answers past capacity, compared on the same load: the service's own load limits
# (clickintent.serving.http, the settings' defaults), BentoML's traffic max_concurrency over the
# same number of requests, and neither (requests queue without bound).
SHEDDING_MODES = ("clickintent", "bentoml", "off")


def shedding_environment(mode: str, settings, workers: int) -> dict[str, str]:
    if mode == "clickintent":
        return {}
    if mode == "bentoml":
        total = settings.serving_max_concurrency * workers  # BentoML divides it between the workers
        overrides = {"services": {"clickintent": {"traffic": {"timeout": 30, "max_concurrency": total}}}}
        return {"CLICKINTENT_SERVING_MAX_CONCURRENCY": "0", "BENTOML_CONFIG_OVERRIDES": json.dumps(overrides)}
    if mode == "off":
        return {"CLICKINTENT_SERVING_MAX_CONCURRENCY": "0"}
    raise SystemExit(f"unknown shedding mode {mode!r}: choose from {', '.join(SHEDDING_MODES)}")


def largest_bodies(bodies: list[dict], n: int, seed: int) -> list[dict]:
    """The largest requests the schema allows: MAX_EVENTS events, each page, title and search
    text long and never seen before (the costliest text to read), grown until the body is just
    under MAX_BODY_BYTES."""
    from serving.schemas import MAX_BODY_BYTES, MAX_EVENTS, MAX_PATH_CHARS, MAX_TEXT_CHARS

    rng = random.Random(seed)

    def words(chars: int) -> str:
        return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(chars // 8 + 1))[:chars]

    out = []
    for index in range(n):
        template = bodies[index % len(bodies)]
        events = [dict(template["events"][i % len(template["events"])]) for i in range(MAX_EVENTS)]
        base = datetime.fromisoformat(str(events[0]["event_ts"]))
        for position, event in enumerate(events):
            event.update(
                {
                    "event_id": f"big_{index}_{position}",
                    "event_ts": (base + timedelta(seconds=5 * position)).isoformat(),
                    "event_type": "search",
                }
            )
        body = {**template, "events": events}
        size = len(json.dumps(body, default=_json_default))
        # Text per event that fills the body to the limit (JSON escapes none of these letters).
        per_event = max(0, (MAX_BODY_BYTES - size - 1024) // MAX_EVENTS)
        path_chars = min(MAX_PATH_CHARS - 1, per_event // 3)
        text_chars = min(MAX_TEXT_CHARS, (per_event - path_chars) // 2)
        for event in events:
            event.update(
                {"page_path": "/" + words(path_chars).replace(" ", "/"), "page_title": words(text_chars), "search_query": words(text_chars)}
            )
        out.append(body)
    return out


def request_costs(served, kinds: dict[str, list[bytes]], requests: int = 40) -> dict:
    """Server CPU per request, one request at a time, for each kind of body."""
    import httpx

    out = {}
    with httpx.Client(base_url=served.url, timeout=60.0, headers={"content-type": "application/json"}) as client:
        for name, bodies in kinds.items():
            for body in bodies[:3]:
                response = client.post("/recommend", content=body)
                if response.status_code != 200:
                    raise SystemExit(f"{name}: /recommend answered {response.status_code}: {response.text[:500]}")
            cpu_before = served.cpu_seconds()
            for index in range(requests):
                client.post("/recommend", content=bodies[index % len(bodies)])
            out[name] = {
                "body_kib": round(len(bodies[0]) / 1024, 1),
                "server_cpu_ms_per_request": round((served.cpu_seconds() - cpu_before) * 1000.0 / requests, 2),
            }
    return out


def overload_summary(records: list, before_s: float, overload_s: float, after_s: float) -> dict:
    """The three stretches of one overload run, from each request's scheduled time."""
    before = [r for r in records if r[0] < before_s]
    during = [r for r in records if before_s <= r[0] < before_s + overload_s]
    after = [r for r in records if r[0] >= before_s + overload_s]
    summary_before = summarize(before, before_s, OVERLOAD_BASE_RATE)
    offered = round(len(during) / overload_s, 1)
    summary_during = summarize(during, overload_s, offered)
    statuses = summary_during["statuses"]
    timeouts = sum(count for status, count in statuses.items() if "Timeout" in status)
    shed = [r[1] for r in during if r[3] in (503, 429)]
    summary_during.update(
        {
            "share_answered": round(summary_during["ok"] / max(len(during), 1), 3),
            "shed_503": statuses.get("503", 0),
            "shed_429": statuses.get("429", 0),
            "timeouts": timeouts,
            "shed_p50_ms": round(float(np.percentile(shed, 50)), 2) if shed else None,
            "shed_p99_ms": round(float(np.percentile(shed, 99)), 2) if shed else None,
        }
    )
    # Recovery: the first window after the overload whose p99 is back within RECOVERY_FACTOR of
    # the p99 before it, with no errors (every window is reported: the machine is shared).
    reference = summary_before.get("p99_ms")
    windows = []
    start = before_s + overload_s
    while start < before_s + overload_s + after_s - 1e-9:
        inside = [r for r in after if start <= r[0] < start + RECOVERY_WINDOW_S]
        ok = [r[1] for r in inside if r[3] == 200]
        windows.append(
            {
                "from_s": round(start - before_s - overload_s, 1),
                "p99_ms": round(float(np.percentile(ok, 99)), 2) if ok else None,
                "errors": len(inside) - len(ok),
            }
        )
        start += RECOVERY_WINDOW_S

    def recovered(window: dict) -> bool:
        return (
            reference is not None
            and window["p99_ms"] is not None
            and window["p99_ms"] <= RECOVERY_FACTOR * reference
            and not window["errors"]
        )

    recovery_s = next((window["from_s"] for window in windows if recovered(window)), None)
    return {
        "before": summary_before,
        "overload": summary_during,
        "after": summarize(after, after_s, OVERLOAD_BASE_RATE),
        "recovery_s": recovery_s,
        "recovery_windows": windows,
    }


def computed_requests(served) -> float:
    """The /recommend requests the server has answered 200 so far, by its Prometheus counter
    (answers to a client that has gone count too: they were computed)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{served.url}/metrics", timeout=30.0).text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "bentoml_service_request_total"
                and labels.get("endpoint") == "/recommend"
                and labels.get("http_response_code") == "200"
            ):
                total += sample.value
    return total


def overload_phase(
    settings,
    workdir: Path,
    bodies_path: Path,
    bodies: list[dict],
    workers: int,
    saturation_rps: float | None,
    modes: list[str],
    args,
    out: dict,
) -> None:
    """Per shedding mode, on a service of its own: OVERLOAD_BASE_RATE, then OVERLOAD_FACTOR x the
    saturation throughput for `overload_seconds`, then the base rate again, with clients that give
    up after CLIENT_DEADLINE_S; and, once, what the largest allowed requests cost and do to the
    others' latency."""
    from clickintent.serving.process import start_service

    big = [json.dumps(body, default=_json_default) for body in largest_bodies(bodies, 8, args.seed)]
    big_path = workdir / "largest.jsonl"
    big_path.write_text("\n".join(big) + "\n")
    ordinary = [line.encode("utf-8") for line in bodies_path.read_text().splitlines()]
    # Filled in as it goes, so that a run stopped half-way still reports what it measured.
    out.update(
        {
            "config": {
                "factor": OVERLOAD_FACTOR,
                "base_rate": OVERLOAD_BASE_RATE,
                "seconds": [OVERLOAD_BEFORE_S, args.overload_seconds, OVERLOAD_AFTER_S],
                "client_deadline_s": CLIENT_DEADLINE_S,
                "max_concurrency_per_worker": settings.serving_max_concurrency,
                "queue_deadline_ms": settings.serving_queue_deadline_ms,
                "workers": workers,
            },
            "modes": {},
        }
    )
    for position, mode in enumerate(modes):
        with start_service(
            settings,
            workers=workers,
            log_path=workdir / f"service_overload_{mode}.log",
            timeout=300,
            extra_environment={**BENCH_ENVIRONMENT, **shedding_environment(mode, settings, workers)},
        ) as served:
            if position == 0:
                print("overload: what one request costs, one at a time ...", flush=True)
                out["request_cost"] = request_costs(served, {f"{N_EVENTS} events": ordinary, "largest allowed": [b.encode() for b in big]})
                print(f"  {out['request_cost']}", flush=True)
            if saturation_rps is None:
                print(f"overload: saturation, {args.concurrency} clients for 10 s ...", flush=True)
                outcome, _ = run_load(
                    workdir,
                    10.0,
                    {
                        "main": {
                            "url": f"{served.url}/recommend",
                            "bodies": str(bodies_path),
                            "mode": "closed",
                            "concurrency": args.concurrency,
                        }
                    },
                    served,
                )
                saturation_rps = summarize(outcome["streams"]["main"], 10.0)["throughput_rps"]
                out["config"]["saturation_measured_here"] = True
            offered = round(OVERLOAD_FACTOR * saturation_rps)
            out["config"]["saturation_rps"] = saturation_rps
            out["config"]["overload_rps"] = offered
            print(
                f"overload ({mode}): {OVERLOAD_BASE_RATE} req/s, {offered} req/s for {args.overload_seconds:.0f} s, {OVERLOAD_BASE_RATE} req/s ...",
                flush=True,
            )
            phases = [[OVERLOAD_BASE_RATE, OVERLOAD_BEFORE_S], [offered, args.overload_seconds], [OVERLOAD_BASE_RATE, OVERLOAD_AFTER_S]]
            seconds = OVERLOAD_BEFORE_S + args.overload_seconds + OVERLOAD_AFTER_S
            stream = {
                "url": f"{served.url}/recommend",
                "bodies": str(bodies_path),
                "mode": "open",
                "phases": phases,
                "timeout_s": CLIENT_DEADLINE_S,
            }
            computed_before = computed_requests(served)
            outcome, rss = run_load(workdir, seconds, {"main": stream}, served)
            result = overload_summary(outcome["streams"]["main"], OVERLOAD_BEFORE_S, args.overload_seconds, OVERLOAD_AFTER_S)
            result["server_rss_mib"] = round(rss / 2**20)
            # Answers the server computed that no client received: work for clients that had gone.
            received = sum(1 for record in outcome["streams"]["main"] if record[3] == 200)
            result["computed_for_clients_gone"] = round(computed_requests(served) - computed_before - received)
            out["modes"][mode] = result
            if position == 0:
                print(
                    f"overload: {OVERLOAD_BASE_RATE} req/s beside {BIG_BODY_CLIENTS} clients sending the largest requests ...", flush=True
                )
                base = {"url": f"{served.url}/recommend", "bodies": str(bodies_path), "mode": "open", "rate": OVERLOAD_BASE_RATE}
                alone, _ = run_load(workdir, args.overload_seconds, {"main": base}, served)
                streams = {
                    "main": base,
                    "largest": {
                        "url": f"{served.url}/recommend",
                        "bodies": str(big_path),
                        "mode": "closed",
                        "concurrency": BIG_BODY_CLIENTS,
                    },
                }
                beside, _ = run_load(workdir, args.overload_seconds, streams, served)
                out["largest_requests"] = {
                    "alone": summarize(alone["streams"]["main"], args.overload_seconds, OVERLOAD_BASE_RATE),
                    "beside_largest": summarize(beside["streams"]["main"], args.overload_seconds, OVERLOAD_BASE_RATE),
                    "largest": summarize(beside["streams"]["largest"], args.overload_seconds),
                }


# =============================================================================================
# report


def check(name: str, target: str, measured: str, met: bool | None) -> dict:
    return {"check": name, "target": target, "measured": measured, "met": met}


def targets(report: dict) -> list[dict]:
    out = []
    served, floor = report["service"], report["floor"]
    at100, floor100 = served.get("rate_100"), floor.get("rate_100")
    if at100 and floor100 and "p50_ms" in at100 and "p50_ms" in floor100:
        out.append(
            check(
                "p50 at 100 req/s",
                f"<= floor p50 + 3 ms ({floor100['p50_ms'] + 3:.2f})",
                f"{at100['p50_ms']:.2f} ms",
                at100["p50_ms"] <= floor100["p50_ms"] + 3,
            )
        )
        computation_p99 = report.get("in_process", {}).get("recommend", {}).get("p99_ms", 0.0)
        bound = 2 * floor100["p99_ms"] + computation_p99
        out.append(
            check(
                "p99 at 100 req/s",
                f"<= 2x floor p99 + in-process p99 ({bound:.2f})",
                f"{at100['p99_ms']:.2f} ms",
                at100["p99_ms"] <= bound,
            )
        )
        out.append(check("errors at 100 req/s", "0", str(at100["errors"]), at100["errors"] == 0))
    at200 = served.get("rate_200")
    if at200 and "requests" in at200:
        sustained = at200["errors"] == 0 and at200["throughput_rps"] >= 0.98 * 200
        out.append(
            check("200 req/s sustained", "all answered, 0 errors", f"{at200['throughput_rps']} req/s, {at200['errors']} errors", sustained)
        )
    saturation, floor_saturation = served.get("saturation"), floor.get("saturation")
    computation_cpu = report.get("in_process", {}).get("recommend_paced_100_per_s", {}).get("cpu_p50_ms")
    if (
        saturation
        and floor_saturation
        and saturation.get("server_cpu_ms_per_request")
        and floor_saturation.get("server_cpu_ms_per_request")
    ):
        # The framework's share of a request's CPU: what the server spends beyond the computation
        # (the Recommender in process), against the empty-service floor's whole cost.
        served_cpu, floor_cpu = saturation["server_cpu_ms_per_request"], floor_saturation["server_cpu_ms_per_request"]
        framework = served_cpu - (computation_cpu or 0.0)
        out.append(
            check(
                "framework CPU per request",
                f"served - computation <= 1.25x the floor's ({1.25 * floor_cpu:.2f} ms)",
                f"{served_cpu:.2f} - {computation_cpu or 0.0:.2f} = {framework:.2f} ms (floor {floor_cpu:.2f}; saturation "
                f"{saturation['throughput_rps']} vs {floor_saturation['throughput_rps']} req/s, reported only)",
                computation_cpu is not None and framework <= 1.25 * floor_cpu,
            )
        )
    rss = max((phase.get("server_rss_mib", 0) for phase in served.values() if isinstance(phase, dict)), default=0)
    if rss:
        out.append(check("service RSS", "<= 1.5 GiB", f"{rss} MiB", rss <= 1536))
    inproc = report.get("in_process")
    if inproc:
        out.append(check("in-process p50", "<= 3 ms", f"{inproc['recommend']['p50_ms']:.2f} ms", inproc["recommend"]["p50_ms"] <= 3.0))
    for store, result in report.get("pushes", {}).items():
        without, with_pushes = result["recommend_without_pushes"], result["recommend_with_pushes"]
        if "p99_ms" in without and "p99_ms" in with_pushes:
            out.append(
                check(
                    f"p99 under 10 pushes/s ({store})",
                    "pushes do not stall reads (<= 2x p99 without)",
                    f"{with_pushes['p99_ms']:.2f} vs {without['p99_ms']:.2f} ms, {result['login_pushes']['errors']} push errors",
                    with_pushes["p99_ms"] <= 2 * without["p99_ms"] and with_pushes["errors"] == 0 and result["login_pushes"]["errors"] == 0,
                )
            )
    overload = report.get("overload", {})
    ours = overload.get("modes", {}).get("clickintent")
    if ours:
        during = ours["overload"]
        out.append(
            check(
                f"{OVERLOAD_FACTOR:g}x saturation",
                "no client timeouts; past capacity 503 at once",
                f"{during['share_answered']:.0%} answered, {during['shed_503']} x 503 (p99 {during['shed_p99_ms']} ms), {during['timeouts']} timeouts",
                during["timeouts"] == 0 and during["errors"] == during["shed_503"],
            )
        )
        out.append(
            check(
                "recovery after overload",
                f"p99 within {RECOVERY_FACTOR:g}x of before in <= 2 s",
                f"{ours['recovery_s']} s ({ours['computed_for_clients_gone']} requests computed for clients gone)",
                ours["recovery_s"] is not None and ours["recovery_s"] <= 2,
            )
        )
    cost = overload.get("request_cost", {}).get("largest allowed")
    if cost:
        out.append(
            check(
                "largest allowed request",
                f"<= {LARGEST_REQUEST_CPU_MS:g} ms server CPU",
                f"{cost['server_cpu_ms_per_request']} ms ({cost['body_kib']} KiB)",
                cost["server_cpu_ms_per_request"] <= LARGEST_REQUEST_CPU_MS,
            )
        )
    return out


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)  # the tables stay whole when printed to a file or a narrow pipe
    table = Table(
        title=f"/recommend: {N_EVENTS} live events + online features + {N_CANDIDATES} candidates (load avg {report['machine']['load_average_start']} -> {report['machine']['load_average_end']})"
    )
    for column in ("target", "phase", "offered", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "RSS MiB", "CPU ms/req"):
        table.add_column(column, justify="right" if column not in ("target", "phase") else "left")
    for name in ("floor", "service"):
        for phase, result in report[name].items():
            if not isinstance(result, dict) or "requests" not in result:
                continue
            table.add_row(
                name,
                phase,
                str(result.get("offered_rps", f"c={report['config']['concurrency']}")),
                str(result["throughput_rps"]),
                str(result.get("p50_ms", "-")),
                str(result.get("p95_ms", "-")),
                str(result.get("p99_ms", "-")),
                str(result["errors"]),
                str(result.get("server_rss_mib", "-")),
                str(result.get("server_cpu_ms_per_request", "-")),
            )
    for store, result in report.get("pushes", {}).items():
        for phase in ("recommend_without_pushes", "recommend_with_pushes", "login_pushes"):
            row = result[phase]
            table.add_row(
                f"service ({store})",
                phase,
                str(row["offered_rps"]),
                str(row["throughput_rps"]),
                str(row.get("p50_ms", "-")),
                str(row.get("p95_ms", "-")),
                str(row.get("p99_ms", "-")),
                str(row["errors"]),
                str(result["server_rss_mib"]),
                "-",
            )
    console.print(table)
    if report.get("in_process"):
        inproc = report["in_process"]
        console.print(
            f"in-process recommend: p50 {inproc['recommend']['p50_ms']} ms, p99 {inproc['recommend']['p99_ms']} ms; "
            f"paced at 100 calls/s: p50 {inproc['recommend_paced_100_per_s']['p50_ms']} ms, p99 {inproc['recommend_paced_100_per_s']['p99_ms']} ms; "
            f"with request parsing + response model: p50 {inproc['recommend_with_request_parsing_and_response_model']['p50_ms']} ms; "
            f"parts (p50 ms): {inproc['parts_p50_ms']}"
        )
    overload = report.get("overload")
    if overload and overload.get("modes"):
        config = overload["config"]
        table = Table(
            title=f"overload: {config['base_rate']} req/s, then {config['overload_rps']} req/s ({config['factor']:g}x saturation {config['saturation_rps']}) "
            f"for {config['seconds'][1]:g} s, then {config['base_rate']} req/s; clients give up after {config['client_deadline_s']:g} s"
        )
        for column in (
            "shedding",
            "p99 before",
            "answered",
            "503",
            "429",
            "timeouts",
            "p50 ms",
            "p99 ms",
            "shed p99 ms",
            "recovery s",
            "computed, client gone",
        ):
            table.add_column(column, justify="left" if column == "shedding" else "right")
        for mode, result in overload["modes"].items():
            during = result["overload"]
            table.add_row(
                mode,
                str(result["before"].get("p99_ms", "-")),
                f"{during['share_answered']:.0%}",
                str(during["shed_503"]),
                str(during["shed_429"]),
                str(during["timeouts"]),
                str(during.get("p50_ms", "-")),
                str(during.get("p99_ms", "-")),
                str(during["shed_p99_ms"] if during["shed_p99_ms"] is not None else "-"),
                str(result["recovery_s"] if result["recovery_s"] is not None else "not in time"),
                str(result["computed_for_clients_gone"]),
            )
        console.print(table)
        if overload.get("largest_requests"):
            largest = overload["largest_requests"]
            console.print(
                f"request cost (server CPU, one at a time): {overload['request_cost']}; at {config['base_rate']} req/s, p50/p99 "
                f"{largest['alone'].get('p50_ms')}/{largest['alone'].get('p99_ms')} ms alone, "
                f"{largest['beside_largest'].get('p50_ms')}/{largest['beside_largest'].get('p99_ms')} ms beside {BIG_BODY_CLIENTS} clients "
                f"sending the largest requests ({largest['largest']['throughput_rps']} req/s of them)"
            )
    checks = Table(title="targets (docs/design.md)")
    for column in ("check", "target", "measured", "met"):
        checks.add_column(column)
    for row in report["targets"]:
        checks.add_row(row["check"], row["target"], row["measured"], {True: "yes", False: "NO", None: "-"}[row["met"]])
    console.print(checks)


# =============================================================================================
# main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0, help="Seconds per fixed-rate phase (>= 30 for the record).")
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)))
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument(
        "--concurrency",
        type=int,
        help="Closed-loop clients at saturation (default: as many as the workers admit, serving_max_concurrency per worker, or 32 without a limit).",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="Service (and floor) worker processes (default 2: one per core of the 2-core target)."
    )
    parser.add_argument("--in-process-calls", type=int, default=2000)
    parser.add_argument("--push-seconds", type=float, default=30.0)
    parser.add_argument("--no-pushes", action="store_true")
    parser.add_argument("--only-pushes", action="store_true", help="Only the push phase (no in-process, floor or fixed-rate phases).")
    parser.add_argument(
        "--push-recommend-rate",
        type=float,
        default=PUSH_RECOMMEND_RATE,
        help="/recommend req/s beside the pushes (below the service's capacity isolates the pushes' effect).",
    )
    parser.add_argument("--redis", action="store_true", help="Also run the push phase on a Redis of its own (needs redis-server).")
    parser.add_argument("--no-overload", action="store_true")
    parser.add_argument("--only-overload", action="store_true", help="Only the overload phase (its own saturation measurement).")
    parser.add_argument("--overload-seconds", type=float, default=10.0)
    parser.add_argument(
        "--overload-modes",
        default="clickintent",
        help=f"Comma-separated shedding modes to compare under overload: {', '.join(SHEDDING_MODES)} (default: clickintent).",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(args.loadgen)
        return
    # A stopped benchmark must stop its servers (context managers run on SystemExit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from clickintent.serving.process import FLOOR, SERVICE, start_service
    from clickintent.settings import load_settings

    settings = load_settings(data_dir=args.data_dir, models_dir=args.models_dir)
    # More clients than the workers admit would measure how fast they are turned away.
    args.concurrency = args.concurrency or (settings.serving_max_concurrency * args.workers or 32)
    rates = [int(rate) for rate in args.rates.split(",") if rate]
    workdir = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    report: dict = {
        "benchmark": "serving",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_start": load_average(),
        },
        "config": {
            "data_dir": str(settings.data_dir),
            "models_dir": str(settings.models_dir),
            "events_per_request": N_EVENTS,
            "candidates_per_request": N_CANDIDATES,
            "k": K,
            "distinct_requests": N_BODIES,
            "seconds_per_rate": args.seconds,
            "saturation_seconds": args.saturation_seconds,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "online_store": settings.online_store,
            "load_generator": "aiohttp in its own process, loopback; open loop: latency from each request's scheduled start",
        },
        "floor": {},
        "service": {},
        "pushes": {},
    }
    try:
        bodies, _ = build_bodies(settings, N_BODIES, args.seed)
        bodies_path = write_bodies(bodies, workdir / "recommend.jsonl")
        if not args.only_pushes and not args.only_overload:
            print(f"{len(bodies)} distinct /recommend requests; in-process ...", flush=True)
            report["in_process"] = in_process(settings, bodies, args.in_process_calls)
            print(f"in-process p50 {report['in_process']['recommend']['p50_ms']} ms; starting the floor and the service ...", flush=True)
            with (
                start_service(
                    settings, target=FLOOR, workers=args.workers, log_path=workdir / "floor.log", extra_environment=BENCH_ENVIRONMENT
                ) as floor,
                start_service(
                    settings,
                    target=SERVICE,
                    workers=args.workers,
                    log_path=workdir / "service.log",
                    timeout=300,
                    extra_environment=BENCH_ENVIRONMENT,
                ) as service,
            ):
                targets_ = {"floor": floor, "service": service}
                for name, served in targets_.items():
                    report[name]["idle_rss_mib"] = round(served.rss_bytes() / 2**20)
                for rate in rates:
                    for name, served in targets_.items():
                        print(f"{name}: {rate} req/s for {args.seconds:.0f} s ...", flush=True)
                        outcome, rss = run_load(
                            workdir,
                            args.seconds,
                            {"main": {"url": f"{served.url}/recommend", "bodies": str(bodies_path), "mode": "open", "rate": rate}},
                            served,
                        )
                        result = with_cpu_per_request(
                            summarize(outcome["streams"]["main"], args.seconds, rate), outcome["server_cpu_seconds"], args.seconds
                        )
                        result["server_rss_mib"] = round(rss / 2**20)
                        report[name][f"rate_{rate}"] = result
                for name, served in targets_.items():
                    print(f"{name}: saturation, {args.concurrency} clients for {args.saturation_seconds:.0f} s ...", flush=True)
                    outcome, rss = run_load(
                        workdir,
                        args.saturation_seconds,
                        {
                            "main": {
                                "url": f"{served.url}/recommend",
                                "bodies": str(bodies_path),
                                "mode": "closed",
                                "concurrency": args.concurrency,
                            }
                        },
                        served,
                    )
                    result = with_cpu_per_request(
                        summarize(outcome["streams"]["main"], args.saturation_seconds),
                        outcome["server_cpu_seconds"],
                        args.saturation_seconds,
                    )
                    result["server_rss_mib"] = round(rss / 2**20)
                    report[name]["saturation"] = result
        if not args.no_pushes and not args.only_overload:
            print(
                f"pushes: /recommend at {args.push_recommend_rate:g} req/s with and without {PUSH_RATE} logins/s ({settings.online_store}) ...",
                flush=True,
            )
            report["pushes"][settings.online_store] = push_phase(
                settings, workdir, bodies_path, bodies, args.push_seconds, settings.online_store, args.workers, args.push_recommend_rate
            )
            if args.redis:
                redis_process, port = start_redis(workdir)
                try:
                    redis, load_seconds = redis_settings(settings, workdir, port)
                    print(f"pushes on Redis (loaded in {load_seconds:.0f} s) ...", flush=True)
                    report["pushes"]["redis"] = push_phase(
                        redis, workdir, bodies_path, bodies, args.push_seconds, "redis", args.workers, args.push_recommend_rate
                    )
                    report["pushes"]["redis"]["materialize_seconds"] = round(load_seconds, 1)
                finally:
                    redis_process.terminate()
                    redis_process.wait(timeout=10)
        if not args.no_overload and not args.only_pushes:
            saturation = report["service"].get("saturation", {}).get("throughput_rps")
            modes = [mode.strip() for mode in args.overload_modes.split(",") if mode.strip()]
            report["overload"] = {}
            overload_phase(settings, workdir, bodies_path, bodies, args.workers, saturation, modes, args, report["overload"])
    finally:
        report["machine"]["load_average_end"] = load_average()
        report["targets"] = targets(report)
        out = args.out or settings.reports_dir / "bench_serving.json"
        atomic_write_json(out, report, default=_json_default)
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Serving performance: /recommend served, beside the empty-service floor and the same computation in-process.

    python bench/serving.py [--data-dir DIR] [--models-dir DIR] [--seconds 30] [--rates 50,100,200]
                            [--saturation-seconds 20] [--workers 2] [--redis] [--out PATH]
                            [--only-pushes] [--push-recommend-rate 100]

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
   (with --redis) on a Redis of its own, loaded from the same registry.

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


# =============================================================================================
# the load generator (runs in its own process: `python bench/serving.py --loadgen SPEC.json`)


async def _post(session, url: str, body: bytes) -> int | str:
    """One request; its HTTP status, or the name of the client error that ended it."""
    import aiohttp

    try:
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
            await response.read()
            return response.status
    except (TimeoutError, aiohttp.ClientError) as error:
        return type(error).__name__


async def _open_loop(session, url: str, bodies: list[bytes], rate: float, seconds: float, results: list, t0: float) -> None:
    """Send rate * seconds requests at fixed times from t0; latency from each scheduled time."""
    total = int(rate * seconds)
    tasks = []

    async def one(index: int, scheduled: float) -> None:
        body = bodies[index % len(bodies)]
        sent = time.perf_counter()
        status = await _post(session, url, body)
        done = time.perf_counter()
        results.append((scheduled - t0, (done - scheduled) * 1000.0, (sent - scheduled) * 1000.0, status))

    for index in range(total):
        scheduled = t0 + index / rate
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
                jobs.append(_open_loop(session, stream["url"], bodies[name], stream["rate"], spec["seconds"], results[name], t0))
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
                [str(settings.marts_dir / "fct_customer_web_intent.parquet")],
            ).fetchall()
        ]
        products = [
            row[0]
            for row in connection.execute(
                "select product_id from read_parquet(?) order by product_id", [str(settings.marts_dir / "dim_products.parquet")]
            ).fetchall()
        ]
        sessions = connection.execute(
            "select event_ids from read_parquet(?) where platform = 'web' and n_events >= 10 order by session_id",
            [str(settings.marts_dir / "fct_session_sequences.parquet")],
        ).fetchall()
        rng.shuffle(sessions)
        pool_ids = [event_id for (ids,) in sessions[: n_bodies * 6] for event_id in ids]
        columns = "event_id, event_ts, platform, anonymous_id, event_type, page_path, page_title, search_query, dwell_ms, referrer, utm_source, device_type, product_id"
        events = connection.execute(
            f"select {columns} from read_parquet(?) where event_id in (select unnest(?)) order by event_ts, event_id",
            [str(settings.raw_dir / "events.parquet"), pool_ids],
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


def login_bodies(bodies: list[dict], n: int, run_id: str) -> list[dict]:
    """Web sessions of made-up customers that end in a login: each request is one push."""
    out = []
    for index in range(n):
        template = bodies[index % len(bodies)]
        customer = f"c_bench_{run_id}_{index}"
        events = [
            {**event, "customer_id": None, "anonymous_id": f"a_push_{run_id}_{index}", "event_id": f"push_{run_id}_{index}_{i}"}
            for i, event in enumerate(template["events"][:20])
        ]
        events = [{key: value for key, value in event.items() if value is not None} for event in events]
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
        out.append({"events": events, "k": K})
    return out


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
    pushes = write_bodies(login_bodies(bodies, int(PUSH_RATE * seconds) + 10, run_id), workdir / f"logins_{label}.jsonl")
    with start_service(settings, workers=workers, log_path=workdir / f"service_push_{label}.log", timeout=300) as served:
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
        out.append(
            check(
                "p99 at 100 req/s",
                f"<= 2x floor p99 ({2 * floor100['p99_ms']:.2f})",
                f"{at100['p99_ms']:.2f} ms",
                at100["p99_ms"] <= 2 * floor100["p99_ms"],
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
    if saturation and floor_saturation:
        share = saturation["throughput_rps"] / max(floor_saturation["throughput_rps"], 1e-9)
        cpu = ""
        if saturation.get("server_cpu_ms_per_request") and floor_saturation.get("server_cpu_ms_per_request"):
            cpu = f"; server CPU {saturation['server_cpu_ms_per_request']:.2f} vs {floor_saturation['server_cpu_ms_per_request']:.2f} ms per request"
        out.append(
            check(
                "saturation throughput",
                ">= 60 % of the floor's",
                f"{saturation['throughput_rps']} vs {floor_saturation['throughput_rps']} req/s ({share:.0%}){cpu}",
                share >= 0.6,
            )
        )
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
    parser.add_argument("--concurrency", type=int, default=32, help="Closed-loop clients at saturation.")
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
        if not args.only_pushes:
            print(f"{len(bodies)} distinct /recommend requests; in-process ...", flush=True)
            report["in_process"] = in_process(settings, bodies, args.in_process_calls)
            print(f"in-process p50 {report['in_process']['recommend']['p50_ms']} ms; starting the floor and the service ...", flush=True)
            with (
                start_service(settings, target=FLOOR, workers=args.workers, log_path=workdir / "floor.log") as floor,
                start_service(settings, target=SERVICE, workers=args.workers, log_path=workdir / "service.log", timeout=300) as service,
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
        if not args.no_pushes:
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

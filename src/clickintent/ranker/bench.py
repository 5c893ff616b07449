"""Per-request cost of the stored tile ranker and conversion model, for a bench/ script to print.

    measure_serving_cost(settings) -> dict   # p50/p99 milliseconds per request, single thread

Requests are real: `requests` customers with linked web history, each with `candidates`
products, their rows from Feast (the production feature service, point in time at the end of the
data) converted to the plain values the online store returns. Timed in-process, one XGBoost
thread, after a warm-up; the figures are the model's share of a /recommend request.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from clickintent.settings import Settings


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA:
        return None
    return value


def request_rows(settings: Settings, *, requests: int = 50, candidates: int = 30) -> list[list[dict[str, Any]]]:
    """`requests` lists of `candidates` serving rows of the production tile ranker's service."""
    from clickintent.features.store import feature_store
    from clickintent.ranker.tile_model import TileRanker

    ranker = TileRanker.load(settings.models_dir)
    store = feature_store(settings)
    impressions = pd.read_parquet(settings.marts_dir / "fct_tile_impressions.parquet", columns=["customer_id", "impression_ts"])
    web = pd.read_parquet(settings.marts_dir / "fct_customer_web_intent.parquet", columns=["customer_id"])
    customers = impressions[impressions["customer_id"].isin(web["customer_id"])]["customer_id"].drop_duplicates().head(requests)
    products = pd.read_parquet(settings.marts_dir / "dim_products.parquet", columns=["product_id"])["product_id"].head(candidates)
    at = pd.to_datetime(impressions["impression_ts"], utc=True).max()
    entity = pd.DataFrame(
        [{"customer_id": customer, "product_id": product, "event_timestamp": at} for customer in customers for product in products]
    )
    frame = store.get_historical_features(
        entity_df=entity, features=store.get_feature_service(ranker.feature_service), full_feature_names=False
    ).to_df()
    keys = [key for key in ranker.row_keys if key != "position" and key in frame.columns]
    out = []
    for _, group in frame.groupby("customer_id", sort=False):
        out.append([{key: _plain(value) for key, value in record.items()} for record in group[keys].to_dict(orient="records")])
    return out


def _percentiles(seconds: list[float]) -> dict[str, float]:
    milliseconds = np.asarray(seconds) * 1000.0
    return {"p50_ms": round(float(np.percentile(milliseconds, 50)), 4), "p99_ms": round(float(np.percentile(milliseconds, 99)), 4)}


def measure_serving_cost(settings: Settings, *, requests: int = 50, candidates: int = 30, repeats: int = 20) -> dict[str, Any]:
    from clickintent.ranker.conversion_family import load_conversion_model
    from clickintent.ranker.tile_model import TileRanker

    ranker = TileRanker.load(settings.models_dir, threads=1)
    conversion = load_conversion_model(settings.models_dir, threads=1)
    batches = request_rows(settings, requests=requests, candidates=candidates)
    for rows in batches[:5]:  # warm-up
        ranker.score(rows)
        ranker.reasons(rows[:3])
    timings: dict[str, list[float]] = {
        "tile_score": [],
        "tile_reasons_top3": [],
        "tile_reasons_top3_approximate": [],
        "conversion_proba": [],
        "conversion_reasons": [],
    }
    for _ in range(repeats):
        for rows in batches:
            started = time.perf_counter()
            scores = ranker.score(rows)
            timings["tile_score"].append(time.perf_counter() - started)
            top = [rows[index] for index in np.argsort(-scores)[:3]]
            started = time.perf_counter()
            ranker.reasons(top, top_k=3)
            timings["tile_reasons_top3"].append(time.perf_counter() - started)
            started = time.perf_counter()
            ranker.reasons(top, top_k=3, exact=False)
            timings["tile_reasons_top3_approximate"].append(time.perf_counter() - started)
            customer_row = [{key: rows[0].get(key) for key in conversion.row_keys}]
            started = time.perf_counter()
            conversion.predict_proba(customer_row)
            timings["conversion_proba"].append(time.perf_counter() - started)
            started = time.perf_counter()
            conversion.reasons(customer_row)
            timings["conversion_reasons"].append(time.perf_counter() - started)
    return {
        "requests": len(batches),
        "candidates_per_request": candidates,
        "repeats": repeats,
        "xgboost_threads": 1,
        "tile_ranker": {"version": ranker.version, "trees": int(ranker.booster.num_boosted_rounds()), "columns": len(ranker.layout.model_columns)},
        **{name: _percentiles(values) for name, values in timings.items()},
    }

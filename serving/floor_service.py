"""The empty-service floor: the clickintent service's HTTP path with no computation behind it.

Same BentoML version and configuration (workers, traffic, the request-limits and load-shedding
middleware, the rejected-request log filter), same request schema parsed and validated, same
response model serialized, but the answer is a constant.
What it costs is what any BentoML service with this schema costs on this machine; the
benchmark (bench/serving.py) drives both with the same load in the same run and reports the
service against it.

    bentoml serve serving.floor_service:Floor --port 3001
"""

from __future__ import annotations

import os

import bentoml

from clickintent.serving.http import RequestLimits, install_rejected_request_log, load_limits
from clickintent.settings import load_settings
from serving.schemas import MAX_BODY_BYTES, RecommendRequest, RecommendResponse

WORKERS = int(os.environ.get("CLICKINTENT_SERVING_WORKERS", "1"))

# A constant answer the size of a real one (five products with three reasons each).
CONSTANT_ANSWER = RecommendResponse.model_validate(
    {
        "products": [
            {
                "product_id": f"product_{rank}",
                "rank": rank,
                "score": 0.1 / rank,
                "family": "home",
                "reasons": [
                    {"feature": f"feature_{i}", "value": "yes", "contribution": 0.1, "text": "constant reason text of ordinary length"}
                    for i in range(3)
                ],
            }
            for rank in range(1, 6)
        ],
        "mode": "cold_start",
        "models_used": [],
        "customer_known": False,
        "session": {"n_events": 0, "n_events_encoded": 0, "unknown_pages": 0},
        "degraded": False,
        "model_versions": {"floor": "constant"},
    }
)


@bentoml.service(name="clickintent-floor", workers=WORKERS, traffic={"timeout": 30})
class Floor:
    @bentoml.api(route="/recommend")
    async def recommend(self, request: RecommendRequest, /) -> RecommendResponse:  # noqa: ARG002 - BentoML reads the parameter for the API schema
        return CONSTANT_ANSWER


Floor.add_asgi_middleware(RequestLimits, max_bytes=MAX_BODY_BYTES, **load_limits(load_settings()))
install_rejected_request_log()

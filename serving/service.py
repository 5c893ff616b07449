"""The clickintent BentoML service: a live session to intent, embedding and ranked products.

    bentoml serve serving.service:ClickIntent          # from the checkout (or `clickintent serve`)
    POST /recommend   customer and/or live session -> ranked products, reasons, intent, versions
    POST /intent      live session -> taxonomy labels with probabilities
    POST /embed       live session -> session embedding
    GET  /readyz      200 once models, online store and catalogue are loaded

One class in the manner of BentoML 1.4's quickstart: model artifacts declared at class level
(they resolve to the model directory's folders, or to the copies a built Bento bundles), typed
pydantic inputs and outputs (serving/schemas.py), thin API methods. The computation lives in
clickintent.serving.recommender, testable and benchmarkable without BentoML.

Threads: one per worker for OpenMP, BLAS, torch and XGBoost (clickintent.serving.threads,
imported first); concurrency comes from the event loop and from workers
(CLICKINTENT_SERVING_WORKERS, default 1). Requests are computed on the event loop (a few
milliseconds of CPU each; a thread hop would only add to it); a request whose session logs in
also writes to the online store, and that one runs in a thread so the loop keeps serving.

No adaptive batching: each request's work is mostly per-request (its own customer's online
read, its own candidates), and batching the encoder alone measured too little gain to pay for
the wait it adds (docs/measurements.md, "Serving").
"""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from pathlib import Path

if importlib.util.find_spec("clickintent") is None:  # inside a built Bento: the sources are bundled beside serving/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import anyio
import bentoml

import clickintent.serving.threads  # noqa: F401  (before numpy and torch load: one OpenMP/BLAS thread)
from clickintent.serving.auth import Authentication, caller_of, check_auth_settings
from clickintent.serving.bento_models import ModelFolder
from clickintent.serving.http import RequestLimits, field_error, install_rejected_request_log, load_limits
from clickintent.serving.intent_metrics import observe_live_intent
from clickintent.settings import load_settings
from serving.schemas import (
    MAX_BODY_BYTES,
    EmbedResponse,
    IntentResponse,
    RecommendRequest,
    RecommendResponse,
    SessionRequest,
)

WORKERS = int(os.environ.get("CLICKINTENT_SERVING_WORKERS", "1"))
# Resolved now, against the working directory BentoML imports the service in: the build context
# for `bentoml build` (which asks for the models later, from where it was started), the working
# directory for `bentoml serve`.
MODELS_DIR = load_settings().models_dir


@bentoml.service(
    name="clickintent",
    workers=WORKERS,
    traffic={"timeout": 30},
    labels={"project": "clickintent", "owner": "clickintent"},
)
class ClickIntent:
    """Session intent, session embedding and product ranking for web visitors and app customers."""

    # Model artifacts, declared at class level: each resolves to a Path on the instance.
    encoder_model = ModelFolder.of("encoder", MODELS_DIR)
    intent_classifier_model = ModelFolder.of("intent_classifier", MODELS_DIR)
    tile_ranker_model = ModelFolder.of("tile_ranker", MODELS_DIR)
    conversion_model = ModelFolder.of("conversion", MODELS_DIR)
    anonymous_ranker_model = ModelFolder.of("anonymous_ranker", MODELS_DIR)

    def __init__(self) -> None:
        from clickintent.serving.recommender import Recommender

        settings = load_settings()
        check_auth_settings(settings)
        # Raises ArtifactError (which model, what to run) on a missing or unfit artifact: the
        # worker does not start, so the service never reports ready.
        self.recommender = Recommender.load(
            settings,
            {
                "encoder": self.encoder_model,
                "intent_classifier": self.intent_classifier_model,
                "tile_ranker": self.tile_ranker_model,
                "conversion": self.conversion_model,
                "anonymous_ranker": self.anonymous_ranker_model,
            },
        )
        # Everything loaded so far (models, Feast registry, catalogue) lives as long as the
        # worker: moved out of the collector's generations, it is not walked again by every
        # full collection, a pause that otherwise lands on whichever request triggers it.
        gc.collect()
        gc.freeze()

    @bentoml.api(route="/recommend")
    async def recommend(self, request: RecommendRequest, /, ctx: bentoml.Context) -> RecommendResponse:
        """Rank products for a customer, a live session, or both; cold start for neither."""
        from clickintent.serving.recommender import UnknownProducts

        events = _events(request)
        caller = caller_of(ctx.request.state)
        call = lambda: self.recommender.recommend(  # noqa: E731
            customer_id=request.customer_id,
            session_id=request.session_id,
            events=events,
            candidates=request.candidates,
            k=request.k,
            may_push=caller is not None and caller.may("push"),
            login_assertion=request.login_assertion,
        )
        try:
            if any(event["event_type"] == "login" for event in events):
                # A login writes to the online store: off the event loop.
                result = await anyio.to_thread.run_sync(call)
            else:
                result = call()
        except UnknownProducts as error:
            known = set(self.recommender.products)
            raise field_error(
                "RecommendRequest",
                [(("candidates", i), f"unknown product {p!r}", p) for i, p in enumerate(request.candidates or []) if p not in known],
            ) from error
        if events:  # without events the intent is a stored session's, labelled in batch
            observe_live_intent(result.get("intent"))
        return RecommendResponse.model_validate(result)

    @bentoml.api(route="/intent")
    async def intent(self, request: SessionRequest, /) -> IntentResponse:
        """The live session's intent: taxonomy node, its level-1 node, every top node's probability."""
        result = self.recommender.intent(_events(request))
        observe_live_intent(result.get("intent"))
        return IntentResponse.model_validate(result)

    @bentoml.api(route="/embed")
    async def embed(self, request: SessionRequest, /) -> EmbedResponse:
        """The live session's embedding from the self-supervised session encoder."""
        return EmbedResponse.model_validate(self.recommender.embed(_events(request)))


def _events(request: RecommendRequest | SessionRequest) -> list[dict]:
    """The request's live events as plain dicts (one dump of the request: 40 us against 65 us
    for one dump per event, 50 events)."""
    return request.model_dump(include={"events"})["events"]


_middleware_settings = load_settings()
# Starlette runs the first added outermost: callers are checked before a body is read.
ClickIntent.add_asgi_middleware(Authentication, settings=_middleware_settings)
# Load shedding too (503 past capacity, no work for a client gone): clickintent.serving.http.
ClickIntent.add_asgi_middleware(RequestLimits, max_bytes=MAX_BODY_BYTES, **load_limits(_middleware_settings))
# A rejected request is logged by field path and rule, never by the value it carried.
install_rejected_request_log()

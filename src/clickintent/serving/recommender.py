"""The service's computation, importable and testable apart from BentoML.

    recommender = Recommender.load(settings)          # once per worker: models, store, catalogue
    recommender.recommend(customer_id=..., session_id=..., events=[...], candidates=None, k=5)
    recommender.intent(events); recommender.embed(events)

Each call returns a plain dict in the shape of the service's response models (serving/schemas.py).

/recommend, step by step:
1. The live events (if any) go through the encoder and the distilled classifier (session.py).
2. The customer (the request's, or the one a login event in the session names) is read from
   the online store: profile, linked-web embedding and intent labels, 30-day web aggregates.
3. A web session that logs in is pushed (login.py): the session's intent and embedding update
   the customer's linked-web rows, so this answer and the customer's next one use them. Pushed
   once per session: a client re-sends the growing session on each page, and a session the
   stored rows already include (their time is its end or later) is not added again.
4. One ranker row per candidate (clickintent.ranker.tile_model's contract): the customer's
   features and the product's (from memory). The live session joins the customer-level web
   features (embedding and intent recency-merged, 30-day aggregates added) when it is the
   visitor's own (no customer) or the customer's signed-in one (its events carry the customer's
   id); a pre-login session sent beside a customer_id is not linked (login is the only link)
   and only its intent is returned. Without a known customer the session stands in for the
   linked web sessions (session_only); with neither, every customer feature is missing and the
   ranker gives its answer for a visitor it knows nothing about (cold_start), one fixed order.
5. Scores, the top k, and reason codes for those k only (TreeSHAP is the costly part).

If the online store fails, the answer is computed from what is left (the live session, the
in-memory catalogue), flagged `degraded` with the reason, and logged; never a 500.

Identity-free mode (settings.identity_linking = "off"): a live web session is answered as an
anonymous one whatever customer it names (a login event, the customer id its events carry after
it, or the request's customer_id): the customer is not read, nothing is pushed, the answer's
customer_id is null and, when a customer was named, `login_push` has status "disabled" and says
why (login.disabled_push). A request with app events, or with no events (the app's home screen),
still reads the customer the app signed in: that is the app's own sign-in, not a web link. Its
linked-web features (customer_web_intent, customer_web_intent_labels, customer_web_embedding)
are dropped from the row read: an identity-free build leaves them empty, and an online store
materialized by an earlier build with links could still hold them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clickintent.artifacts import ModelCardError
from clickintent.ranker.encoding import CandidateBlock
from clickintent.ranker.reasons import Reason
from clickintent.serving.artifacts import ArtifactError, ModelCard, check_compatibility, read_model_cards
from clickintent.serving.live_features import PageTaxonomy, merge_aggregates, session_aggregates
from clickintent.serving.login import disabled_push, login_rows
from clickintent.serving.online import (
    EMBEDDING_PUSH_SOURCE,
    INTENT_LABELS_PUSH_SOURCE,
    CustomerRow,
    OnlineFeatures,
    OnlineStoreUnavailable,
)
from clickintent.serving.session import LiveSession, SessionModels, intent_labels
from clickintent.settings import Settings

if TYPE_CHECKING:  # pragma: no cover - loaded by load_tile_ranker (XGBoost) only when the service starts
    from clickintent.ranker.tile_model import TileRanker

log = logging.getLogger("clickintent.serving")

MODEL_NAMES = ("encoder", "intent_classifier", "tile_ranker")
PUSHED_SESSIONS_REMEMBERED = 100_000
# The customer-level vectors a login push updates; their stored times say which sessions they include.
PUSHED_VECTOR_FEATURES = ("web_embedding", "web_distilled_top_node_probs")
# The customer-keyed views built only from web sessions linked to the customer: the identity-free
# mode never uses them (see the module docstring).
LINKED_WEB_VIEWS = ("customer_web_intent", "customer_web_intent_labels", "customer_web_embedding")
# Feast returns stored event times in whole seconds.
STORED_TIME_SLACK = timedelta(seconds=1)
REASONS_PER_PRODUCT = 3


class UnknownProducts(ValueError):
    """Candidates that are not in the catalogue (a client error: 400 naming them)."""


def default_model_dirs(models_dir: Path) -> dict[str, Path]:
    return {name: Path(models_dir) / name for name in MODEL_NAMES}


@dataclass
class _PushMemory:
    """(customer, session) pairs this worker has pushed, oldest forgotten first."""

    capacity: int = PUSHED_SESSIONS_REMEMBERED
    _pushed: OrderedDict[tuple[str, str], dict[str, Any]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            return self._pushed.get(key)

    def put(self, key: tuple[str, str], values: dict[str, Any]) -> None:
        with self._lock:
            self._pushed[key] = values
            self._pushed.move_to_end(key)
            while len(self._pushed) > self.capacity:
                self._pushed.popitem(last=False)


class Recommender:
    """Models, the online store and the catalogue of one worker."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_models: SessionModels,
        ranker: TileRanker,
        online: OnlineFeatures,
        cards: Mapping[str, ModelCard],
        products: dict[str, dict[str, Any]],
        products_source: str,
        push_on_login: bool = True,
    ):
        self.settings = settings
        self.session_models = session_models
        self.classifier = session_models.classifier
        self.ranker = ranker
        self.online = online
        self.cards = dict(cards)
        self.products = products
        self.products_source = products_source
        self.catalogue = sorted(products)
        # The catalogue's own ranker columns, encoded once (see _rank).
        self._candidate_block = CandidateBlock(ranker.encoder, {product_id: self._candidate(product_id) for product_id in self.catalogue})
        self.push_on_login = push_on_login
        self._pushed = _PushMemory()
        # "off": no web session is linked to a customer (module docstring, "Identity-free mode")
        self.identity_free = settings.identity_linking == "off"
        self._linked_web_features = frozenset(
            ref.split(":", 1)[1] for ref in getattr(online, "customer_refs", ()) if ref.split(":", 1)[0] in LINKED_WEB_VIEWS
        )
        self.page_taxonomy = PageTaxonomy.load(
            settings.taxonomy_dir, settings.marts_dir, ranker_element_labels(ranker).get("taxonomy_node_shares_30d")
        )
        self.model_versions = {
            "encoder": cards["encoder"].version,
            "intent_classifier": cards["intent_classifier"].version,
            "tile_ranker": ranker.version,
            "taxonomy": self.classifier.taxonomy_version,
            "feature_service": str(ranker.feature_service),
        }

    # ---- start-up ----------------------------------------------------------------------

    @classmethod
    def load(cls, settings: Settings, model_dirs: Mapping[str, Path] | None = None, push_on_login: bool = True) -> Recommender:
        """Everything a worker needs, checked; ArtifactError (what is wrong, what to run) otherwise."""
        from clickintent.encoder.embed import load_session_embedder
        from clickintent.serving.threads import pin_libraries
        from clickintent.taxonomy.classifier import IntentClassifier

        pin_libraries()
        started = time.perf_counter()
        model_dirs = dict(model_dirs or default_model_dirs(settings.models_dir))
        cards = read_model_cards(model_dirs)
        misnamed = [f"{name}: {path}" for name, path in model_dirs.items() if Path(path).name != name]
        if misnamed:
            raise ArtifactError("cannot start the service: each model folder must be named after its model (" + "; ".join(misnamed) + ")")
        try:
            # Latency-bound: a search query missing from the stored query-vector cache contributes
            # nothing rather than loading MiniLM (seconds) inside a request.
            embedder = load_session_embedder(settings, model_dir=Path(model_dirs["encoder"]), threads=1, embed_unseen_queries=False)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise ArtifactError(f"cannot start the service: the encoder in {model_dirs['encoder']} does not load: {error}") from error
        try:
            classifier = IntentClassifier.load(model_dirs["intent_classifier"])
        except (OSError, ValueError, KeyError) as error:
            raise ArtifactError(
                f"cannot start the service: the intent classifier in {model_dirs['intent_classifier']} does not load: {error}"
            ) from error
        ranker = load_tile_ranker(Path(model_dirs["tile_ranker"]))
        try:
            online = OnlineFeatures(settings, ranker.feature_service)
        except FileNotFoundError as error:
            raise ArtifactError(f"cannot start the service: {error}") from error
        except Exception as error:  # Feast raises its own errors for a missing service
            raise ArtifactError(
                f"cannot start the service: the tile ranker's feature service '{ranker.feature_service}' cannot be read from the "
                f"Feast registry of {settings.data_dir} ({type(error).__name__}: {error}); run `clickintent features apply`"
            ) from error
        session_models = SessionModels(embedder, classifier)
        check_compatibility(
            embedding_dim=session_models.embedding_dim,
            classifier_top_nodes=classifier.top_node_ids,
            taxonomy_version=classifier.taxonomy_version,
            ranker_vector_lengths=ranker_vector_lengths(ranker),
            ranker_element_labels=ranker_element_labels(ranker),
            ranker_card=cards["tile_ranker"],
            registered_feature_services=online.registered_feature_services,
            ranker_feature_service=ranker.feature_service,
            encoder_version=embedder.card.get("version"),
        )
        products, source = online.load_products()
        if not products:
            raise ArtifactError(f"cannot start the service: no products in the catalogue ({source})")
        recommender = cls(
            settings=settings,
            session_models=session_models,
            ranker=ranker,
            online=online,
            cards=cards,
            products=products,
            products_source=source,
            push_on_login=push_on_login,
        )
        recommender.warm_up()
        log.info(
            "clickintent recommender ready in %.1fs: %s; %d products from %s; online store %s",
            time.perf_counter() - started,
            ", ".join(f"{name} {version}" for name, version in recommender.model_versions.items()),
            len(products),
            source,
            settings.online_store,
        )
        return recommender

    def warm_up(self) -> None:
        """One pass through every model so the first request pays no lazy initialisation."""
        from datetime import datetime

        events = [
            {
                "event_id": "warm_up",
                "event_ts": datetime(2026, 1, 1, tzinfo=UTC),
                "platform": "web",
                "anonymous_id": "warm_up",
                "event_type": "page_view",
                "page_path": "/",
                "device_type": "other",
            }
        ]
        session = self.session_models.read(events, "warm_up")
        rows = [self._row(self._session_values(session), product_id) for product_id in self.catalogue[:3]]
        scores = np.asarray(self.ranker.score(rows))
        self._rank(rows, 1)  # also builds the ranker's TreeSHAP tables
        if scores.shape != (len(rows),):
            raise ArtifactError(f"cannot start the service: the tile ranker returned {scores.shape} scores for {len(rows)} rows")

    def close(self) -> None:
        self.online.close()

    # ---- /intent and /embed -------------------------------------------------------------

    def intent(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        session = self.session_models.read(events, embed=False)
        return {
            "intent": intent_labels(session.intent, self.classifier.names),
            "session": _summary(session),
            "model_version": self.model_versions["intent_classifier"],
        }

    def embed(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        session = self.session_models.read(events, label=False)
        return {
            "embedding": session.embedding.astype(float).tolist(),
            "dim": int(session.embedding.shape[0]),
            "session": _summary(session),
            "model_version": self.model_versions["encoder"],
        }

    # ---- /recommend ---------------------------------------------------------------------

    def recommend(
        self,
        *,
        customer_id: str | None = None,
        session_id: str | None = None,
        events: Sequence[Mapping[str, Any]] = (),
        candidates: Sequence[str] | None = None,
        k: int = 5,
    ) -> dict[str, Any]:
        candidates = list(candidates) if candidates else self.catalogue
        unknown = [product_id for product_id in candidates if product_id not in self.products]
        if unknown:
            raise UnknownProducts(
                f"candidates not in the catalogue: {', '.join(repr(p) for p in unknown[:10])}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            )
        degraded: list[str] = []
        session = self.session_models.read(events, session_id)
        customer_id = customer_id or session.login_customer_id or session.event_customer_id
        intent_block = intent_labels(session.intent, self.classifier.names) if session.intent is not None else None

        login_push = None
        if self.identity_free and events and session.platform == "web":
            # Identity-free mode: the web session is the visitor's own, whoever it names.
            if customer_id:
                login_push = disabled_push(session.session_id)
            customer_id = None

        customer: CustomerRow | None = None
        if customer_id:
            try:
                customer = self.online.customer(customer_id)
            except OnlineStoreUnavailable as error:
                self._degrade(degraded, f"online store unavailable, customer features not read ({error})")
            if customer is not None and self.identity_free:
                customer = self._without_linked_web_features(customer)
        values: dict[str, Any] = dict(customer.values) if customer is not None else {}

        if events and (customer_id is None or session.event_customer_id == customer_id):
            # The live session is the visitor's own (anonymous) or the customer's signed-in one:
            # it joins the customer-level web features for this answer (tile_model's contract).
            logs_in = bool(customer_id) and session.login_customer_id == customer_id
            # A session already in the stored vectors (pushed before, or linked by the batch
            # pipeline) is not added to them twice: only its aggregates are added (they have no push).
            included = logs_in and self._session_included(customer_id, customer, session)
            values.update(self._with_live_session(values, customer.timestamps if customer else {}, session, events, vectors=not included))
            if logs_in and self.push_on_login:
                login_push = self._push_login(customer_id, session, customer, values, degraded, included)
        elif not events and session_id:
            stored = self._stored_session(session_id, degraded)
            if stored is not None:
                stored_values, intent_block = stored
                if not values:
                    values.update(stored_values)

        if customer is not None and customer.known:
            mode = "personalized"
        elif any(value is not None for value in values.values()):
            mode = "session_only"
        else:
            mode, values = "cold_start", {}

        rows = [self._row(values, product_id) for product_id in candidates]
        scores, order, reasons = self._rank(rows, k, shared=values, candidate_ids=candidates)
        products = [
            {
                "product_id": candidates[index],
                "rank": rank,
                "score": float(scores[index]),
                "family": self.products[candidates[index]].get("product_family"),
                "reasons": [_reason(reason) for reason in row_reasons],
            }
            for rank, (index, row_reasons) in enumerate(zip(order, reasons), start=1)
        ]
        return {
            "products": products,
            "mode": mode,
            "customer_id": customer_id,
            "customer_known": bool(customer is not None and customer.known),
            "session_id": (session.session_id or None) if events else session_id,
            "intent": intent_block,
            "session": _summary(session),
            "login_push": login_push,
            "degraded": bool(degraded),
            "degraded_reasons": degraded,
            "model_versions": self.model_versions,
        }

    # ---- parts ----------------------------------------------------------------------------

    def _rank(
        self, rows: list[dict[str, Any]], k: int, *, shared: Mapping[str, Any] | None = None, candidate_ids: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[list[Reason]]]:
        """Scores of every row, the best k (ties keep the candidates' order) and their reasons.

        The rows are encoded once: the top k's reasons read the same matrix the scores came from.
        Given the rows' shared values and candidate ids, only the shared part is encoded per
        request; the candidates' columns come from the catalogue block encoded at start-up.
        """
        if not rows:
            return np.zeros(0), np.zeros(0, dtype=np.intp), []
        over = (self._candidate_block, shared, candidate_ids) if candidate_ids is not None else None
        matrix = self.ranker.matrix(rows, over=over)
        scores = self.ranker.score_matrix(matrix).astype(np.float64)
        order = np.argsort(-scores, kind="stable")[: min(k, len(rows))]
        reasons = self.ranker.explain_matrix([rows[index] for index in order], matrix[order], REASONS_PER_PRODUCT)
        return scores, order, reasons

    def _row(self, customer_values: Mapping[str, Any], product_id: str) -> dict[str, Any]:
        return {**customer_values, **self._candidate(product_id)}

    def _candidate(self, product_id: str) -> dict[str, Any]:
        """A candidate's own part of its ranker row (what it lays over the customer's values)."""
        return {**self.products[product_id], "product_id": product_id}

    def _session_values(self, session: LiveSession) -> dict[str, Any]:
        """The live session alone as the customer-level web features (warm-up; no stored values)."""
        if session.embedding is None or session.intent is None:
            return {}
        return self._with_live_session({}, {}, session, [])

    def _with_live_session(
        self,
        stored: Mapping[str, Any],
        stored_at: Mapping[str, Any],
        session: LiveSession,
        events: Sequence[Mapping[str, Any]],
        vectors: bool = True,
    ) -> dict[str, Any]:
        """Web embedding, distilled labels and (for a web session) the 30-day aggregates, with the
        live session added to what is stored, as the producing stages would at its end."""
        merged: dict[str, Any] = {}
        if vectors and session.embedding is not None and session.intent is not None:
            rows = login_rows(
                customer_id="",
                session_id=session.session_id,
                session_end=session.end_ts,
                session_embedding=session.embedding,
                session_top_node_id=session.intent.top_node_id,
                session_top_node_probs=session.intent.top_node_probs,
                stored=stored,
                stored_at=stored_at,
            )
            merged["web_embedding"] = rows.embedding["web_embedding"]
            merged["web_distilled_top_node_id"] = rows.intent_labels["web_distilled_top_node_id"]
            merged["web_distilled_top_node_probs"] = rows.intent_labels["web_distilled_top_node_probs"]
            merged["n_linked_web_sessions"] = rows.n_linked_web_sessions
        if events and session.platform == "web":
            aggregates = session_aggregates(events, self.page_taxonomy)
            stored_as_of = stored_at.get("n_linked_sessions_30d") if stored_at else None
            merged.update(merge_aggregates(stored, stored_as_of, aggregates, self.page_taxonomy))
        return merged

    def _stored_session(self, session_id: str, degraded: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """A finished session's stored embedding and intent (session_embedding / session_intent views)."""
        try:
            stored = self.online.session(session_id)
        except OnlineStoreUnavailable as error:
            self._degrade(degraded, f"online store unavailable, stored session not read ({error})")
            return None
        if stored is None:
            return None
        values: dict[str, Any] = {}
        if stored.get("embedding") is not None:
            values["web_embedding"] = list(stored["embedding"])
        probs = stored.get("distilled_intent_top_node_probs")
        top_ids = self.classifier.top_node_ids
        if probs is not None and len(probs) == len(top_ids):
            values["web_distilled_top_node_id"] = stored.get("distilled_intent_top_node_id")
            values["web_distilled_top_node_probs"] = list(probs)
        intent_block = None
        if stored.get("distilled_intent_node_id") is not None and "web_distilled_top_node_probs" in values:
            names = self.classifier.names
            node, top = stored["distilled_intent_node_id"], stored.get("distilled_intent_top_node_id")
            intent_block = {
                "node_id": node,
                "node_name": names.get(node, node),
                "top_node_id": top,
                "top_node_name": names.get(top, top),
                "confidence": float(stored.get("distilled_intent_confidence") or 0.0),
                "top_nodes": [
                    {"node_id": top_ids[i], "node_name": names.get(top_ids[i], top_ids[i]), "probability": float(probs[i])}
                    for i in np.argsort(-np.asarray(probs), kind="stable")
                ],
                "taxonomy_version": stored.get("taxonomy_version") or self.classifier.taxonomy_version,
            }
        return (values, intent_block) if values else None

    def _session_included(self, customer_id: str, customer: CustomerRow | None, session: LiveSession) -> bool:
        """The customer's stored linked-web vectors already include this session.

        Either this worker pushed it (the client re-sends the growing session on every page), or
        the stored rows are as of the session's end or later: a push writes the session's end as
        its row time, and a batch row is as of the latest session it links. So the same session
        is never added twice, whichever worker saw it first, across restarts, and a session the
        batch pipeline already linked is not added again. (A session that ends before a later
        one was pushed, e.g. on a second device, is not pushed: the rows keep the later one.)
        """
        if self._pushed.get((customer_id, session.session_id)) is not None:
            return True
        if customer is None or session.end_ts is None:
            return False
        stamps = [customer.timestamps.get(name) for name in PUSHED_VECTOR_FEATURES]
        stamps = [stamp for stamp in stamps if stamp is not None]
        return bool(stamps) and min(stamps) >= session.end_ts - STORED_TIME_SLACK

    def _without_linked_web_features(self, customer: CustomerRow) -> CustomerRow:
        """The customer's row without the features of linked web sessions (identity-free mode)."""
        dropped = self._linked_web_features & set(customer.values)
        if not dropped:
            return customer
        values = {name: (None if name in dropped else value) for name, value in customer.values.items()}
        timestamps = {name: (None if name in dropped else stamp) for name, stamp in customer.timestamps.items()}
        known = any(values.get(name) is not None for name in getattr(self.online, "batch_customer_features", ()))
        return CustomerRow(customer_id=customer.customer_id, known=known, values=values, timestamps=timestamps)

    def _push_login(
        self,
        customer_id: str,
        session: LiveSession,
        customer: CustomerRow | None,
        merged: Mapping[str, Any],
        degraded: list[str],
        included: bool,
    ) -> dict[str, Any]:
        """Push the session's merged embedding and labels for the customer, once per session."""
        if self.identity_free:  # recommend() never gets here then; a push would be a web -> customer link
            return disabled_push(session.session_id)
        key = (customer_id, session.session_id)
        block = {"customer_id": customer_id, "session_id": session.session_id, "feature_views": []}
        if included:
            remembered = self._pushed.get(key)
            return {**block, "status": "already_pushed", "feature_views": list(remembered["views"]) if remembered else []}
        if customer is None:
            # The stored values could not be read: a push would replace the history with this session alone.
            self._degrade(degraded, "login not pushed: the customer's stored web features could not be read")
            return {**block, "status": "failed"}
        as_of = session.end_ts
        stored = customer.values
        labels_row = {
            "customer_id": customer_id,
            "as_of_ts": as_of,
            "latest_web_session_id": session.session_id,
            "n_linked_web_sessions": merged["n_linked_web_sessions"],
            "web_distilled_top_node_id": merged["web_distilled_top_node_id"],
            "web_distilled_top_node_probs": merged["web_distilled_top_node_probs"],
            # No teacher online: the stored teacher labels describe the sessions the teacher saw.
            "web_teacher_top_node_id": stored.get("web_teacher_top_node_id"),
            "web_teacher_top_node_dist": stored.get("web_teacher_top_node_dist"),
        }
        embedding_row = {
            "customer_id": customer_id,
            "as_of_ts": as_of,
            "web_embedding": merged["web_embedding"],
            "n_linked_web_sessions": merged["n_linked_web_sessions"],
            "latest_web_session_id": session.session_id,
        }
        views: list[str] = []
        try:
            self.online.push(INTENT_LABELS_PUSH_SOURCE, labels_row)
            views.append("customer_web_intent_labels")
            self.online.push(EMBEDDING_PUSH_SOURCE, embedding_row)
            views.append("customer_web_embedding")
        except OnlineStoreUnavailable as error:
            self._degrade(degraded, f"login push failed ({error})")
            return {**block, "status": "failed", "feature_views": views}
        self._pushed.put(key, {"views": views})
        log.info(
            "login push: customer %s, session %s, %d linked web sessions", customer_id, session.session_id, merged["n_linked_web_sessions"]
        )
        return {**block, "status": "pushed", "feature_views": views}

    @staticmethod
    def _degrade(degraded: list[str], reason: str) -> None:
        degraded.append(reason)
        log.warning("degraded answer: %s", reason)


def _summary(session: LiveSession) -> dict[str, int]:
    return {"n_events": session.n_events, "n_events_encoded": session.n_encoded, "unknown_pages": session.unknown_pages}


def _reason(reason: Reason) -> dict[str, Any]:
    return {"feature": reason.feature, "value": str(reason.value), "contribution": float(reason.contribution), "text": reason.text}


# ---- the ranker ------------------------------------------------------------------------------


def load_tile_ranker(directory: Path) -> TileRanker:
    """The tile ranker in `directory` (named tile_ranker/), one XGBoost thread; ArtifactError if it does not load."""
    from clickintent.ranker.tile_model import TILE_RANKER_DIR, TileRanker

    if directory.name != TILE_RANKER_DIR:
        raise ArtifactError(f"cannot start the service: the tile ranker folder must be named {TILE_RANKER_DIR}/, not {directory}")
    try:
        return TileRanker.load(directory.parent, threads=1)
    except ModelCardError as error:
        raise ArtifactError(f"cannot start the service: the tile ranker in {directory} does not load: {error}") from error
    except (OSError, ValueError, KeyError) as error:
        raise ArtifactError(
            f"cannot start the service: the tile ranker in {directory} does not load: {type(error).__name__}: {error}"
        ) from error


def ranker_vector_lengths(ranker: TileRanker) -> dict[str, int]:
    """Trained length of each vector feature the ranker reads."""
    return {vector.name: int(vector.length) for vector in ranker.layout.vectors}


def ranker_element_labels(ranker: TileRanker) -> dict[str, list[str]]:
    """Element names of the ranker's vector features, where the producing stage's order was known
    (numbered elements mean it was not)."""
    return {
        vector.name: list(vector.element_labels)
        for vector in ranker.layout.vectors
        if not all(label.isdigit() for label in vector.element_labels)
    }

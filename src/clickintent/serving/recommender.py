"""The service's computation, importable and testable apart from BentoML.

    recommender = Recommender.load(settings)          # once per worker: models, store, catalogue
    recommender.recommend(customer_id=..., session_id=..., events=[...], candidates=None, k=5)
    recommender.intent(events); recommender.embed(events)

Each call returns a plain dict in the shape of the service's response models (serving/schemas.py).

/recommend, step by step:
1. Event times are clamped to the service's clock plus the allowed skew, and paths, referrers
   and queries redacted as the marts hold them; the live events (if any) go through the encoder
   and the distilled classifier (session.py).
2. The customer (the request's, or the one a login event in the session names) is read from
   the online store: profile, in-app embedding and intent labels (the customer's own app
   sessions), linked-web embedding and intent labels, 30-day web aggregates, as the production
   models' feature services name them.
3. A web session that logs in is pushed (login.py) when the login is proven (the caller's push
   scope, a verified login assertion, a customer the batch data knows; auth.py): the session's
   intent and embedding update the customer's linked-web rows, so this answer and the
   customer's next one use them. Pushed once per session: a client re-sends the growing
   session on each page, and a session the stored rows already include is not added again.
4. The mode decides the model (MODE_MODELS; docs/design.md, "One model per mode"). A known
   customer (`customer`, or `login` when the live web session logs in): one tile-ranker row per
   candidate (clickintent.ranker.tile_model's contract), the live session joining the
   customer-level features of its platform when it is the customer's signed-in one (its events
   carry the customer's id; a pre-login session sent beside a customer_id is not linked and only
   its intent is returned): a web session the linked-web features, an app session the in-app
   ones (customer_app_embedding, not the linked-web slot). Then the conversion model's
   probability of the candidate's family: the score is their product. No known customer but a
   session (`anonymous`; `returning_visitor` when the cookie has a stored journey): the
   anonymous ranker on the session's own features and the journey brought up to it. Nothing
   (`cold_start`): the anonymous ranker's prior.
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
materialized by an earlier build with links could still hold them. The signed-in app session
joins the in-app features as in the default mode: what reaches the app from the web then comes
only through the shared intent space (the models learned across platforms).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from clickintent.artifacts import ModelCardError
from clickintent.features.visitors import visitor_id
from clickintent.privacy.redaction import redact_event
from clickintent.ranker.encoding import CandidateBlock
from clickintent.ranker.reasons import Reason
from clickintent.serving.artifacts import ArtifactError, ModelCard, check_committed_outputs, check_compatibility, read_model_cards
from clickintent.serving.auth import LoginAssertions
from clickintent.serving.live_features import PageTaxonomy, journey_row, merge_aggregates, session_aggregates, session_row
from clickintent.serving.login import (
    APP_VECTORS,
    JOURNEY_VECTORS,
    WEB_VECTORS,
    SessionVectors,
    disabled_push,
    login_rows,
    vectors_with_session,
)
from clickintent.serving.online import (
    EMBEDDING_PUSH_SOURCE,
    INTENT_LABELS_PUSH_SOURCE,
    VISITOR_VIEWS,
    CustomerRow,
    OnlineFeatures,
    OnlineStoreUnavailable,
    VisitorRow,
)
from clickintent.serving.session import LiveSession, SessionModels, intent_labels
from clickintent.settings import Settings

if TYPE_CHECKING:  # pragma: no cover - loaded by Recommender.load (XGBoost) only when the service starts
    from clickintent.ranker.anonymous_model import AnonymousRanker
    from clickintent.ranker.conversion_family import FamilyConversionModel
    from clickintent.ranker.served import LayoutModel
    from clickintent.ranker.tile_model import TileRanker

    M = TypeVar("M", bound=LayoutModel)

log = logging.getLogger("clickintent.serving")

MODEL_NAMES = ("encoder", "intent_classifier", "tile_ranker", "conversion", "anonymous_ranker")
# What each mode of /recommend answers with (docs/design.md, "Serving").
MODE_MODELS: dict[str, tuple[str, ...]] = {
    "customer": ("tile_ranker", "conversion"),
    "login": ("tile_ranker", "conversion"),
    "returning_visitor": ("anonymous_ranker",),
    "anonymous": ("anonymous_ranker",),
    "cold_start": ("anonymous_ranker",),
}
PUSHED_SESSIONS_REMEMBERED = 100_000
# The customer-level vectors a login push updates; their stored times say which sessions they include.
PUSHED_VECTOR_FEATURES = (WEB_VECTORS.embedding, WEB_VECTORS.top_node_probs)
# The customer-keyed views built only from web sessions linked to the customer: the identity-free
# mode never uses them (see the module docstring).
LINKED_WEB_VIEWS = ("customer_web_intent", "customer_web_intent_labels", "customer_web_embedding")
# A pushed row is stamped this long before its session's end, so the batch row computed from that
# session (stamped at its end) is the newer one and replaces it, in Redis too (which keeps the
# newer of two writes).
PUSHED_ROW_LEAD = timedelta(seconds=1)
# Feast's SQLite store keeps whole seconds: a pushed row reads back up to the lead plus one second early.
STORED_TIME_SLACK = PUSHED_ROW_LEAD + timedelta(seconds=1)
REASONS_PER_PRODUCT = 3
# The answer's features_used: what the request's own events gave, and the views of a stored
# session (online.SESSION_FEATURES) by a feature each holds.
LIVE_SESSION = "live_session"
STORED_SESSION_VIEWS = {"session_intent": ("distilled_intent_top_node_probs",), "session_embedding": ("embedding",)}


class UnknownProducts(ValueError):
    """Candidates that are not in the catalogue (a client error: 400 naming them)."""


def check_feature_references(models: Mapping[str, Any], store: Any) -> None:
    """ArtifactError when a model reads a feature its registered feature service no longer has (a
    mart column renamed since it was trained, e.g. the per-family holds_<family> flags that
    became held_product_families): it would be served as missing, not refused."""
    for name, model in models.items():
        if model is None:
            continue
        service = store.get_feature_service(model.feature_service)
        registered = {
            f"{projection.name_to_use()}:{feature.name}"
            for projection in service.feature_view_projections
            for feature in projection.features
        }
        gone = [reference for reference in model.feature_references if reference not in registered]
        if gone:
            raise ArtifactError(
                f"cannot start the service: the {name} model reads {', '.join(gone[:5])}, which its feature service "
                f"'{model.feature_service}' no longer has; retrain it on the current marts (`clickintent rank stage`)"
            )


def check_catalogue_families(models: Mapping[str, Any], products: Mapping[str, Mapping[str, Any]], source: str) -> None:
    """ArtifactError unless every model was trained on the catalogue's product families (a model
    answers with the families in its card; another catalogue would leave a family unscored or
    score one the model never saw)."""
    from clickintent.ranker.families import HELD_FAMILIES, FamilyMismatch, check_families, families_of

    catalogue = families_of(row.get("product_family") for row in products.values())
    for name, model in models.items():
        if model is None:
            continue
        trained = getattr(model, "families", None)
        if trained is None:
            trained = model.layout.flag_values(HELD_FAMILIES)
        if trained is None:
            continue
        try:
            check_families(trained, catalogue, model=f"the {name} model", data=f"the catalogue ({source})")
        except FamilyMismatch as error:
            raise ArtifactError(f"cannot start the service: {error}") from error


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


class _MaterializeWatch:
    """Whether the online store is mid-materialize under the running service (start-up refuses a
    partly loaded one; a run can start later): the state file's stamp checked per request (one
    stat), the file read again only when it changed."""

    def __init__(self, settings: Settings):
        from clickintent.features.store import materialize_state_path

        self.settings = settings
        self.path = materialize_state_path(settings)
        self._stamp = self._stat()
        self.reason: str | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            status = os.stat(self.path)
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size

    def check(self) -> str | None:
        """Why answers are degraded now (None: the store is complete)."""
        stamp = self._stat()
        if stamp != self._stamp:
            from clickintent.features.store import unfinished_materialize

            self._stamp = stamp
            reason = unfinished_materialize(self.settings)
            if reason != self.reason:
                log.warning("online store: %s", reason or "materialize finished, answers complete again")
            self.reason = reason
        return self.reason


class Recommender:
    """Models, the online store and the catalogue of one worker."""

    def __init__(
        self,
        *,
        settings: Settings,
        session_models: SessionModels,
        ranker: TileRanker,
        conversion: FamilyConversionModel | None,
        anonymous: AnonymousRanker | None,
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
        self.conversion = conversion
        self.anonymous = anonymous
        # The production anonymous ranker may or may not read the visitor's journey (its feature service says).
        self._reads_journey = anonymous is not None and "n_sessions_30d" in getattr(anonymous, "feature_names", ())
        self.online = online
        self.cards = dict(cards)
        self.products = products
        self.products_source = products_source
        self.catalogue = sorted(products)
        # The catalogue's own ranker columns, encoded once (see _rank).
        self._candidate_block = CandidateBlock(ranker.encoder, {product_id: self._candidate(product_id) for product_id in self.catalogue})
        self.push_on_login = push_on_login
        self._pushed = _PushMemory()
        self.login_assertions = LoginAssertions.from_settings(settings)
        self._materialize = _MaterializeWatch(settings)
        self.clock_skew = timedelta(seconds=settings.clock_skew_seconds)
        # "off": no web session is linked to a customer (module docstring, "Identity-free mode")
        self.identity_free = settings.identity_linking == "off"
        self._linked_web_features = frozenset(
            ref.split(":", 1)[1] for ref in getattr(online, "customer_refs", ()) if ref.split(":", 1)[0] in LINKED_WEB_VIEWS
        )
        # Feature name -> the online view it is read from (the answer's features_used).
        self._view_of_feature: dict[str, str] = {}
        for ref in getattr(online, "customer_refs", ()):
            view, feature = ref.split(":", 1)
            self._view_of_feature.setdefault(feature, view)
        self.page_taxonomy = PageTaxonomy.load(
            settings.taxonomy_dir, settings.marts_dir, ranker_element_labels(ranker).get("taxonomy_node_shares_30d")
        )
        anonymous_order = ranker_element_labels(anonymous).get("taxonomy_node_shares") if anonymous is not None else None
        if anonymous_order and list(anonymous_order) != list(self.page_taxonomy.top_node_order):
            raise ArtifactError(
                "cannot start the service: the anonymous-visitor ranker's taxonomy shares are in another top-node order than "
                f"the tile ranker's ({', '.join(anonymous_order[:3])} ... vs {', '.join(self.page_taxonomy.top_node_order[:3])} ...): "
                "retrain both on the same marts (`clickintent rank stage`)"
            )
        self.model_versions = {
            "encoder": cards["encoder"].version,
            "intent_classifier": cards["intent_classifier"].version,
            "tile_ranker": ranker.version,
            **({"conversion": conversion.version} if conversion is not None else {}),
            **({"anonymous_ranker": anonymous.version} if anonymous is not None else {}),
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
        from clickintent.ranker.anonymous_model import AnonymousRanker
        from clickintent.ranker.conversion_family import FamilyConversionModel
        from clickintent.ranker.tile_model import TileRanker

        ranker = load_ranker(Path(model_dirs["tile_ranker"]), TileRanker)
        conversion = load_ranker(Path(model_dirs["conversion"]), FamilyConversionModel)
        anonymous = load_ranker(Path(model_dirs["anonymous_ranker"]), AnonymousRanker)
        try:
            online = OnlineFeatures(settings, [ranker.feature_service, conversion.feature_service])
        except FileNotFoundError as error:
            raise ArtifactError(f"cannot start the service: {error}") from error
        except Exception as error:  # Feast raises its own errors for a missing service
            raise ArtifactError(
                f"cannot start the service: the tile ranker's feature service '{ranker.feature_service}' cannot be read from the "
                f"Feast registry of {settings.data_dir} ({type(error).__name__}: {error}); run `clickintent features apply`"
            ) from error
        session_models = SessionModels(embedder, classifier)
        for name, model in (("tile_ranker", ranker), ("conversion", conversion), ("anonymous_ranker", anonymous)):
            check_compatibility(
                embedding_dim=session_models.embedding_dim,
                classifier_top_nodes=classifier.top_node_ids,
                taxonomy_version=classifier.taxonomy_version,
                ranker_vector_lengths=ranker_vector_lengths(model),
                ranker_element_labels=ranker_element_labels(model),
                ranker_card=cards[name],
                registered_feature_services=online.registered_feature_services,
                ranker_feature_service=model.feature_service,
                encoder_version=embedder.card.get("version"),
                ranker_name=name,
            )
        served = {"tile_ranker": ranker, "conversion": conversion, "anonymous_ranker": anonymous}
        check_feature_references(served, online.store)
        check_committed_outputs(settings, model_dirs)
        products, source = online.load_products()
        if not products:
            raise ArtifactError(f"cannot start the service: no products in the catalogue ({source})")
        check_catalogue_families(served, products, source)
        recommender = cls(
            settings=settings,
            session_models=session_models,
            ranker=ranker,
            conversion=conversion,
            anonymous=anonymous,
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
        if self.conversion is not None:
            self.conversion.family_probabilities([self._session_values(session)])
        if self.anonymous is not None:
            self.anonymous.score_families(self._anonymous_values(session, events))
            self.anonymous.reasons(self._anonymous_values(session, events), self.anonymous.families[0])
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
        may_push: bool = False,
        login_assertion: str | None = None,
        now: datetime | None = None,
        tile_ranker_alone: bool = False,
    ) -> dict[str, Any]:
        """The ranked products for one request (the module docstring, step by step).

        A login in the session writes to the online store only when the caller `may_push` (its API
        key's push scope) and `login_assertion` verifies (clickintent.serving.auth); `now` is the
        service's clock (default: the current time), which bounds event times and assertion ages.
        `tile_ranker_alone` answers every mode with the tile ranker's click probability, as the
        service did before each mode had its model (the replay evaluation's baseline).
        """
        now = now or datetime.now(UTC)
        events, clamped = clamp_event_times(events, now + self.clock_skew)
        # As the marts hold them (stg_events redacts paths, referrers and queries): the live
        # aggregates look pages up by the same keys as dbt did.
        events = [redact_event(event) for event in events]
        candidates = self._checked_candidates(candidates or None)
        degraded: list[str] = []
        unfinished = self._materialize.check()
        if unfinished:
            degraded.append(unfinished)  # logged once when it changes (_MaterializeWatch)
        session = self.session_models.read(events, session_id, redacted=True)
        customer_id = customer_id or session.login_customer_id or session.event_customer_id
        intent_block = intent_labels(session.intent, self.classifier.names) if session.intent is not None else None

        login_push = None
        stored_session: Mapping[str, Any] | None = None
        if self.identity_free and events and session.platform == "web":
            # Identity-free mode: the web session is the visitor's own, whoever it names.
            if customer_id:
                login_push = disabled_push(session.session_id)
            customer_id = None

        customer: CustomerRow | None = None
        if customer_id:
            try:
                customer = self._read_customer(customer_id)
            except OnlineStoreUnavailable as error:
                self._degrade(degraded, f"online store unavailable, customer features not read ({error})")
        values: dict[str, Any] = dict(customer.values) if customer is not None else {}

        # The live web session's fct_web_sessions counts, counted once where a join needs them: the
        # customer-level merge and the anonymous ranker's inputs both start from them.
        live_aggregates: dict[str, Any] | None = None
        if events and (customer_id is None or session.event_customer_id == customer_id):
            if session.platform == "web":
                live_aggregates = session_aggregates(events, self.page_taxonomy)
            # The live session is the visitor's own (anonymous) or the customer's signed-in one:
            # it joins the customer-level web features for this answer (tile_model's contract).
            logs_in = bool(customer_id) and session.login_customer_id == customer_id
            # A session already in the stored vectors (pushed before, or linked by the batch
            # pipeline) is not added to them twice: only its aggregates are added (they have no push).
            included = logs_in and self._session_included(customer_id, customer, session)
            values.update(
                self._with_live_session(
                    values, customer.timestamps if customer else {}, session, events, vectors=not included, aggregates=live_aggregates
                )
            )
            if logs_in and self.push_on_login:
                refusal = self._push_refusal(customer_id, customer, session, may_push, login_assertion, now)
                if refusal is not None:
                    login_push = refused_push(customer_id, session.session_id, refusal)
                else:
                    login_push = self._push_login(customer_id, session, customer, values, degraded, included)
        elif not events and session_id:
            stored = self._stored_session(session_id, degraded)
            if stored is not None:
                stored_values, intent_block, stored_session = stored
                if not values:
                    values.update(stored_values)

        visitor: VisitorRow | None = None
        if customer is not None and customer.known:
            mode = "login" if events and customer_id and session.login_customer_id == customer_id else "customer"
        elif any(value is not None for value in values.values()):
            mode = "anonymous"
            visitor = self._visitor(events, session, degraded)
            if visitor is not None and visitor.known:
                mode = "returning_visitor"
        else:
            mode, values = "cold_start", {}

        families = [self.products[product_id].get("product_family") for product_id in candidates]
        if "tile_ranker" in MODE_MODELS[mode] or tile_ranker_alone:
            rows = [self._row(values, product_id) for product_id in candidates]
            conversion = None if tile_ranker_alone else self._family_conversion(values, session)
            weights = None if conversion is None else np.asarray([conversion.get(family, 0.0) for family in families])
            clicks, scores, order, reasons = self._rank(rows, k, shared=values, candidate_ids=candidates, weights=weights)
            outcome = weights
        else:
            anonymous_values = (
                self._anonymous_values(session, events, stored_session, visitor, live_aggregates) if mode != "cold_start" else None
            )
            clicks = None
            outcome, scores, order, reasons = self._rank_anonymous(anonymous_values, candidates, families, k)
        products = [
            {
                "product_id": candidates[index],
                "rank": rank,
                "score": float(scores[index]),
                "click_probability": None if clicks is None else float(clicks[index]),
                "conversion_probability": None if outcome is None else float(outcome[index]),
                "family": families[index],
                "reasons": [_reason(reason) for reason in row_reasons],
            }
            for rank, (index, row_reasons) in enumerate(zip(order, reasons), start=1)
        ]
        return {
            "products": products,
            "mode": mode,
            "models_used": ["tile_ranker"] if tile_ranker_alone else list(MODE_MODELS[mode]),
            "features_used": self._features_used(mode, customer, events, stored_session, visitor),
            "customer_id": customer_id,
            "customer_known": bool(customer is not None and customer.known),
            "session_id": (session.session_id or None) if events else session_id,
            "intent": intent_block,
            "session": {**_summary(session), "future_events_clamped": clamped},
            "login_push": login_push,
            "degraded": bool(degraded),
            "degraded_reasons": degraded,
            "model_versions": self.model_versions,
        }

    def customer_rows(self, customer_id: str, candidates: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The tile ranker's rows for a customer without a live session, one per candidate in order
        (None: the whole catalogue), as `recommend` builds them for a known customer: the customer's
        online features (less the linked-web ones in the identity-free mode) with each candidate's
        laid over them. UnknownProducts names candidates the catalogue lacks; OnlineStoreUnavailable
        if the store fails (`recommend` answers degraded instead)."""
        candidates = self._checked_candidates(candidates)
        customer = self._read_customer(customer_id)
        return [self._row(customer.values, product_id) for product_id in candidates]

    # ---- parts ----------------------------------------------------------------------------

    def _checked_candidates(self, candidates: Sequence[str] | None) -> list[str]:
        """The candidates to rank (None: the whole catalogue); UnknownProducts naming those the catalogue lacks."""
        candidates = self.catalogue if candidates is None else list(candidates)
        unknown = [product_id for product_id in candidates if product_id not in self.products]
        if unknown:
            raise UnknownProducts(
                f"candidates not in the catalogue: {', '.join(repr(p) for p in unknown[:10])}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            )
        return candidates

    def _read_customer(self, customer_id: str) -> CustomerRow:
        """The customer's online row, less the linked-web features in the identity-free mode;
        OnlineStoreUnavailable if the store fails."""
        customer = self.online.customer(customer_id)
        return self._without_linked_web_features(customer) if self.identity_free else customer

    def _rank(
        self,
        rows: list[dict[str, Any]],
        k: int,
        *,
        shared: Mapping[str, Any] | None = None,
        candidate_ids: Sequence[str] | None = None,
        weights: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[Reason]]]:
        """Click probabilities of every row, the ranking scores (click probability times `weights`,
        each candidate's conversion probability, when given), the best k by score (ties keep the
        candidates' order) and their reasons.

        The rows are encoded once: the top k's reasons read the same matrix the scores came from.
        Given the rows' shared values and candidate ids, only the shared part is encoded per
        request; the candidates' columns come from the catalogue block encoded at start-up.
        """
        if not rows:
            return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.intp), []
        over = (self._candidate_block, shared, candidate_ids) if candidate_ids is not None else None
        matrix = self.ranker.matrix(rows, over=over)
        clicks = self.ranker.score_matrix(matrix).astype(np.float64)
        scores = clicks if weights is None else clicks * weights
        order = np.argsort(-scores, kind="stable")[: min(k, len(rows))]
        reasons = self.ranker.explain_matrix([rows[index] for index in order], matrix[order], REASONS_PER_PRODUCT)
        return clicks, scores, order, reasons

    def _features_used(
        self,
        mode: str,
        customer: CustomerRow | None,
        events: Sequence[Mapping[str, Any]],
        stored_session: Mapping[str, Any] | None,
        visitor: VisitorRow | None,
    ) -> list[str]:
        """Where this answer's inputs came from: the online views that held a value for it, and
        `live_session` when the request's events were read (the models and the response say which mode)."""
        used: set[str] = set()
        if mode in ("customer", "login") and customer is not None:
            used |= {
                self._view_of_feature[name]
                for name, value in customer.values.items()
                if value is not None and name in self._view_of_feature
            }
        elif mode in ("anonymous", "returning_visitor"):
            if not events and stored_session:
                used |= {
                    view for view, names in STORED_SESSION_VIEWS.items() if any(stored_session.get(name) is not None for name in names)
                }
            if visitor is not None and visitor.known and self._reads_journey:
                used |= set(VISITOR_VIEWS)
        if events:
            used.add(LIVE_SESSION)
        return sorted(used)

    def _visitor(self, events: Sequence[Mapping[str, Any]], session: LiveSession, degraded: list[str]) -> VisitorRow | None:
        """The live web visitor's stored journey (visitor_journey, visitor_journey_embedding), when
        the anonymous ranker reads one; None without a live web session or if the store fails."""
        if not events or session.platform != "web" or not self._reads_journey:
            return None
        anonymous_id = events[-1].get("anonymous_id")
        if not anonymous_id:
            return None
        try:
            return self.online.visitor(visitor_id("web", str(anonymous_id)))
        except OnlineStoreUnavailable as error:
            self._degrade(degraded, f"online store unavailable, the visitor's journey not read ({error})")
            return None

    def _anonymous_values(
        self,
        session: LiveSession,
        events: Sequence[Mapping[str, Any]],
        stored: Mapping[str, Any] | None = None,
        visitor: VisitorRow | None = None,
        aggregates: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The anonymous ranker's inputs: the live session as its fct_web_sessions row, its distilled
        labels and embedding (what web_session_stats, session_intent and session_embedding hold
        for a finished session) and the visitor's journey with it (visitor_journey,
        visitor_journey_embedding, as dbt and the embedding stage would write them at the
        session's end); or a finished session's stored labels and embedding."""
        if not events:
            return dict(stored or {})
        aggregates = aggregates or session_aggregates(events, self.page_taxonomy)
        values: dict[str, Any] = session_row(events, self.page_taxonomy, aggregates)
        if session.intent is not None:
            values.update(
                {
                    "distilled_intent_node_id": session.intent.node_id,
                    "distilled_intent_top_node_id": session.intent.top_node_id,
                    "distilled_intent_confidence": float(session.intent.confidence),
                    "distilled_intent_top_node_probs": [float(p) for p in session.intent.top_node_probs],
                }
            )
        if session.embedding is not None:
            values["embedding"] = session.embedding.astype(float).tolist()
        if self._reads_journey:
            stored_journey = visitor.values if visitor is not None and visitor.known else {}
            stamps = visitor.timestamps if visitor is not None and visitor.known else {}
            stored_at = stamps.get("n_sessions_30d")
            if stored_includes_session(stored_at, session):
                values.update(stored_journey)
            else:
                values.update(journey_row(stored_journey, stored_at, aggregates, self.page_taxonomy))
                values.update(with_session_vectors(stored_journey, stamps, session, JOURNEY_VECTORS))
        return values

    def _app_vectors(self, stored: Mapping[str, Any], stamps: Mapping[str, Any], session: LiveSession) -> dict[str, Any]:
        """The customer's in-app embedding and intent (customer_app_embedding) with the signed-in app
        session added; nothing when the stored row is as of the session's end or later (the batch
        pipeline has it already: a client re-sends the growing session on every screen)."""
        if stored_includes_session(stamps.get(APP_VECTORS.embedding), session):
            return {}
        return with_session_vectors(stored, stamps, session, APP_VECTORS)

    def _rank_anonymous(
        self, values: Mapping[str, Any] | None, candidates: Sequence[str], families: Sequence[str | None], k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[Reason]]]:
        """The anonymous ranker's answer: per candidate, P(the visitor applies for or opens a product
        of its family within 14 days), the ranking score (that times the product's share of its
        family), the best k and their reasons. Without values (cold start): the families' rates
        among the training sessions, and no reasons."""
        assert self.anonymous is not None
        family_of = {product_id: family or "" for product_id, family in zip(candidates, families)}
        if values is None:
            by_family = self.anonymous.family_prior
            by_product = self.anonymous.prior_products(family_of)
        else:
            by_family = self.anonymous.score_families(values)
            by_product = {
                product_id: by_family.get(family, 0.0) * self.anonymous.product_share(product_id, family)
                for product_id, family in family_of.items()
            }
        outcome = np.asarray([by_family.get(family_of[product_id], 0.0) for product_id in candidates], dtype=np.float64)
        scores = np.asarray([by_product[product_id] for product_id in candidates], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")[: min(k, len(candidates))]
        # One explanation per family shown (products of one family share it).
        explained: dict[str, list[Reason]] = {}
        reasons = []
        for index in order:
            family = family_of[candidates[index]]
            if values is None or family not in self.anonymous.families:
                reasons.append([])
                continue
            if family not in explained:
                explained[family] = self.anonymous.reasons(values, family, REASONS_PER_PRODUCT)
            reasons.append(explained[family])
        return outcome, scores, order, reasons

    def _family_conversion(self, values: Mapping[str, Any], session: LiveSession) -> dict[str, float] | None:
        """P(the customer opens a product of each family within 14 days), from the conversion model,
        observed where the request comes from (the app asking, or right after a web visit)."""
        from clickintent.ranker.conversion_family import SERVING_OBSERVATION_POINT

        if self.conversion is None:
            return None
        point = "web_session_end" if session.platform == "web" else SERVING_OBSERVATION_POINT
        return self.conversion.family_probabilities([{**values, "observation_point": point}])[0]

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
        aggregates: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The customer-level features of the live session's platform with the session added to what
        is stored, as the producing stages would at its end: for a web session the linked-web
        embedding, distilled labels and 30-day aggregates (`aggregates`: the session's
        session_aggregates, when the caller has them); for an app session the in-app embedding
        and labels (customer_app_embedding), never the linked-web slot."""
        merged: dict[str, Any] = {}
        if vectors and session.platform == "app":
            merged.update(self._app_vectors(stored, stored_at, session))
        elif vectors and session.embedding is not None and session.intent is not None:
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
            aggregates = aggregates or session_aggregates(events, self.page_taxonomy)
            stored_as_of = stored_at.get("n_linked_sessions_30d") if stored_at else None
            merged.update(merge_aggregates(stored, stored_as_of, aggregates, self.page_taxonomy))
        return merged

    def _stored_session(self, session_id: str, degraded: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]] | None:
        """A finished session's stored embedding and intent (session_embedding / session_intent views):
        as the customer-level web slots, as the intent block, and as stored."""
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
        return (values, intent_block, stored) if values else None

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
        if customer is None:
            return False
        stamps = [customer.timestamps.get(name) for name in PUSHED_VECTOR_FEATURES]
        stamps = [stamp for stamp in stamps if stamp is not None]
        return bool(stamps) and all(stored_includes_session(stamp, session) for stamp in stamps)

    def _push_refusal(
        self,
        customer_id: str,
        customer: CustomerRow | None,
        session: LiveSession,
        may_push: bool,
        login_assertion: str | None,
        now: datetime,
    ) -> str | None:
        """Why this login may not write to the online store (None: it may). A login event is a claim;
        the push needs the caller's push scope, the identity provider's assertion and a customer the
        batch data knows, so a caller cannot rewrite another customer's features or mint entity keys."""
        if not may_push:
            return "the caller's API key lacks the 'push' scope"
        refusal = self.login_assertions.refusal(login_assertion, customer_id, session.session_id, now)
        if refusal is not None:
            return refusal
        if customer is not None and not customer.known:
            return "the customer id is unknown to the bank's batch data (no profile in the online store), so no entity key is created"
        return None

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
        as_of = session.end_ts - PUSHED_ROW_LEAD
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


def with_session_vectors(
    stored: Mapping[str, Any], stamps: Mapping[str, Any], session: LiveSession, names: SessionVectors
) -> dict[str, Any]:
    """The stored recency-weighted vectors `names` with the live session added
    (login.vectors_with_session); nothing without the session's embedding, intent or end."""
    if session.embedding is None or session.intent is None or session.end_ts is None:
        return {}
    return vectors_with_session(names, stored, stamps, session.embedding, session.intent.top_node_probs, session.end_ts)


def stored_includes_session(stored_at: datetime | None, session: LiveSession) -> bool:
    """A stored row as of the live session's end or later includes the session already: a push
    stamps its row at the session's end (less PUSHED_ROW_LEAD), and a batch row is as of the
    latest session it holds; STORED_TIME_SLACK absorbs both and the store's whole seconds."""
    return stored_at is not None and session.end_ts is not None and stored_at >= session.end_ts - STORED_TIME_SLACK


def clamp_event_times(events: Sequence[Mapping[str, Any]], latest: datetime) -> tuple[Sequence[Mapping[str, Any]], int]:
    """The events with any time after `latest` (the service's clock plus the allowed skew) set to
    it, and how many were: a session dated in the future would shadow every later one in the
    online store, whose rows keep the latest event time."""
    late = [index for index, event in enumerate(events) if event["event_ts"] > latest]
    if not late:
        return events, 0
    clamped = [dict(event) for event in events]
    for index in late:
        clamped[index]["event_ts"] = latest
    return clamped, len(late)


def refused_push(customer_id: str, session_id: str, reason: str) -> dict[str, Any]:
    """The answer's login_push block for a login that may not write: nothing written, and why."""
    return {"status": "refused", "customer_id": customer_id, "session_id": session_id, "feature_views": [], "reason": reason}


def _summary(session: LiveSession) -> dict[str, int]:
    return {"n_events": session.n_events, "n_events_encoded": session.n_encoded, "unknown_pages": session.unknown_pages}


def _reason(reason: Reason) -> dict[str, Any]:
    return {"feature": reason.feature, "value": str(reason.value), "contribution": float(reason.contribution), "text": reason.text}


# ---- the ranker ------------------------------------------------------------------------------


def load_ranker(directory: Path, model_class: type[M]) -> M:
    """The stored ranker of `model_class` in `directory` (named after the class's folder), one
    XGBoost thread; ArtifactError naming the model if it does not load."""
    from clickintent.serving.artifacts import RANKER_TITLES

    folder = model_class.directory_name
    title = RANKER_TITLES.get(folder, folder)
    if directory.name != folder:
        raise ArtifactError(f"cannot start the service: {title}'s folder must be named {folder}/, not {directory}")
    try:
        return model_class.load(directory.parent, threads=1)
    except ModelCardError as error:
        raise ArtifactError(f"cannot start the service: {title} in {directory} does not load: {error}") from error
    except (OSError, ValueError, KeyError) as error:
        raise ArtifactError(f"cannot start the service: {title} in {directory} does not load: {type(error).__name__}: {error}") from error


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

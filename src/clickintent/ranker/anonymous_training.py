"""The anonymous-visitor ranker's stage: its ablation and its production model.

    run_anonymous_stage(settings)   # <reports>/anonymous_ranker.json and <models>/anonymous_ranker/

Labels: dbt's `fct_anonymous_session_outcomes`, one row per (anonymous web session, family):
did the visitor apply for (form start or submit) or open (as the customer it logs in as) a
product of the family within 14 days after the session. Only rows whose window is complete.

Features: one Feast point-in-time join per run of the widest row's service (each row's service
holds the previous row's features) over the session-keyed views (web_session_stats,
session_intent, session_embedding) and, where they have been built, the visitor journey views
(visitor_journey, visitor_journey_embedding, keyed by visitor_id), one entity row per session at its end
(`session_end_ts`), so no feature describes anything after the session. The session's row is
then repeated once per family with the family as a categorical feature: the same point-in-time
values as a fetch per (session, family) row, as many times cheaper as there are families (the
data's: dim_products, sorted).

Splits by time with the conversion model's boundaries (the same 14-day label window and
embargo, `training_sets.time_split` over `fct_conversion_labels`), so both models are tested on
the same period; a session whose window reaches into the next split is dropped. Measured on the
test sessions of visitors who never logged in during the training window (no login before the
validation split starts): the visitors this ranker is for. The figures over every test session
are reported beside them.

Ablation rows, each its own feature service (`anonymous_<row>`): (a) popularity, the family's
outcome rate in the training sessions, no features; (b) the session's dbt aggregates; (c) + its
distilled intent labels; (d) + its embedding; (e) + the visitor's journey (when the journey
views exist). Every model is XGBoost `binary:logistic` through `boosting.train_booster` (early
stopping on validation, one thread), on the same splits and seed. Paired bootstrap intervals
over test sessions, against rows (b) and (a).

Production: `anonymous_ranker_v2`, the features of row (e): the session (the service computes
its aggregates, distilled labels and embedding from its events) and the visitor's journey (read
from the online store by the cookie, with the live session added). The row (e) fit is the
production model (same features, splits and seed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clickintent.artifacts import atomic_write_json, is_temporary
from clickintent.evaluation.metrics import (
    BOOTSTRAP_RESAMPLES,
    CandidateRankingTestUnits,
    binary_logloss,
    bootstrap_weights,
    relative_change,
    relative_change_interval,
)
from clickintent.features.partitioned_marts import mart_location
from clickintent.ranker.anonymous_model import (
    ANONYMOUS_CONTEXT,
    ANONYMOUS_OBJECTIVE,
    ANONYMOUS_RANKER_DIR,
    FAMILY_COLUMN,
    GROUPED_VECTORS,
    AnonymousRanker,
    save_anonymous_ranker,
)
from clickintent.ranker.boosting import CONVERSION_BOOSTING, BoosterConfig, TrainedBooster, train_booster
from clickintent.ranker.encoding import MatrixEncoder
from clickintent.ranker.evaluation_document import round_figure, round_figures
from clickintent.ranker.families import FAMILIES_MART, catalogue_families, families_of
from clickintent.ranker.layout import FeatureLayout, LayoutError, build_layout
from clickintent.ranker.provenance import read_views, training_data_versions, version_fields
from clickintent.ranker.tabular import category_text, is_missing
from clickintent.ranker.tasks import XGBOOST_THREADS, Log, model_version, quiet, vector_element_labels
from clickintent.ranker.training_sets import (
    CONVERSION_LABELS,
    SPLITS,
    LabelTable,
    ServiceFeature,
    TimeSplit,
    TrainingSet,
    TrainingSetError,
    historical_features,
    read_label_table,
    service_features,
    time_split,
)
from clickintent.settings import Settings

OUTCOMES_MART = "fct_anonymous_session_outcomes"
REPORT_FILE = "anonymous_ranker.json"
PRODUCTION_SERVICE = "anonymous_ranker_v2"
LABEL_WINDOW_DAYS = CONVERSION_LABELS.label_window_days
# Session-level entity rows: the session's keys for the session views and the visitor's for the
# journey views, joined as of the session's end.
SESSIONS = LabelTable(
    mart=OUTCOMES_MART,
    timestamp="session_end_ts",
    keys=("web_session_id",),
    entity_keys=("web_session_id", "session_id", "visitor_id"),
    columns=("web_session_id", "session_id", "anonymous_id", "visitor_id", "session_end_ts", "visitor_logged_in_before"),
    label_window_days=LABEL_WINDOW_DAYS,
)
# About 270k (session, family) training rows with about 10k positives on the demo world: the
# conversion model's shallow trees.
ANONYMOUS_BOOSTING: BoosterConfig = CONVERSION_BOOSTING
# Vector features of the session views named like the customer-level vectors whose element
# names `vector_element_labels` knows (same taxonomy, same order).
ELEMENT_LABELS_FROM = {
    "distilled_intent_top_node_probs": "web_distilled_top_node_probs",
    "journey_distilled_top_node_probs": "web_distilled_top_node_probs",
    "taxonomy_node_shares": "taxonomy_node_shares_30d",
    "taxonomy_node_shares_30d": "taxonomy_node_shares_30d",
}
METRICS = ("recall_at_1", "recall_at_3", "ndcg_at_3", "auc")
PRIMARY = "test"  # test sessions of visitors who never logged in during the training window
EVERY_TEST_SESSION = "test_all_visitors"


class AnonymousLabelsMissing(TrainingSetError):
    """The label mart has not been built (a data directory built before it existed)."""


@dataclass(frozen=True)
class AnonymousRow:
    name: str
    description: str
    # None: no features (popularity).
    service: str | None
    # What the row waits for when the features it adds have no values yet.
    waits_for: str = ""


ANONYMOUS_ROWS: tuple[AnonymousRow, ...] = (
    AnonymousRow("a_popularity", "popularity: each family's outcome rate in the training sessions (no features)", None),
    AnonymousRow("b_session_aggregates", "the session's dbt aggregates (web_session_stats)", "anonymous_b_session_aggregates"),
    AnonymousRow(
        "c_distilled_labels", "b + the session's distilled intent labels", "anonymous_c_distilled_labels", "waiting for the taxonomy stage"
    ),
    AnonymousRow("d_embedding", "c + the session embedding", "anonymous_d_embedding", "waiting for the encoder"),
    AnonymousRow(
        "e_journey", "d + the visitor's journey (visitor_journey views)", "anonymous_e_journey", "waiting for the visitor journey outputs"
    ),
)
BASELINE_ROWS = ("b_session_aggregates", "a_popularity")
PRODUCTION_ROW = "e_journey"


# ---------------------------------------------------------------------------------------------
# labels


def read_session_outcomes(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(sessions, outcomes): one row per anonymous session with a complete label window, with
    `outcome_<family>` flags, in time order; and the mart's (session, family) rows with outcomes."""
    path = mart_location(settings.marts_dir, OUTCOMES_MART)
    if not path.exists():
        raise AnonymousLabelsMissing(f"label mart {path} not found; run `clickintent build` first")
    # in the mart's order: its days' files keep none of their own
    mart = pd.read_parquet(path).sort_values(["web_session_id", FAMILY_COLUMN], kind="stable", ignore_index=True)
    mart = mart[mart["label_window_complete"].astype(bool)]
    if mart.empty:
        raise TrainingSetError(f"{OUTCOMES_MART}: no row has a complete label window yet (the data is too short)")
    families = families_of(mart[FAMILY_COLUMN])
    catalogue = catalogue_families(settings.marts_dir)
    if families != catalogue:
        raise TrainingSetError(
            f"{OUTCOMES_MART} has the families {', '.join(families)} but {FAMILIES_MART} has {', '.join(catalogue)}: "
            "marts of two builds; run `clickintent build`"
        )
    mart["session_end_ts"] = pd.to_datetime(mart["session_end_ts"], utc=True)
    flags = mart.pivot(index="web_session_id", columns=FAMILY_COLUMN, values="outcome").reindex(columns=list(families))
    flags.columns = [outcome_column(family) for family in families]
    sessions = mart.drop_duplicates("web_session_id")[list(SESSIONS.columns)].set_index("web_session_id")
    sessions = sessions.join(flags.astype(bool)).reset_index()
    sessions = sessions.sort_values(["session_end_ts", "web_session_id"], kind="stable").reset_index(drop=True)
    outcomes = mart[mart["outcome"].astype(bool)][["web_session_id", FAMILY_COLUMN, "outcome_product_ids"]]
    return sessions, outcomes.reset_index(drop=True)


def outcome_column(family: str) -> str:
    return f"outcome_{family}"


def anonymous_time_split(settings: Settings, session_ends: pd.Series) -> TimeSplit:
    """The conversion model's boundaries (same label window and embargo); the sessions' own
    when the conversion labels cannot be split."""
    try:
        conversions = read_label_table(settings, CONVERSION_LABELS)
        return time_split(conversions[CONVERSION_LABELS.timestamp], CONVERSION_LABELS.label_window_days)
    except TrainingSetError:
        return time_split(session_ends, LABEL_WINDOW_DAYS)


def visitors_logged_in_before(settings: Settings, moment: pd.Timestamp) -> set[str]:
    """anonymous_ids with a login (a session with a login event) before `moment`."""
    path = mart_location(settings.marts_dir, "fct_web_login_links")
    if not path.exists():
        raise TrainingSetError(f"{path} not found; run `clickintent build` first")
    links = pd.read_parquet(path, columns=["anonymous_id", "link_method", "linked_at_ts"])
    links = links[links["link_method"] == "web_session_login"]
    return set(links.loc[pd.to_datetime(links["linked_at_ts"], utc=True) < moment, "anonymous_id"])


# ---------------------------------------------------------------------------------------------
# the training set, encoded once


@dataclass
class AnonymousData:
    """Session rows with the union service's features, split by time, and the (session, family)
    matrices every row's model reads its columns from."""

    training_set: TrainingSet
    layout: FeatureLayout
    frames: dict[str, pd.DataFrame]  # sessions per split (train, validation, test, test_all_visitors)
    truth: dict[str, np.ndarray]  # (sessions, families) bool per split
    matrices: dict[str, np.ndarray]  # (sessions x families, columns) per split
    element_labels: dict[str, list[str]]
    # The product families of the data (dim_products, sorted): the ranker's families, in this order
    # in `truth` and within each session's rows of `matrices`.
    families: tuple[str, ...]
    data_versions: dict[str, str] = field(default_factory=dict)
    # The row services whose tables are built, in row order (the last is the one fetched).
    services: list[str] = field(default_factory=list)

    def row_layout(self, features: Sequence[ServiceFeature]) -> tuple[FeatureLayout, np.ndarray]:
        layout = session_layout(features, self.frames["train"], self.element_labels, self.families)
        columns = {name: index for index, name in enumerate(self.layout.model_columns)}
        missing = [name for name in layout.model_columns if name not in columns]
        if missing:
            raise LayoutError(f"columns of the row's service are not in {self.training_set.service}: {missing[:5]}")
        return layout, np.array([columns[name] for name in layout.model_columns], dtype=np.intp)


def session_layout(
    features: Sequence[ServiceFeature], train: pd.DataFrame, element_labels: dict[str, list[str]], families: Sequence[str]
) -> FeatureLayout:
    # Every family in the training rows, so the family column's vocabulary is all of them.
    with_families = train.assign(**{FAMILY_COLUMN: np.resize(np.array(families, dtype=object), len(train))})
    return build_layout(features, with_families, context=ANONYMOUS_CONTEXT, element_labels=element_labels, grouped_vectors=GROUPED_VECTORS)


def family_rows(encoder: MatrixEncoder, layout: FeatureLayout, sessions: pd.DataFrame, families: Sequence[str]) -> np.ndarray:
    """The (session, family) matrix, sessions in order and `families` in order within each: each
    session encoded once, repeated, the family column set per row. Equal to encoding the
    (session, family) rows one by one (tested)."""
    matrix = encoder.encode_frame(sessions.assign(**{FAMILY_COLUMN: None}))
    out = np.repeat(matrix, len(families), axis=0)
    out[:, layout.model_columns.index(FAMILY_COLUMN)] = np.tile(family_codes(layout, families), len(sessions))
    return out


def family_codes(layout: FeatureLayout, families: Sequence[str]) -> np.ndarray:
    (column,) = [column for column in layout.scalars if column.name == FAMILY_COLUMN]
    codes = {category: code for code, category in enumerate(column.categories)}
    return np.array([codes.get(category_text(family), np.nan) for family in families], dtype=np.float32)


def element_labels_for_sessions(settings: Settings) -> dict[str, list[str]]:
    known = vector_element_labels(settings)
    return {name: known[source] for name, source in ELEMENT_LABELS_FROM.items() if source in known}


def load_anonymous_data(settings: Settings, store: Any, service: str, log: Log) -> AnonymousData:
    sessions, _ = read_session_outcomes(settings)
    split = anonymous_time_split(settings, sessions[SESSIONS.timestamp])
    log(f"anonymous: Feast point-in-time join of {service} over {len(sessions):,} anonymous sessions")
    started = time.perf_counter()
    frame = historical_features(store, service, sessions, SESSIONS)
    fetch_seconds = time.perf_counter() - started
    assigned = split.assign(frame[SESSIONS.timestamp])
    for name in SPLITS:
        if not (assigned == name).any():
            raise TrainingSetError(f"{OUTCOMES_MART}: the {name} split is empty ({split.to_json()})")
    features = service_features(store, service)
    training_set = TrainingSet("anonymous", SESSIONS, service, features, frame, split, assigned, fetch_seconds)
    frames = {name: training_set.part(name).reset_index(drop=True) for name in SPLITS}
    known = visitors_logged_in_before(settings, split.validation_start)
    frames[EVERY_TEST_SESSION] = frames["test"]
    frames["test"] = frames["test"][~frames["test"]["anonymous_id"].isin(known)].reset_index(drop=True)
    if frames["test"].empty:
        raise TrainingSetError(f"{OUTCOMES_MART}: no test session of a visitor who never logged in during the training window")
    element_labels = element_labels_for_sessions(settings)
    families = catalogue_families(settings.marts_dir)
    layout = session_layout(features, frames["train"], element_labels, families)
    encoder = MatrixEncoder.of(layout)
    outcome_columns = [outcome_column(family) for family in families]
    data = AnonymousData(
        training_set=training_set,
        layout=layout,
        frames=frames,
        truth={name: part[outcome_columns].to_numpy(dtype=bool) for name, part in frames.items()},
        matrices={name: family_rows(encoder, layout, part, families) for name, part in frames.items()},
        element_labels=element_labels,
        families=families,
    )
    data.data_versions = training_data_versions(settings, read_views(layout), log)
    log(
        f"anonymous: {len(frame):,} sessions in {fetch_seconds:.1f} s; "
        + ", ".join(f"{name} {len(part):,}" for name, part in frames.items())
    )
    return data


def fetchable_services(store: Any, rows: Sequence[AnonymousRow]) -> list[str]:
    """The rows' services, in row order, up to the first one that is not registered or reads a
    table not built yet (the journey before its dbt model and stage exist)."""
    registered = {service.name: service for service in store.list_feature_services()}
    out: list[str] = []
    for row in rows:
        if row.service is None:
            continue
        service = registered.get(row.service)
        if service is None or not all(_source_built(store, projection.name) for projection in service.feature_view_projections):
            break
        out.append(row.service)
    return out


def _source_built(store: Any, view: str) -> bool:
    source = store.get_feature_view(view).batch_source
    path = getattr(source, "path", None)
    return path is None or Path(path).exists()


# ---------------------------------------------------------------------------------------------
# fits and figures


@dataclass
class AnonymousFit:
    scores: dict[str, np.ndarray]  # (sessions, families) per evaluated split
    trained: TrainedBooster | None = None  # None: popularity
    layout: FeatureLayout | None = None
    prior: dict[str, float] | None = None


@dataclass
class AnonymousRowResult:
    row: AnonymousRow
    layout: FeatureLayout | None
    columns: np.ndarray | None
    waiting: str = ""
    fit: AnonymousFit | None = None

    @property
    def status(self) -> str:
        return self.waiting or "ok"


EVALUATED = ("validation", PRIMARY, EVERY_TEST_SESSION)


def fit_popularity(data: AnonymousData) -> AnonymousFit:
    prior = data.truth["train"].mean(axis=0)
    scores = {split: np.tile(prior, (len(data.truth[split]), 1)) for split in EVALUATED}
    return AnonymousFit(scores=scores, prior={family: float(p) for family, p in zip(data.families, prior)})


def fit_row(data: AnonymousData, columns: np.ndarray, layout: FeatureLayout, *, seed: int) -> AnonymousFit:
    m = {split: matrix[:, columns] for split, matrix in data.matrices.items()}
    labels = {split: truth.reshape(-1).astype(np.int8) for split, truth in data.truth.items()}
    trained = train_booster(
        layout.schema,
        (m["train"], labels["train"]),
        (m["validation"], labels["validation"]),
        objective=ANONYMOUS_OBJECTIVE,
        eval_metric="logloss",
        config=ANONYMOUS_BOOSTING,
        seed=seed,
        threads=XGBOOST_THREADS,
    )
    scores = {split: trained.booster.inplace_predict(m[split]).reshape(-1, len(data.families)) for split in EVALUATED}
    return AnonymousFit(scores=scores, trained=trained, layout=layout)


def ranking_figures(truth: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    units = CandidateRankingTestUnits(truth, scores)
    whole = np.ones((1, len(truth)))
    return {
        "recall_at_1": float(units.recall_at(1, whole)[0]),
        "recall_at_3": float(units.recall_at(3, whole)[0]),
        "ndcg_at_3": float(units.ndcg_at(3, whole)[0]),
        "auc": float(units.auc(whole)[0]),
        "logloss": binary_logloss(truth.reshape(-1), scores.reshape(-1)),
        "sessions": int(len(truth)),
        "sessions_with_outcome": int(truth.any(axis=1).sum()),
    }


def metric_of(units: CandidateRankingTestUnits, metric: str, weights: np.ndarray) -> np.ndarray:
    if metric == "auc":
        return units.auc(weights)
    kind, k = metric.rsplit("_at_", 1)
    return units.recall_at(int(k), weights) if kind == "recall" else units.ndcg_at(int(k), weights)


def fit_rows(settings: Settings, store: Any, data: AnonymousData, rows: Sequence[AnonymousRow], log: Log) -> dict[str, AnonymousRowResult]:
    """Every row on the same splits and seed; a row whose added features have no values yet
    waits (it would repeat the previous row's figures under another name)."""
    results: dict[str, AnonymousRowResult] = {}
    previous: set[str] = set()
    registered = {service.name for service in store.list_feature_services()}
    for row in rows:
        if row.service is None:
            results[row.name] = AnonymousRowResult(row, None, None, fit=fit_popularity(data))
            continue
        if row.service not in registered or row.service not in data.services:
            reason = "no feature service" if row.service not in registered else "its views' tables have not been built"
            results[row.name] = AnonymousRowResult(row, None, None, waiting=f"{row.waits_for} ({reason}: {row.service})")
            continue
        layout, columns = data.row_layout(service_features(store, row.service))
        added = [name for name in layout.feast_features if name not in previous]
        previous = set(layout.feast_features)
        waiting = row.waits_for if added and all(name in layout.unused for name in added) else ""
        results[row.name] = AnonymousRowResult(row, layout, columns, waiting)
    trainable = [result for result in results.values() if result.fit is None and not result.waiting]
    for result in results.values():
        if result.waiting:
            log(f"anonymous {result.row.name}: not trained, {result.status}")

    def fit(result: AnonymousRowResult) -> AnonymousFit:
        assert result.layout is not None and result.columns is not None
        return fit_row(data, result.columns, result.layout, seed=settings.seed)

    with ThreadPoolExecutor(max_workers=max(1, min(int(settings.threads), len(trainable) or 1))) as pool:
        for result, fitted in zip(trainable, pool.map(fit, trainable)):
            result.fit = fitted
    for result in results.values():
        if result.fit is not None:
            figures = ranking_figures(data.truth[PRIMARY], result.fit.scores[PRIMARY])
            log(f"anonymous {result.row.name}: " + "  ".join(f"{metric} {figures[metric]:.4f}" for metric in METRICS))
    return results


def ablation_document(data: AnonymousData, results: dict[str, AnonymousRowResult], seed: int) -> dict[str, Any]:
    fitted = {name: result for name, result in results.items() if result.fit is not None}
    units = {name: CandidateRankingTestUnits(data.truth[PRIMARY], result.fit.scores[PRIMARY]) for name, result in fitted.items()}
    weights = bootstrap_weights(len(data.truth[PRIMARY]), seed=seed)
    whole = np.ones((1, weights.shape[1]))
    table = []
    for name, result in results.items():
        entry: dict[str, Any] = {
            "name": name,
            "description": result.row.description,
            "service": result.row.service,
            "status": result.status,
        }
        if result.fit is not None:
            for split, key in ((PRIMARY, "test"), (EVERY_TEST_SESSION, "test_all_visitors"), ("validation", "validation")):
                entry[key] = round_figures(ranking_figures(data.truth[split], result.fit.scores[split]))
            for baseline in BASELINE_ROWS:
                if baseline == name or baseline not in units:
                    continue
                changes = {}
                for metric in METRICS:
                    values, base = metric_of(units[name], metric, weights), metric_of(units[baseline], metric, weights)
                    point = relative_change(
                        float(metric_of(units[name], metric, whole)[0]), float(metric_of(units[baseline], metric, whole)[0])
                    )
                    changes[metric] = {"change": round_figure(point), "change_95pct": relative_change_interval(values, base)}
                entry[f"vs_{baseline}"] = changes
            if result.fit.trained is not None:
                entry["trees"] = result.fit.trained.trees
                entry["train_seconds"] = round(result.fit.trained.seconds, 2)
                entry["model_columns"] = len(result.fit.layout.model_columns) if result.fit.layout else None
            if result.fit.prior is not None:
                entry["family_prior"] = round_figures(result.fit.prior)
        table.append(entry)
    ranked = [entry for entry in table if "test" in entry]
    best = max(ranked, key=lambda entry: (entry["validation"]["ndcg_at_3"], entry["name"]))["name"] if ranked else None
    return {"rows": table, "best_row_on_validation_ndcg_at_3": best}


# ---------------------------------------------------------------------------------------------
# the production model


def product_shares(
    settings: Settings, outcomes: pd.DataFrame, train_sessions: pd.Series
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Each product's add-one smoothed share of its family's outcomes in the training sessions,
    over the catalogue (dim_products); and the share of a product unknown at training time."""
    path = settings.marts_dir / "dim_products.parquet"
    if not path.is_file():
        raise TrainingSetError(f"{path} not found; run `clickintent build` first")
    catalogue = pd.read_parquet(path, columns=["product_id", "product_family"])
    train = outcomes[outcomes["web_session_id"].isin(set(train_sessions))].explode("outcome_product_ids")
    counts = train.dropna(subset=["outcome_product_ids"]).groupby("outcome_product_ids").size()
    shares: dict[str, dict[str, float]] = {}
    unseen: dict[str, float] = {}
    for family in families_of(catalogue["product_family"]):
        products = sorted(catalogue.loc[catalogue["product_family"] == family, "product_id"])
        family_counts = counts.reindex(products, fill_value=0)
        denominator = float(family_counts.sum() + len(products) + 1)  # +1: room for a product launched later
        shares[family] = {product: round((float(n) + 1) / denominator, 6) for product, n in family_counts.items()}
        unseen[family] = round(1 / denominator, 6)
    return shares, unseen


def production_result(
    store: Any, data: AnonymousData, results: dict[str, AnonymousRowResult], settings: Settings, log: Log
) -> AnonymousFit:
    """The production service's model: the ablation row with exactly its layout, else a new fit."""
    layout, columns = data.row_layout(service_features(store, PRODUCTION_SERVICE))
    for result in results.values():
        if result.fit is not None and result.layout is not None and result.layout.to_json() == layout.to_json():
            log(f"anonymous: production model ({PRODUCTION_SERVICE}) is ablation row {result.row.name}'s fit")
            return result.fit
    log(f"anonymous: training the production model ({PRODUCTION_SERVICE})")
    return fit_row(data, columns, layout, seed=settings.seed)


def save_production(settings: Settings, data: AnonymousData, fit: AnonymousFit, *, version: str) -> dict[str, Any]:
    assert fit.trained is not None and fit.layout is not None
    _, outcomes = read_session_outcomes(settings)
    shares, unseen = product_shares(settings, outcomes, data.frames["train"]["web_session_id"])
    metrics = {split: round_figures(ranking_figures(data.truth[split], fit.scores[split])) for split in EVALUATED}
    training = {
        "seed": settings.seed,
        "threads": XGBOOST_THREADS,
        "boosting": ANONYMOUS_BOOSTING.to_json(),
        "best_iteration": fit.trained.best_iteration,
        "trees": fit.trained.trees,
        "best_validation_score": fit.trained.best_validation_score,
        "eval_metric": fit.trained.eval_metric,
        "seconds": round(fit.trained.seconds, 2),
        "split_rule": "by session end, with the conversion model's boundaries; sessions whose 14-day window reaches into the next split are dropped",
        "evaluation_population": "test: sessions of visitors with no login before the validation split starts",
    }
    trained_on = {key: value for key, value in data.data_versions.items() if key in version_fields(fit.layout)}
    extra: dict[str, Any] = {
        "taxonomy_vectors": {name: labels for name, labels in data.element_labels.items() if name in fit.layout.feast_features},
        **trained_on,
    }
    directory = save_anonymous_ranker(
        settings.models_dir,
        fit.trained.booster,
        fit.layout,
        families=data.families,
        product_shares=shares,
        unseen_product_share=unseen,
        family_prior=fit_popularity(data).prior,
        service=PRODUCTION_SERVICE,
        version=version,
        data_window=data.training_set.window(),
        metrics=metrics,
        training=training,
        extra=extra,
    )
    return {
        # Where it is served from: a staged run's folder is renamed into the models directory on commit.
        "directory": str(_committed_location(directory)),
        "feature_service": PRODUCTION_SERVICE,
        "version": version,
        "metrics": metrics,
        "trees": fit.trained.trees,
        "unused_features": dict(fit.layout.unused),
        "trained_on": trained_on,
        "reason_examples": reason_examples(settings, data),
    }


def reason_examples(settings: Settings, data: AnonymousData, count: int = 3) -> list[dict[str, Any]]:
    """The stored ranker's families and reasons for a few test sessions that had an outcome."""
    ranker = AnonymousRanker.load(settings.models_dir)
    test = data.frames[PRIMARY]
    chosen = test[data.truth[PRIMARY].any(axis=1)].head(count)
    examples = []
    for row in chosen.to_dict(orient="records"):
        values = {key: None if is_missing(row.get(key)) else row.get(key) for key in ranker.row_keys if key != FAMILY_COLUMN}
        probabilities = ranker.score_families(values)
        top = max(probabilities, key=probabilities.get)
        examples.append(
            {
                "web_session_id": row["web_session_id"],
                "outcome_families": [family for family in data.families if row[outcome_column(family)]],
                "probabilities": {family: round(p, 4) for family, p in probabilities.items()},
                "top_family": top,
                "reasons": [reason.to_json() for reason in ranker.reasons(values, top)],
            }
        )
    return examples


# ---------------------------------------------------------------------------------------------
# the stage


def _committed_location(directory: Path) -> Path:
    """The model folder's path once its rank run commits (production.staged_models stages inside the models directory)."""
    staging = directory.parent
    return staging.parent / directory.name if is_temporary(staging) else directory


def run_anonymous_stage(
    settings: Settings, *, log: Log | None = None, store: Any = None, rows: Sequence[AnonymousRow] = ANONYMOUS_ROWS, production: bool = True
) -> dict[str, Any]:
    """The ablation (<reports>/anonymous_ranker.json) and the production model (<models>/anonymous_ranker/)."""
    from clickintent.features.store import feature_store

    log = log or quiet
    started = time.perf_counter()
    store = store or feature_store(settings)
    services = fetchable_services(store, rows)
    if not services:
        raise TrainingSetError(
            f"no anonymous ranker feature service is registered with built tables; run `clickintent features apply` (rows: {[row.name for row in rows]})"
        )
    data = load_anonymous_data(settings, store, services[-1], log)
    data.services = services
    fetched = time.perf_counter()
    results = fit_rows(settings, store, data, rows, log)
    document = ablation_document(data, results, settings.seed)
    fitted = time.perf_counter()
    if production:
        fit = production_result(store, data, results, settings, log)
        document["production"] = save_production(settings, data, fit, version=model_version(datetime.now(UTC)))
        document["production"]["ablation_row"] = next(
            (name for name, result in results.items() if result.fit is fit), "none (trained on its own service)"
        )
    document.update(
        {
            "metric_definitions": {
                "recall_at_k": "per test session with an outcome: the share of its outcome families among its k best-scored families; mean over those sessions",
                "ndcg_at_3": "binary-relevance NDCG of the 3 best-scored families, over the sessions with an outcome",
                "auc": "ROC AUC of P(family) over every (test session, family) row",
                "logloss": "binary cross-entropy of P(family) over every (test session, family) row",
                "test": "test sessions of visitors with no login before the validation split starts (never logged in during the training window)",
                "test_all_visitors": "every test session",
                "vs_<row>": f"(row - baseline) / |baseline| on `test`, with the paired bootstrap ({BOOTSTRAP_RESAMPLES} resamples of test sessions, the same for both rows) 2.5 and 97.5 percentiles",
                "label": "fct_anonymous_session_outcomes.outcome: an application started or submitted by the same anonymous_id, or a product opened by the customer it logs in as, within 14 days after the session",
            },
            "splits": data.training_set.window(),
            "outcome_rate_per_family": {
                split: {family: round(float(rate), 5) for family, rate in zip(data.families, data.truth[split].mean(axis=0))}
                for split in ("train", PRIMARY)
            },
            "seed": settings.seed,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": {
                "fetch_and_encode": round(fetched - started, 2),
                "fits": round(fitted - fetched, 2),
                "total": round(time.perf_counter() - started, 2),
            },
        }
    )
    path = Path(settings.reports_dir) / REPORT_FILE
    atomic_write_json(path, document)
    document["path"] = str(path)
    return document


def run_anonymous_step(settings: Settings, *, log: Log | None = None, store: Any = None, ablation: bool = True) -> dict[str, Any]:
    """The stage as one step of `clickintent rank stage` (`ablation`: every row, else only the
    production row's fit): a short summary; skipped, with the reason, when the label mart has not
    been built yet (a data directory from before it)."""
    log = log or quiet
    rows = ANONYMOUS_ROWS if ablation else tuple(row for row in ANONYMOUS_ROWS if row.name == PRODUCTION_ROW)
    try:
        document = run_anonymous_stage(settings, log=log, store=store, rows=rows)
    except AnonymousLabelsMissing as error:
        log(f"anonymous ranker skipped: {error}")
        return {"skipped": str(error)}
    production = document.get("production", {})
    return {
        "report": document["path"],
        "model": production.get("directory", str(Path(settings.models_dir) / ANONYMOUS_RANKER_DIR)),
        "version": production.get("version"),
        "seconds": document["seconds"]["total"],
    }


def print_lines(document: dict[str, Any]) -> list[str]:
    """The ablation table as console lines (the CLI's summary)."""

    def figure(value: Any) -> str:
        return "     -" if value is None else f"{value:.4f}"

    lines = []
    for row in document["rows"]:
        test = row.get("test", {})
        change = row.get("vs_b_session_aggregates", {}).get("ndcg_at_3", {})
        interval = change.get("change_95pct")
        versus = f"  NDCG@3 vs b {change['change']:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else ""
        lines.append(
            f"{row['name']:<22} R@1 {figure(test.get('recall_at_1'))}  R@3 {figure(test.get('recall_at_3'))}  "
            f"NDCG@3 {figure(test.get('ndcg_at_3'))}  AUC {figure(test.get('auc'))}  {row['status']}{versus}"
        )
    production = document.get("production")
    if production:
        lines.append(f"model: {production['directory']} ({production['feature_service']}, version {production['version']})")
    lines.append(f"-> {document['path']}")
    return lines

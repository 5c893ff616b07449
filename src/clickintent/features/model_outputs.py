"""Feature tables written by the model stages (taxonomy labels, encoder embeddings), for Feast.

dbt owns the marts; these tables come from Python stages after it. Each is declared here once,
with its Arrow schema, column descriptions and Feast metadata, so the Feast definitions are
generated from this declaration as the marts' are from the dbt manifest, and a test checks the
files the stages write against it.

Customer-level web tables are as-of rows: one per customer per moment a linked web session
starts to count, aggregating only sessions counted by then (recency-weighted, half-life 14
days), so Feast's point-in-time join never lets a label or an embedding from the future into a
training row. Linked means a row of dbt's fct_web_login_links: the session logged in (it counts
from its end), or a login stitched it (it counts from the login, weighted by its own age), the
only web-to-customer links the design allows. Journey tables (a visitor's sessions, a customer's
app sessions) are as-of rows per session end over the trailing 30 days, as their dbt marts are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.artifacts import atomic_file
from clickintent.features.manifest import ENTITY_JOIN_KEYS, FeastMart, MartColumn, duckdb_type_to_feast
from clickintent.features.partitioned_marts import mart_location
from clickintent.settings import Settings

log = logging.getLogger(__name__)

RECENCY_HALF_LIFE_DAYS = 14.0
# The journey tables' trailing window, the one of their dbt marts (fct_visitor_journeys,
# fct_customer_app_intent).
JOURNEY_WINDOW_DAYS = 30.0

_FLOATS = pa.list_(pa.float32())
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class OutputColumn:
    name: str
    type: pa.DataType
    description: str
    feature: bool = True


@dataclass(frozen=True)
class ModelOutput:
    """A Parquet table a model stage writes under the data directory, served by Feast."""

    feature_view: str
    relative_path: str  # under the data directory
    description: str
    entity: str
    timestamp_field: str
    ttl_days: int
    columns: tuple[OutputColumn, ...]
    # Pushed to online (and offline) when a live web session logs in (the service does this).
    pushable: bool = False

    def path(self, settings: Settings) -> Path:
        return settings.data_dir / self.relative_path

    def write(self, settings: Settings, table: pa.Table, **parquet_options: object) -> Path:
        """Write `table` atomically to this output's file; it must have the declared schema."""
        if not table.schema.equals(self.arrow_schema()):
            raise ValueError(
                f"{self.feature_view}: the table to write does not have the declared schema:\n{table.schema}\nexpected:\n{self.arrow_schema()}"
            )
        path = self.path(settings)
        with atomic_file(path) as temporary:
            pq.write_table(table, temporary, **parquet_options)
        return path

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(column.name, column.type) for column in self.columns])

    def as_feast_mart(self) -> FeastMart:
        join_key = ENTITY_JOIN_KEYS[self.entity]
        columns = tuple(
            MartColumn(
                name=column.name,
                data_type=_duckdb_name(column.type),
                description=column.description,
                feast_type=duckdb_type_to_feast(_duckdb_name(column.type)),
                is_feature=column.feature and column.name not in (join_key, self.timestamp_field),
            )
            for column in self.columns
        )
        return FeastMart(
            model=self.feature_view,
            description=self.description,
            role="features",
            feature_view=self.feature_view,
            entities=(self.entity,),
            timestamp_field=self.timestamp_field,
            ttl_days=self.ttl_days,
            online=True,
            columns=columns,
            original_file_path=f"src/clickintent/features/model_outputs.py ({self.feature_view})",
            data_relative_path=self.relative_path,
            push=self.pushable,
        )


def _duckdb_name(arrow_type: pa.DataType) -> str:
    if pa.types.is_list(arrow_type):
        return _duckdb_name(arrow_type.value_type) + "[]"
    return {
        pa.string(): "varchar",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.int64(): "bigint",
        pa.bool_(): "boolean",
    }.get(arrow_type, "timestamp with time zone" if pa.types.is_timestamp(arrow_type) else str(arrow_type))


SESSION_INTENT = ModelOutput(
    feature_view="session_intent",
    relative_path="features/session_intent.parquet",
    description=(
        "One row per session (web and app): its intent from the distilled classifier and from the teacher "
        "(LLM or offline backend), as taxonomy node ids and top-node distributions."
    ),
    entity="session",
    timestamp_field="session_end_ts",
    ttl_days=90,
    columns=(
        OutputColumn("session_id", pa.string(), "Session id.", feature=False),
        OutputColumn("session_end_ts", _TS, "Last event of the session, UTC.", feature=False),
        OutputColumn("platform", pa.string(), "web or app."),
        OutputColumn("distilled_intent_node_id", pa.string(), "Most likely taxonomy node, distilled classifier."),
        OutputColumn("distilled_intent_top_node_id", pa.string(), "Its top-level node."),
        OutputColumn("distilled_intent_confidence", pa.float32(), "Classifier probability of that node."),
        OutputColumn("distilled_intent_top_node_probs", _FLOATS, "Classifier probability per top-level node (taxonomy order)."),
        OutputColumn("teacher_intent_node_id", pa.string(), "Teacher's primary node."),
        OutputColumn("teacher_intent_top_node_id", pa.string(), "Teacher's primary top-level node."),
        OutputColumn("teacher_intent_top_node_onehot", _FLOATS, "Teacher's top-level node as one-hot (taxonomy order)."),
        OutputColumn("taxonomy_version", pa.string(), "Taxonomy version of both labels."),
    ),
)

# Columns every customer-level output shares: one row per customer per linked web session end.
_CUSTOMER_KEY = OutputColumn("customer_id", pa.string(), "Customer key.", feature=False)
_AS_OF = OutputColumn("as_of_ts", _TS, "End of the linked web session this row was computed at, UTC.", feature=False)
_LATEST_WEB_SESSION = OutputColumn("latest_web_session_id", pa.string(), "The latest linked web session.", feature=False)
_N_LINKED_WEB_SESSIONS = OutputColumn("n_linked_web_sessions", pa.int64(), "Linked web sessions up to as_of_ts.")

CUSTOMER_WEB_INTENT_LABELS = ModelOutput(
    feature_view="customer_web_intent_labels",
    relative_path="features/customer_web_intent_labels.parquet",
    description=(
        "One row per customer per linked web session end: intent labels of the customer's linked web "
        "sessions up to then, latest and recency-weighted (half-life 14 days), distilled and teacher."
    ),
    entity="customer",
    timestamp_field="as_of_ts",
    ttl_days=30,
    pushable=True,
    columns=(
        _CUSTOMER_KEY,
        _AS_OF,
        _LATEST_WEB_SESSION,
        _N_LINKED_WEB_SESSIONS,
        OutputColumn("web_distilled_top_node_id", pa.string(), "Distilled top-level intent of the latest linked web session."),
        OutputColumn("web_distilled_top_node_probs", _FLOATS, "Recency-weighted mean of distilled top-node probabilities."),
        OutputColumn("web_teacher_top_node_id", pa.string(), "Teacher top-level intent of the latest linked web session."),
        OutputColumn("web_teacher_top_node_dist", _FLOATS, "Recency-weighted share of teacher top-level intents."),
    ),
)

# Not a Feast feature (the views never read it): it records which encoder wrote the file, so a
# ranker trained on the file can name that encoder in its card and the service can refuse to
# start beside another one (serving.artifacts.check_compatibility).
ENCODER_VERSION_DESCRIPTION = "Model card version of the encoder that produced the embeddings (the same in every row of a file)."

SESSION_EMBEDDING = ModelOutput(
    feature_view="session_embedding",
    relative_path="embeddings/session_embeddings.parquet",
    description="One row per session (web and app): its embedding from the self-supervised session encoder.",
    entity="session",
    timestamp_field="session_end_ts",
    ttl_days=90,
    columns=(
        OutputColumn("session_id", pa.string(), "Session id.", feature=False),
        OutputColumn("platform", pa.string(), "web or app."),
        OutputColumn("customer_id", pa.string(), "Customer key when the session is authenticated.", feature=False),
        OutputColumn("session_end_ts", _TS, "Last event of the session, UTC.", feature=False),
        OutputColumn("embedding", _FLOATS, "Session embedding."),
        OutputColumn("encoder_version", pa.string(), ENCODER_VERSION_DESCRIPTION, feature=False),
    ),
)

CUSTOMER_WEB_EMBEDDING = ModelOutput(
    feature_view="customer_web_embedding",
    relative_path="embeddings/customer_web_embeddings.parquet",
    description=(
        "One row per customer per linked web session end: recency-weighted mean (half-life 14 days) of "
        "the embeddings of the customer's linked web sessions up to then."
    ),
    entity="customer",
    timestamp_field="as_of_ts",
    ttl_days=30,
    pushable=True,
    columns=(
        _CUSTOMER_KEY,
        _AS_OF,
        OutputColumn("web_embedding", _FLOATS, "Recency-weighted mean embedding of linked web sessions."),
        _N_LINKED_WEB_SESSIONS,
        _LATEST_WEB_SESSION,
        OutputColumn("encoder_version", pa.string(), ENCODER_VERSION_DESCRIPTION, feature=False),
    ),
)

VISITOR_JOURNEY_EMBEDDING = ModelOutput(
    feature_view="visitor_journey_embedding",
    relative_path="embeddings/visitor_journey_embeddings.parquet",
    description=(
        "One row per visitor (cookie or app device, '<platform>:<anonymous_id>') per session end: "
        "recency-weighted means (half-life 14 days) of the embeddings and of the distilled top-node "
        "probabilities of the visitor's sessions that ended in the 30 days up to then (the rows of "
        "fct_visitor_journeys)."
    ),
    entity="visitor",
    timestamp_field="as_of_ts",
    ttl_days=30,
    columns=(
        OutputColumn("visitor_id", pa.string(), "Visitor key, '<platform>:<anonymous_id>'.", feature=False),
        OutputColumn("as_of_ts", _TS, "End of the visitor's session this row was computed at, UTC.", feature=False),
        OutputColumn("journey_embedding", _FLOATS, "Recency-weighted mean embedding of the visitor's sessions in the window."),
        OutputColumn(
            "journey_distilled_top_node_probs",
            _FLOATS,
            "Recency-weighted mean of their distilled top-node probabilities (taxonomy order); null before the taxonomy stage.",
        ),
        OutputColumn("n_journey_sessions", pa.int64(), "The visitor's sessions in the window."),
        OutputColumn("latest_session_id", pa.string(), "The session whose end is as_of_ts.", feature=False),
        OutputColumn("encoder_version", pa.string(), ENCODER_VERSION_DESCRIPTION, feature=False),
    ),
)

CUSTOMER_APP_EMBEDDING = ModelOutput(
    feature_view="customer_app_embedding",
    relative_path="embeddings/customer_app_embeddings.parquet",
    description=(
        "One row per customer per app session end: recency-weighted means (half-life 14 days) of the "
        "embeddings and of the distilled top-node probabilities of the customer's app sessions (the "
        "app's own sign-in, any device) that ended in the 30 days up to then."
    ),
    entity="customer",
    timestamp_field="as_of_ts",
    ttl_days=30,
    columns=(
        _CUSTOMER_KEY,
        OutputColumn("as_of_ts", _TS, "End of the customer's app session this row was computed at, UTC.", feature=False),
        OutputColumn("app_embedding", _FLOATS, "Recency-weighted mean embedding of the customer's app sessions in the window."),
        OutputColumn(
            "app_distilled_top_node_probs",
            _FLOATS,
            "Recency-weighted mean of their distilled top-node probabilities (taxonomy order); null before the taxonomy stage.",
        ),
        OutputColumn("n_app_sessions", pa.int64(), "The customer's app sessions in the window."),
        OutputColumn("latest_app_session_id", pa.string(), "The app session whose end is as_of_ts.", feature=False),
        OutputColumn("encoder_version", pa.string(), ENCODER_VERSION_DESCRIPTION, feature=False),
    ),
)

MODEL_OUTPUTS: tuple[ModelOutput, ...] = (
    SESSION_INTENT,
    CUSTOMER_WEB_INTENT_LABELS,
    SESSION_EMBEDDING,
    CUSTOMER_WEB_EMBEDDING,
    VISITOR_JOURNEY_EMBEDDING,
    CUSTOMER_APP_EMBEDDING,
)


def ensure_model_output_files(settings: Settings) -> list[str]:
    """Write an empty, correctly typed table for every model output not produced yet.

    Feast needs each source to exist at apply time; before the taxonomy or encoder stage has
    run, its features are simply absent (nulls at retrieval). Returns the placeholders written.
    """
    written = []
    for output in MODEL_OUTPUTS:
        if not output.path(settings).is_file():
            output.write(settings, output.arrow_schema().empty_table())
            written.append(output.feature_view)
    return written


# ---------------------------------------------------------------------------------------------
# as-of aggregation


def recency_weighted_as_of(
    customer_ids: np.ndarray,
    end_ts: np.ndarray,
    vectors: np.ndarray,
    half_life_days: float = RECENCY_HALF_LIFE_DAYS,
    *,
    event_ts: np.ndarray | None = None,
    window_days: float | None = None,
) -> np.ndarray:
    """Row i: the recency-weighted mean of the vectors of rows j <= i of the same customer.

    Rows must be sorted by (customer, end); end is when a row starts to count (its as-of time).
    Weight of row j at row i: 0.5 ** ((end_i - event_j) / half-life), where event_j is when
    row j's vector was observed: its end, or `event_ts` where that is earlier (a web session
    stitched at a later login counts from the login, weighted by its own age). With
    `window_days`, only rows j with end_j >= end_i - window_days count (both ends included).
    Computed in one pass with decaying running sums, vectorised across customers by processing
    the k-th session of every customer together; a row leaving the window is subtracted.
    """
    if event_ts is not None and window_days is not None:
        raise ValueError("recency_weighted_as_of: event_ts and window_days cannot be combined (rows would leave out of order)")
    result = np.zeros_like(vectors, dtype=np.float64)
    if len(vectors) == 0:
        return result.astype(np.float32)
    starts = np.r_[True, customer_ids[1:] != customer_ids[:-1]]
    group = np.cumsum(starts) - 1
    first_row = np.flatnonzero(starts)
    rank = np.arange(len(vectors)) - first_row[group]
    seconds = end_ts.astype("datetime64[us]").astype(np.int64) / 1e6
    half_life_s = half_life_days * 86_400.0
    entry_weight = np.ones(len(vectors))
    if event_ts is not None:
        age = seconds - event_ts.astype("datetime64[us]").astype(np.int64) / 1e6
        if (age < 0).any():
            raise ValueError("recency_weighted_as_of: a row's event_ts is after its end_ts (it would count before it happened)")
        entry_weight = 0.5 ** (age / half_life_s)
    vectors = np.asarray(vectors, dtype=np.float64)
    running_sum = np.zeros((group[-1] + 1, vectors.shape[1]))
    running_weight = np.zeros(group[-1] + 1)
    last_seconds = np.zeros(group[-1] + 1)
    oldest = first_row.copy()  # per customer: the oldest row still in the window
    for k in range(int(rank.max()) + 1):
        rows = np.flatnonzero(rank == k)
        groups = group[rows]
        if k > 0:
            decay = 0.5 ** ((seconds[rows] - last_seconds[groups]) / half_life_s)
            running_sum[groups] *= decay[:, None]
            running_weight[groups] *= decay
        running_sum[groups] += vectors[rows] * entry_weight[rows, None]
        running_weight[groups] += entry_weight[rows]
        last_seconds[groups] = seconds[rows]
        if window_days is not None:
            window_start = seconds[rows] - window_days * 86_400.0
            while True:
                leaving = seconds[oldest[groups]] < window_start  # never the row itself
                if not leaving.any():
                    break
                old, their_groups = oldest[groups[leaving]], groups[leaving]
                weight = 0.5 ** ((seconds[rows[leaving]] - seconds[old]) / half_life_s)
                running_sum[their_groups] -= vectors[old] * weight[:, None]
                running_weight[their_groups] -= weight
                oldest[their_groups] += 1
        result[rows] = running_sum[groups] / running_weight[groups, None]
    return result.astype(np.float32)


def _one_row_per_customer_instant(table: pa.Table) -> pa.Table:
    """Two linked sessions ending at the same instant: keep the later row, which includes both
    (a point-in-time join needs one row per entity and timestamp)."""
    frame = table.select(["customer_id", "as_of_ts"]).to_pandas()
    keep = ~frame.duplicated(keep="last").to_numpy()
    return table.filter(pa.array(keep))


def _naive_utc(values: pd.Series) -> np.ndarray:
    """Timestamps as naive UTC datetime64 (what recency_weighted_as_of reads); a naive value is UTC."""
    stamps = pd.DatetimeIndex(pd.to_datetime(values))
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    return stamps.tz_localize(None).to_numpy()


def _utc_index(values: pd.Series) -> pd.DatetimeIndex:
    stamps = pd.DatetimeIndex(pd.to_datetime(values))
    return (stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")).floor("us")


def read_web_links(settings: Settings) -> pd.DataFrame | None:
    """dbt's web -> customer links (fct_web_login_links: session, customer, when it counts from),
    or None where the marts directory has none (a frame that is not this data directory's mart)."""
    path = mart_location(settings.marts_dir, "fct_web_login_links")
    if not path.exists():
        return None
    return pd.read_parquet(path, columns=["web_session_id", "customer_id", "counts_from_ts"])


def linked_web_rows(sessions: pd.DataFrame, links: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of `sessions` (session_id, platform, session_end_ts, ...) linked to a customer,
    with the link's customer_id and `as_of_ts`, when each starts to count; sorted by (customer,
    as_of_ts, session_end_ts, session_id), as recency_weighted_as_of reads them.

    The links are dbt's (fct_web_login_links: a login session counts from its end, a stitched
    one from its login). Without them, a web session carrying a customer_id (it logged in)
    is linked from its end, which is what dbt's login links say.
    """
    web = sessions[sessions["platform"] == "web"]
    if links is None:
        linked = web[web["customer_id"].notna()]
        # From the linked rows' own column: a Series assigned to an empty frame would bring its index.
        linked = linked.assign(as_of_ts=linked["session_end_ts"])
    else:
        linked = web.drop(columns=["customer_id"]).merge(
            links.rename(columns={"web_session_id": "session_id", "counts_from_ts": "as_of_ts"}), on="session_id", how="inner"
        )
    linked = linked.assign(as_of_ts=_utc_index(linked["as_of_ts"]), session_end_ts=_utc_index(linked["session_end_ts"]))
    return linked.sort_values(["customer_id", "as_of_ts", "session_end_ts", "session_id"], kind="stable").reset_index(drop=True)


def _top_node_order(settings: Settings) -> list[str]:
    from clickintent.taxonomy.model import Taxonomy

    return Taxonomy.load(settings.taxonomy_dir / "taxonomy.yaml").top_node_ids


def _strings(series: pd.Series) -> pa.Array:
    """A string column whose missing values (NaN after a left join, on pandas without a string
    dtype) become nulls instead of failing the Arrow conversion."""
    return pa.array(series, type=pa.string(), from_pandas=True)


def build_intent_feature_tables(settings: Settings) -> dict[str, int]:
    """session_intent and customer_web_intent_labels from the taxonomy stage's outputs; rows written."""
    top_nodes = _top_node_order(settings)
    position = {node: index for index, node in enumerate(top_nodes)}
    distilled = pq.read_table(settings.taxonomy_dir / "session_intents.parquet").to_pandas()
    teacher = pq.read_table(settings.taxonomy_dir / "teacher_labels.parquet", columns=["session_id", "primary_node_id"]).to_pandas()
    sessions = distilled.merge(teacher, on="session_id", how="left").sort_values("session_id", kind="stable")
    teacher_top = sessions["primary_node_id"].str.split(".").str[0]
    onehot = np.zeros((len(sessions), len(top_nodes)), dtype=np.float32)
    known = teacher_top.map(position)
    rows = np.flatnonzero(known.notna().to_numpy())
    onehot[rows, known.iloc[rows].astype(int).to_numpy()] = 1.0

    session_table = pa.table(
        {
            "session_id": sessions["session_id"].to_numpy(),
            "session_end_ts": sessions["session_end_ts"],
            "platform": sessions["platform"].to_numpy(),
            "distilled_intent_node_id": sessions["intent_node_id"].to_numpy(),
            "distilled_intent_top_node_id": sessions["intent_top_node_id"].to_numpy(),
            "distilled_intent_confidence": sessions["intent_confidence"].astype(np.float32).to_numpy(),
            "distilled_intent_top_node_probs": pa.array(list(sessions["intent_top_node_probs"]), _FLOATS),
            "teacher_intent_node_id": _strings(sessions["primary_node_id"]),
            "teacher_intent_top_node_id": _strings(teacher_top),
            "teacher_intent_top_node_onehot": pa.array(list(onehot), _FLOATS),
            "taxonomy_version": sessions["taxonomy_version"].to_numpy(),
        },
        schema=SESSION_INTENT.arrow_schema(),
    )
    SESSION_INTENT.write(settings, session_table, compression="zstd")

    linked = linked_web_rows(sessions, read_web_links(settings))
    customers = linked["customer_id"].to_numpy()
    as_of = _naive_utc(linked["as_of_ts"])
    ends = _naive_utc(linked["session_end_ts"])
    distilled_probs = np.stack(linked["intent_top_node_probs"].to_numpy()) if len(linked) else np.zeros((0, len(top_nodes)))
    teacher_dist = onehot[np.searchsorted(sessions["session_id"].to_numpy(), linked["session_id"].to_numpy())]
    customer_table = pa.table(
        {
            "customer_id": customers,
            "as_of_ts": pa.array(linked["as_of_ts"], _TS),
            "latest_web_session_id": linked["session_id"].to_numpy(),
            "n_linked_web_sessions": linked.groupby("customer_id").cumcount().to_numpy() + 1,
            "web_distilled_top_node_id": linked["intent_top_node_id"].to_numpy(),
            "web_distilled_top_node_probs": pa.array(
                list(recency_weighted_as_of(customers, as_of, distilled_probs, event_ts=ends)), _FLOATS
            ),
            "web_teacher_top_node_id": _strings(linked["primary_node_id"].str.split(".").str[0]),
            "web_teacher_top_node_dist": pa.array(list(recency_weighted_as_of(customers, as_of, teacher_dist, event_ts=ends)), _FLOATS),
        },
        schema=CUSTOMER_WEB_INTENT_LABELS.arrow_schema(),
    )
    customer_table = _one_row_per_customer_instant(customer_table)
    CUSTOMER_WEB_INTENT_LABELS.write(settings, customer_table, compression="zstd")
    return {SESSION_INTENT.feature_view: session_table.num_rows, CUSTOMER_WEB_INTENT_LABELS.feature_view: customer_table.num_rows}


# ---------------------------------------------------------------------------------------------
# journeys: a visitor's sessions, a customer's app sessions (the encoder stage writes both)


def _trailing_counts(group: np.ndarray, seconds: np.ndarray, window_days: float) -> np.ndarray:
    """Row i: the rows j <= i of its group with seconds_j >= seconds_i - window (rows sorted by
    (group, seconds)); one searchsorted over (group, milliseconds) packed into one integer."""
    if len(seconds) == 0:
        return np.zeros(0, dtype=np.int64)
    milliseconds = np.round((seconds - seconds.min()) * 1000).astype(np.int64)
    window_ms = int(round(window_days * 86_400_000))
    span = int(milliseconds.max()) + window_ms + 1  # a group's keys never reach the next group's
    keys = group.astype(np.int64) * span + milliseconds
    return np.arange(len(keys)) - np.searchsorted(keys, keys - window_ms, side="left") + 1


def _distilled_probs_by_session(settings: Settings, session_ids: np.ndarray) -> np.ndarray | None:
    """Each session's distilled top-node probabilities from session_intent (NaN rows for a session
    it lacks), or None before the taxonomy stage has written it."""
    path = SESSION_INTENT.path(settings)
    if not path.is_file():
        return None
    if "distilled_intent_top_node_probs" not in pq.read_schema(path).names:
        log.warning("%s has no distilled_intent_top_node_probs: the journey tables get no probabilities", path)
        return None
    table = pq.read_table(path, columns=["session_id", "distilled_intent_top_node_probs"]).to_pandas()
    if table.empty:
        return None
    probs = np.stack(table["distilled_intent_top_node_probs"].to_numpy()).astype(np.float64)
    position = pd.Series(np.arange(len(table)), index=table["session_id"].to_numpy()).reindex(session_ids).to_numpy()
    result = np.full((len(session_ids), probs.shape[1]), np.nan)
    known = ~np.isnan(position)
    result[known] = probs[position[known].astype(np.int64)]
    return result


def _journey_means(
    keys: np.ndarray, ends: np.ndarray, embeddings: np.ndarray, probs: np.ndarray | None
) -> tuple[np.ndarray, list[np.ndarray | None], np.ndarray]:
    """Per row (sorted by key, end): the windowed recency-weighted mean embedding, the same mean of
    the probabilities over the sessions that have them (None where none has), and the count."""
    mean_embedding = recency_weighted_as_of(keys, ends, embeddings, window_days=JOURNEY_WINDOW_DAYS)
    starts = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    seconds = ends.astype("datetime64[us]").astype(np.int64) / 1e6
    counts = _trailing_counts(np.cumsum(starts) - 1, seconds, JOURNEY_WINDOW_DAYS)
    if probs is None:
        return mean_embedding, [None] * len(keys), counts
    # mean of (probs where known, 0 elsewhere) over mean of "known": the mean over known sessions
    known = ~np.isnan(probs).any(axis=1)
    stacked = np.column_stack([np.where(known[:, None], probs, 0.0), known.astype(np.float64)])
    means = recency_weighted_as_of(keys, ends, stacked, window_days=JOURNEY_WINDOW_DAYS).astype(np.float64)
    share_known = means[:, -1]
    mean_probs = [(means[i, :-1] / share_known[i]).astype(np.float32) if share_known[i] > 1e-12 else None for i in range(len(keys))]
    return mean_embedding, mean_probs, counts


def _float_rows(vectors: np.ndarray | list) -> pa.Array:
    return pa.array([None if row is None else np.asarray(row, dtype=np.float32) for row in vectors], _FLOATS)


def write_journey_embedding_tables(settings: Settings, frame: pd.DataFrame, embeddings: np.ndarray, encoder_version: str) -> dict[str, int]:
    """visitor_journey_embedding and customer_app_embedding from the sessions' embeddings; rows written.

    `frame` holds fct_session_sequences rows (session_id, platform, anonymous_id, customer_id,
    session_end_ts) in the order of `embeddings`. Probabilities come from session_intent (the
    taxonomy stage, which runs first); before it, they are null. Each row is as of one session
    end, over the 30 days up to it, so nothing after as_of_ts counts.
    """
    from clickintent.features.visitors import visitor_id

    if len(frame) != len(embeddings):
        raise ValueError(f"{len(embeddings)} embeddings for {len(frame)} sessions")
    vectors = np.asarray(embeddings, dtype=np.float64).reshape(len(frame), -1)
    probs = _distilled_probs_by_session(settings, frame["session_id"].astype(str).to_numpy())
    sessions = pd.DataFrame(
        {
            "session_id": frame["session_id"].astype(str).to_numpy(),
            "platform": frame["platform"].astype(str).to_numpy(),
            "customer_id": frame["customer_id"].to_numpy(),
            "session_end_ts": _utc_index(frame["session_end_ts"]),
            "row": np.arange(len(frame)),
        }
    )
    if "anonymous_id" in frame.columns:
        sessions["visitor_id"] = [visitor_id(p, a) for p, a in zip(sessions["platform"], frame["anonymous_id"].astype(str))]
    else:
        raise ValueError("the sessions frame has no anonymous_id column: it must be fct_session_sequences rows")
    written = {}
    for output, key, selected, latest in (
        (VISITOR_JOURNEY_EMBEDDING, "visitor_id", np.ones(len(sessions), dtype=bool), "latest_session_id"),
        (
            CUSTOMER_APP_EMBEDDING,
            "customer_id",
            (sessions["platform"] == "app").to_numpy() & sessions["customer_id"].notna().to_numpy(),
            "latest_app_session_id",
        ),
    ):
        rows = sessions[selected].sort_values([key, "session_end_ts", "session_id"], kind="stable")
        keys = rows[key].astype(str).to_numpy()
        index = rows["row"].to_numpy()
        mean_embedding, mean_probs, counts = _journey_means(
            keys, _naive_utc(rows["session_end_ts"]), vectors[index], None if probs is None else probs[index]
        )
        embedding_column, probs_column, count_column = [column.name for column in output.columns[2:5]]
        table = pa.table(
            {
                key: pa.array(keys, pa.string()),
                "as_of_ts": pa.array(rows["session_end_ts"], _TS),
                embedding_column: _float_rows(list(mean_embedding)),
                probs_column: _float_rows(mean_probs),
                count_column: pa.array(counts, pa.int64()),
                latest: pa.array(rows["session_id"].to_numpy(), pa.string()),
                "encoder_version": pa.array([encoder_version] * len(rows), pa.string()),
            },
            schema=output.arrow_schema(),
        )
        # two sessions of one key ending at one instant (a customer's two devices): keep the row with both
        keep = ~pd.DataFrame({"key": keys, "ts": rows["session_end_ts"].to_numpy()}).duplicated(keep="last").to_numpy()
        table = table.filter(pa.array(keep))
        output.write(settings, table, compression="zstd")
        written[output.feature_view] = table.num_rows
    return written

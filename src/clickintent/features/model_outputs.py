"""Feature tables written by the model stages (taxonomy labels, encoder embeddings), for Feast.

dbt owns the marts; these tables come from Python stages after it. Each is declared here once,
with its Arrow schema, column descriptions and Feast metadata, so the Feast definitions are
generated from this declaration as the marts' are from the dbt manifest, and a test checks the
files the stages write against it.

Customer-level tables are as-of rows: one per customer per linked web session end, aggregating
only sessions that ended by then (recency-weighted, half-life 14 days), so Feast's point-in-time
join never lets a label or an embedding from the future into a training row. Linked means the
session carries a customer_id in dbt's sequence mart, i.e. it logged in: the only web-to-customer
link the design allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clickintent.artifacts import atomic_file
from clickintent.features.manifest import FeastMart, MartColumn, duckdb_type_to_feast
from clickintent.settings import Settings

RECENCY_HALF_LIFE_DAYS = 14.0

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
        join_key = {"session": "session_id", "customer": "customer_id"}[self.entity]
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

MODEL_OUTPUTS: tuple[ModelOutput, ...] = (SESSION_INTENT, CUSTOMER_WEB_INTENT_LABELS, SESSION_EMBEDDING, CUSTOMER_WEB_EMBEDDING)


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
    customer_ids: np.ndarray, end_ts: np.ndarray, vectors: np.ndarray, half_life_days: float = RECENCY_HALF_LIFE_DAYS
) -> np.ndarray:
    """Row i: the recency-weighted mean of the vectors of rows j <= i of the same customer.

    Rows must be sorted by (customer, end). Weight of row j at row i: 0.5 ** ((end_i - end_j) /
    half-life). Computed in one pass with decaying running sums, vectorised across customers by
    processing the k-th session of every customer together.
    """
    result = np.zeros_like(vectors, dtype=np.float64)
    if len(vectors) == 0:
        return result.astype(np.float32)
    starts = np.r_[True, customer_ids[1:] != customer_ids[:-1]]
    group = np.cumsum(starts) - 1
    rank = np.arange(len(vectors)) - np.flatnonzero(starts)[group]
    seconds = end_ts.astype("datetime64[us]").astype(np.int64) / 1e6
    half_life_s = half_life_days * 86_400.0
    running_sum = np.zeros((group[-1] + 1, vectors.shape[1]))
    running_weight = np.zeros(group[-1] + 1)
    last_seconds = np.zeros(group[-1] + 1)
    for k in range(int(rank.max()) + 1):
        rows = np.flatnonzero(rank == k)
        groups = group[rows]
        if k > 0:
            decay = 0.5 ** ((seconds[rows] - last_seconds[groups]) / half_life_s)
            running_sum[groups] *= decay[:, None]
            running_weight[groups] *= decay
        running_sum[groups] += vectors[rows]
        running_weight[groups] += 1.0
        last_seconds[groups] = seconds[rows]
        result[rows] = running_sum[groups] / running_weight[groups, None]
    return result.astype(np.float32)


def _one_row_per_customer_instant(table: pa.Table) -> pa.Table:
    """Two linked sessions ending at the same instant: keep the later row, which includes both
    (a point-in-time join needs one row per entity and timestamp)."""
    frame = table.select(["customer_id", "as_of_ts"]).to_pandas()
    keep = ~frame.duplicated(keep="last").to_numpy()
    return table.filter(pa.array(keep))


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

    linked = sessions[(sessions["platform"] == "web") & sessions["customer_id"].notna()].sort_values(
        ["customer_id", "session_end_ts", "session_id"], kind="stable"
    )
    customers = linked["customer_id"].to_numpy()
    ends = linked["session_end_ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    distilled_probs = np.stack(linked["intent_top_node_probs"].to_numpy()) if len(linked) else np.zeros((0, len(top_nodes)))
    teacher_dist = onehot[np.searchsorted(sessions["session_id"].to_numpy(), linked["session_id"].to_numpy())]
    customer_table = pa.table(
        {
            "customer_id": customers,
            "as_of_ts": linked["session_end_ts"],
            "latest_web_session_id": linked["session_id"].to_numpy(),
            "n_linked_web_sessions": linked.groupby("customer_id").cumcount().to_numpy() + 1,
            "web_distilled_top_node_id": linked["intent_top_node_id"].to_numpy(),
            "web_distilled_top_node_probs": pa.array(list(recency_weighted_as_of(customers, ends, distilled_probs)), _FLOATS),
            "web_teacher_top_node_id": _strings(linked["primary_node_id"].str.split(".").str[0]),
            "web_teacher_top_node_dist": pa.array(list(recency_weighted_as_of(customers, ends, teacher_dist)), _FLOATS),
        },
        schema=CUSTOMER_WEB_INTENT_LABELS.arrow_schema(),
    )
    customer_table = _one_row_per_customer_instant(customer_table)
    CUSTOMER_WEB_INTENT_LABELS.write(settings, customer_table, compression="zstd")
    return {SESSION_INTENT.feature_view: session_table.num_rows, CUSTOMER_WEB_INTENT_LABELS.feature_view: customer_table.num_rows}

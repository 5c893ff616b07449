"""Session embeddings: every session in batch to Parquet, one live session online, customers' web embedding.

Outputs (Parquet, UTC timestamps, each written atomically; paths in encoder/paths.py):
- `<data_dir>/embeddings/session_embeddings.parquet`: one row per session of fct_session_sequences
  (web and app): session_id, platform, customer_id, session_end_ts, embedding float[64], encoder_version;
- `<data_dir>/embeddings/customer_web_embeddings.parquet`: one row per customer per moment a
  linked web session starts to count (as_of_ts): the recency-weighted mean (half-life 14 days) of
  the embeddings of the customer's linked web sessions counted by as_of_ts, plus how many there
  were and the latest one's id. Links are dbt's fct_web_login_links (a login session counts from
  its end, a session stitched at a later login from that login), the only web-to-customer links
  the design allows. As-of rows make the feature point-in-time correct in Feast: a tile shown at
  t sees only sessions counted by t;
- `visitor_journey_embedding` and `customer_app_embedding` (features/model_outputs.py): a
  visitor's and a customer's app sessions over 30 days, as of each session end.

Both carry `encoder_version`, the model card version of the encoder that wrote them (the same in
every row; not a Feast feature): the ranker stage records it in its card, so the service can tell
a ranker trained on another encoder's embeddings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from clickintent.encoder.artifacts import StoredEncoder, load_encoder_files
from clickintent.encoder.batching import collate, length_bucketed_batches
from clickintent.encoder.device import autocast, embed_batch_size, to_device
from clickintent.encoder.live_forward import LiveForward
from clickintent.encoder.paths import EncoderPaths
from clickintent.encoder.tokens import (
    MiniLMQueryEmbedder,
    QueryVectorSource,
    TokenizedSessions,
    tokenize_events,
    tokenize_sequences,
)
from clickintent.settings import Settings

# features.model_outputs.RECENCY_HALF_LIFE_DAYS; that module is imported lazily (it loads Feast,
# ~4 s), so the online path that imports this one stays light. A test checks the two agree.
HALF_LIFE_DAYS = 14.0


class SessionEmbedder:
    """A loaded encoder that embeds mart rows in batch or one live session from raw events."""

    def __init__(
        self, stored: StoredEncoder, query_vectors: QueryVectorSource | None = None, threads: int | None = 1, device: str = "cpu"
    ) -> None:
        self.model = stored.model.eval()
        # Batch embedding only (embed_tokens); one live session always runs on CPU.
        self.device = device
        self._device_model: torch.nn.Module | None = None
        self.vocabulary = stored.vocabulary
        self.card = stored.card
        self.query_vectors = query_vectors if self.model.config.query_dim else None
        # One session at a time (the service) runs in NumPy where the model allows: the same
        # arithmetic without torch's per-operator overhead (encoder/live_forward.py).
        self._live_forward = LiveForward(self.model) if LiveForward.supports(self.model) else None
        if threads is not None:
            # More than one intra-op thread per worker makes small per-request models 10-100x
            # slower under load on this machine (docs/design.md, "Known traps").
            torch.set_num_threads(threads)

    @property
    def dim(self) -> int:
        return self.model.config.embedding_dim

    def embed_tokens(
        self, tokens: TokenizedSessions, batch_size: int | None = None, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embeddings (n, dim) of tokenized sessions, `batch_size` sessions a step (None: the
        device's default, clickintent.encoder.device.embed_batch_size)."""
        out = np.zeros((tokens.n_sessions, self.dim), dtype=np.float32)
        batch_size = embed_batch_size(batch_size, self.device)
        model = self.model
        if self.device == "cuda":
            if self._device_model is None:
                self._device_model = copy.deepcopy(self.model).to(self.device).eval()
            model = self._device_model
        with torch.inference_mode():
            for sessions in length_bucketed_batches(tokens.lengths, batch_size, None):
                batch, _ = collate(tokens, sessions)
                with autocast(self.device):
                    embedded = model.embed(to_device(batch, self.device))
                out[sessions] = embedded.float().cpu().numpy()
                if progress:
                    progress(len(sessions))
        return out

    def embed_frame(self, frame: pd.DataFrame, batch_size: int | None = None, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings (n, dim) of fct_session_sequences rows, in frame order."""
        tokens = tokenize_sequences(frame, self.vocabulary, self.model.config.max_len, self.query_vectors)
        return self.embed_tokens(tokens, batch_size, progress)

    def embed_events(self, events: Iterable[dict]) -> np.ndarray:
        """The embedding (dim,) of one live session given as raw events in the contract's shape."""
        tokens = tokenize_events(events, self.vocabulary, self.model.config.max_len, self.query_vectors)
        if self._live_forward is not None:
            return self._live_forward.embed(tokens.channels, tokens.query_index, tokens.query_vectors)
        batch, _ = collate(tokens, np.zeros(1, dtype=np.int64))
        with torch.inference_mode():
            return self.model.embed(batch)[0].numpy()


def load_session_embedder(
    settings: Settings,
    *,
    model_dir: Path | None = None,
    threads: int | None = 1,
    embed_unseen_queries: bool = True,
    device: str = "cpu",
) -> SessionEmbedder:
    """Load the stored encoder (safetensors + JSON, no pickle): `<models dir>/encoder/`, or
    `model_dir` where the caller keeps its models elsewhere (the service's model folders).

    Query vectors come from the settings' query-vector cache; with `embed_unseen_queries` a query
    missing from it is embedded by MiniLM (loaded on first need, about 6 s once, then a few ms per
    query); without, it contributes nothing (latency-bound use). `device` ("cpu" or "cuda") is
    where batch embedding runs.
    """
    paths = EncoderPaths(settings)
    stored = load_encoder_files(model_dir if model_dir is not None else paths.model_dir)
    source = MiniLMQueryEmbedder(paths.query_cache, allow_model=embed_unseen_queries) if stored.model.config.query_dim else None
    return SessionEmbedder(stored, source, threads=threads, device=device)


def read_sequences(path: Path) -> pd.DataFrame:
    """The sequence mart (a file, or its directory of days), in session_id order: the days'
    files keep no order of their own, and training and the embeddings' rows follow this one."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} not found: build the dbt marts first (`clickintent build`)")
    return pd.read_parquet(path).sort_values("session_id", kind="stable", ignore_index=True)


def _utc(values: pd.Series) -> pd.Series:
    """UTC timestamps at microsecond precision (the declared Parquet type; a naive value is UTC)."""
    stamps = pd.to_datetime(values)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return stamps.dt.floor("us")


def _float_lists(vectors: np.ndarray) -> pa.Array:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]).cast(pa.list_(pa.float32()))


def _encoder_versions(encoder_version: str, rows: int) -> pa.Array:
    if not isinstance(encoder_version, str) or not encoder_version.strip():
        raise ValueError(
            f"encoder_version must name the encoder that produced the embeddings (its model card version), got {encoder_version!r}"
        )
    return pa.array([encoder_version] * rows, pa.string())


def session_embedding_table(frame: pd.DataFrame, embeddings: np.ndarray, encoder_version: str) -> pa.Table:
    """The session_embedding feature table (schema declared in features/model_outputs.py)."""
    from clickintent.features.model_outputs import SESSION_EMBEDDING

    return pa.table(
        {
            "session_id": pa.array(frame["session_id"].astype(str).to_numpy(), pa.string()),
            "platform": pa.array(frame["platform"].astype(str).to_numpy(), pa.string()),
            "customer_id": pa.array(frame["customer_id"].where(frame["customer_id"].notna(), None).tolist(), pa.string()),
            "session_end_ts": pa.array(_utc(frame["session_end_ts"]), pa.timestamp("us", tz="UTC")),
            "embedding": _float_lists(embeddings),
            "encoder_version": _encoder_versions(encoder_version, len(frame)),
        },
        schema=SESSION_EMBEDDING.arrow_schema(),
    )


def customer_web_embeddings(
    frame: pd.DataFrame, embeddings: np.ndarray, half_life_days: float = HALF_LIFE_DAYS, links: pd.DataFrame | None = None
) -> pd.DataFrame:
    """As-of recency-weighted means of each customer's linked web session embeddings.

    Row per customer per moment a linked web session starts to count: sum_j w_j e_j / sum_j w_j
    over the customer's linked web sessions j counted by then, w_j = 0.5 ** ((as_of - end_j) /
    half_life), the same aggregation (one shared function) as the customer-level intent labels.
    `links` are dbt's (fct_web_login_links, with stitched sessions counting from their login);
    without them, a web session carrying a customer_id is linked from its end.
    """
    from clickintent.features.model_outputs import linked_web_rows, recency_weighted_as_of

    sessions = pd.DataFrame(
        {
            "session_id": frame["session_id"].astype(str).to_numpy(),
            "platform": frame["platform"].astype(str).to_numpy(),
            "customer_id": frame["customer_id"].to_numpy(),
            "session_end_ts": pd.DatetimeIndex(_utc(frame["session_end_ts"])),
            "row": np.arange(len(frame)),
        }
    )
    rows = linked_web_rows(sessions, links)
    customers = rows["customer_id"].astype(str).to_numpy()
    # a DatetimeIndex keeps the time zone even with no linked session (identity-free mode);
    # an empty array of Timestamps would come back naive
    as_of = pd.DatetimeIndex(rows["as_of_ts"]).tz_convert("UTC")
    ends = pd.DatetimeIndex(rows["session_end_ts"]).tz_convert("UTC").tz_localize(None).to_numpy()
    vectors = np.asarray(embeddings, dtype=np.float64)[rows["row"].to_numpy()].reshape(len(rows), embeddings.shape[1])
    weighted = recency_weighted_as_of(customers, as_of.tz_localize(None).to_numpy(), vectors, half_life_days, event_ts=ends)
    result = pd.DataFrame(
        {
            "customer_id": customers,
            "as_of_ts": as_of,
            "web_embedding": list(weighted.astype(np.float32)),
            "n_linked_web_sessions": rows.groupby("customer_id", sort=False).cumcount().to_numpy() + 1,
            "latest_web_session_id": rows["session_id"].to_numpy(),
        }
    )
    # Two linked sessions of one customer counting from the same instant (a login stitching
    # several): keep the row with all of them (a point-in-time join needs one row per entity and timestamp).
    return result.drop_duplicates(["customer_id", "as_of_ts"], keep="last").reset_index(drop=True)


def customer_embedding_table(customers: pd.DataFrame, dim: int, encoder_version: str) -> pa.Table:
    """The customer_web_embedding feature table (schema declared in features/model_outputs.py)."""
    from clickintent.features.model_outputs import CUSTOMER_WEB_EMBEDDING

    vectors = np.stack(customers["web_embedding"].to_numpy()) if len(customers) else np.zeros((0, dim), np.float32)
    return pa.table(
        {
            "customer_id": pa.array(customers["customer_id"].to_numpy(), pa.string()),
            "as_of_ts": pa.array(_utc(customers["as_of_ts"]) if len(customers) else [], pa.timestamp("us", tz="UTC")),
            "web_embedding": _float_lists(vectors),
            "n_linked_web_sessions": pa.array(customers["n_linked_web_sessions"].to_numpy(), pa.int64()),
            "latest_web_session_id": pa.array(customers["latest_web_session_id"].to_numpy(), pa.string()),
            "encoder_version": _encoder_versions(encoder_version, len(customers)),
        },
        schema=CUSTOMER_WEB_EMBEDDING.arrow_schema(),
    )


@dataclass(frozen=True)
class EmbedSummary:
    sessions: int
    customers: int
    customer_rows: int
    seconds: float
    sessions_per_second: float
    session_path: Path
    customer_path: Path


def write_embedding_tables(
    frame: pd.DataFrame, embeddings: np.ndarray, settings: Settings, encoder_version: str
) -> tuple[Path, Path, pd.DataFrame]:
    """Both feature tables, each written atomically; returns paths and customer rows.

    `encoder_version` is the producing encoder's card version, stored in every row of both."""
    if len(frame) != len(embeddings):
        raise ValueError(f"{len(embeddings)} embeddings for {len(frame)} sessions")
    from clickintent.features.model_outputs import (
        CUSTOMER_WEB_EMBEDDING,
        SESSION_EMBEDDING,
        read_web_links,
        write_journey_embedding_tables,
    )

    session_table = session_embedding_table(frame, embeddings, encoder_version)
    customers = customer_web_embeddings(frame, embeddings, links=read_web_links(settings))
    customer_table = customer_embedding_table(customers, embeddings.shape[1], encoder_version)
    session_path = SESSION_EMBEDDING.write(settings, session_table)
    customer_path = CUSTOMER_WEB_EMBEDDING.write(settings, customer_table)
    # the visitors' journeys and the customers' app sessions (visitor_journey_embedding, customer_app_embedding)
    write_journey_embedding_tables(settings, frame, embeddings, encoder_version)
    return session_path, customer_path, customers


def embed_tokens_with_progress(embedder: SessionEmbedder, tokens: TokenizedSessions, batch_size: int | None, progress: bool) -> np.ndarray:
    if not progress:
        return embedder.embed_tokens(tokens, batch_size)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("embedding sessions", total=tokens.n_sessions)
        return embedder.embed_tokens(tokens, batch_size, lambda n: bar.advance(task, n))


def embed_all(
    settings: Settings,
    *,
    sequences: Path | None = None,
    batch_size: int | None = None,
    threads: int = 1,
    progress: bool = True,
    device: str = "cpu",
) -> EmbedSummary:
    """Embed every session of the sequence mart (or of `sequences`) and write both Parquet outputs.

    `device` is "cpu" or "cuda" (clickintent.encoder.device.resolve_device); `batch_size` None is
    its default (clickintent.encoder.device.embed_batch_size)."""
    import time

    frame = read_sequences(sequences or EncoderPaths(settings).sequences)
    embedder = load_session_embedder(settings, threads=threads, embed_unseen_queries=True, device=device)
    started = time.perf_counter()
    tokens = tokenize_sequences(frame, embedder.vocabulary, embedder.model.config.max_len, embedder.query_vectors)
    if isinstance(embedder.query_vectors, MiniLMQueryEmbedder):
        embedder.query_vectors.save()
    embeddings = embed_tokens_with_progress(embedder, tokens, batch_size, progress)
    seconds = time.perf_counter() - started
    session_path, customer_path, customers = write_embedding_tables(frame, embeddings, settings, embedder.card["version"])
    return EmbedSummary(
        sessions=len(frame),
        customers=int(customers["customer_id"].nunique()) if len(customers) else 0,
        customer_rows=len(customers),
        seconds=seconds,
        sessions_per_second=len(frame) / max(seconds, 1e-9),
        session_path=session_path,
        customer_path=customer_path,
    )

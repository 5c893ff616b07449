"""Sessions of the dbt mart as flat event arrays, for vectorised work over every session.

`SessionBatch` keeps one row per session (ids, platform, customer, times) and the events of all
sessions as parallel flat arrays with the index of their session: a 1M-event world is a few
numpy arrays, and per-session sums are one `np.add.at` / sparse matrix away.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clickintent.settings import Settings
from clickintent.taxonomy.inputs import TaxonomyInputError, sequences_path
from clickintent.taxonomy.text_keys import normalize_query

SCALAR_COLUMNS = ("session_id", "platform", "anonymous_id", "customer_id", "session_start_ts", "session_end_ts", "n_events")
LIST_COLUMNS = ("page_paths", "event_types", "dwell_ms", "search_queries")


@dataclass
class SessionBatch:
    sessions: pd.DataFrame  # one row per session, SCALAR_COLUMNS, in session_id order
    event_session: np.ndarray  # int64, session row of each event
    page_path: np.ndarray  # object
    event_type: np.ndarray  # object
    dwell_ms: np.ndarray  # float64, 0 where missing
    search_query: np.ndarray  # object, normalised (normalize_query), None where not a search
    offsets: np.ndarray  # int64, events of session i are [offsets[i], offsets[i+1])

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def n_events(self) -> int:
        return len(self.event_session)

    @classmethod
    def from_table(cls, table: pa.Table) -> SessionBatch:
        missing = [name for name in (*SCALAR_COLUMNS, *LIST_COLUMNS) if name not in table.column_names]
        if missing:
            raise TaxonomyInputError(f"the session mart lacks column(s) {', '.join(missing)}; rebuild it with `clickintent build`")
        table = table.sort_by("session_id")
        sessions = table.select(list(SCALAR_COLUMNS)).to_pandas()
        paths = table.column("page_paths").combine_chunks()
        offsets = paths.offsets.to_numpy().astype(np.int64)
        offsets = offsets - offsets[0]
        lengths = np.diff(offsets)
        event_session = np.repeat(np.arange(len(sessions), dtype=np.int64), lengths)

        def flat(name: str) -> pa.Array:
            values = pc.list_flatten(table.column(name).combine_chunks())
            if len(values) != len(event_session):
                raise TaxonomyInputError(f"the session mart's {name} arrays do not have one value per event")
            return values

        dwell = flat("dwell_ms").to_numpy(zero_copy_only=False)
        dwell = np.nan_to_num(np.asarray(dwell, dtype=np.float64), nan=0.0)
        raw_queries = flat("search_queries").to_pylist()
        cache: dict[str, str | None] = {}
        queries = np.array(
            [None if query is None else cache.setdefault(query, normalize_query(query)) for query in raw_queries], dtype=object
        )
        return cls(
            sessions=sessions,
            event_session=event_session,
            page_path=np.asarray(flat("page_paths").to_pylist(), dtype=object),
            event_type=np.asarray(flat("event_types").to_pylist(), dtype=object),
            dwell_ms=np.clip(dwell, 0, None),
            search_query=queries,
            offsets=offsets,
        )

    @classmethod
    def load(cls, settings: Settings) -> SessionBatch:
        path = sequences_path(settings)
        if not path.exists():
            raise TaxonomyInputError(f"no session mart at {path}: run `clickintent build` (dbt) first")
        # in session_id order, the mart's: the seeded samples follow it (a mart by day is not in it)
        table = pq.read_table(path, columns=[*SCALAR_COLUMNS, *LIST_COLUMNS]).sort_by("session_id")
        return cls.from_table(table)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SessionBatch:
        """From a DataFrame shaped like fct_session_sequences (tests, small fixtures)."""
        return cls.from_table(pa.Table.from_pandas(frame, preserve_index=False))

    def subset(self, rows: np.ndarray) -> SessionBatch:
        """The sessions at `rows` (sorted), with their events."""
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        lengths = ends - starts
        index = np.concatenate([np.arange(start, end) for start, end in zip(starts, ends)]) if len(rows) else np.zeros(0, np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return SessionBatch(
            sessions=self.sessions.iloc[rows].reset_index(drop=True),
            event_session=np.repeat(np.arange(len(rows), dtype=np.int64), lengths),
            page_path=self.page_path[index],
            event_type=self.event_type[index],
            dwell_ms=self.dwell_ms[index],
            search_query=self.search_query[index],
            offsets=offsets,
        )

    def events(self, row: int, titles: Mapping[str, str | None] | None = None) -> list[dict[str, Any]]:
        """Session `row` as event dicts (the contract's names) for render_session_text or the
        online classifier; page titles from `titles` when given."""
        start, end = self.offsets[row], self.offsets[row + 1]
        platform = self.sessions["platform"].iat[row]
        return [
            {
                "event_type": self.event_type[index],
                "page_path": self.page_path[index],
                "page_title": (titles or {}).get(self.page_path[index]),
                "dwell_ms": self.dwell_ms[index],
                "search_query": self.search_query[index],
                "platform": platform,
            }
            for index in range(start, end)
        ]

    def ends_before(self, moment: pd.Timestamp | None) -> np.ndarray:
        """True for each session that ends before `moment` (every session when it is None)."""
        if moment is None:
            return np.ones(len(self.sessions), dtype=bool)
        return (pd.to_datetime(self.sessions["session_end_ts"], utc=True) < moment).to_numpy()

    def events_before(self, moment: pd.Timestamp | None) -> np.ndarray:
        """True for each event of a session that ends before `moment`."""
        return self.ends_before(moment)[self.event_session]

    def pages_before(self, moment: pd.Timestamp | None) -> set[str]:
        """The pages seen by the sessions that end before `moment`: what a taxonomy fitted on
        them knew of."""
        return {page for page in pd.unique(self.page_path[self.events_before(moment)]) if page is not None}

    def row_of(self) -> dict[str, int]:
        return {session_id: row for row, session_id in enumerate(self.sessions["session_id"])}

    def query_frequency(self) -> pd.Series:
        """Searches per normalised query."""
        present = self.search_query[pd.notna(self.search_query)]
        return pd.Series(present, dtype=object).value_counts()


def seeded_sample(batch: SessionBatch, size: int, seed: int, *, platforms: tuple[str, ...] = ("web",), min_events: int = 1) -> np.ndarray:
    """Rows of `size` sessions drawn without replacement, reproducibly for a seed."""
    eligible = np.flatnonzero(batch.sessions["platform"].isin(platforms).to_numpy() & (batch.sessions["n_events"].to_numpy() >= min_events))
    if size >= len(eligible):
        return eligible
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(eligible, size=size, replace=False))

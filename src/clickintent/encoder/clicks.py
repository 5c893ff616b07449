"""Three-column click data (session id, item id, unix time) for the next-item benchmark.

The format is the one session-rec and GRU4Rec use for YOOCHOOSE (RecSys Challenge 2015): a
header line, then one click per line, tab or comma separated. Column names are matched
case-insensitively (SessionId / ItemId / Time); with other names the first three columns are
read in that order.

Protocol (the usual one for session-based recommendation, Ludewig & Jannach 2018):
- items are indexed on the training file; test clicks on items never seen in training are
  dropped, then test sessions left with fewer than two clicks are dropped;
- every prefix of a test session is a prediction: given clicks 1..i, rank all training items
  for click i+1 (so a session of n clicks gives n-1 predictions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clickintent.encoder.ragged import RaggedSessions

_NAME_ALIASES = {
    "session": ("sessionid", "session_id", "session"),
    "item": ("itemid", "item_id", "item"),
    "time": ("time", "timestamp", "ts", "unix_time"),
}


class ClickDataError(ValueError):
    """The click file is missing, malformed or has no usable rows."""


def read_clicks(path: Path) -> pd.DataFrame:
    """Clicks as a frame (session: str, item: str, time: float seconds), sorted by session then time."""
    path = Path(path)
    if not path.is_file():
        raise ClickDataError(f"click file {path} does not exist")
    with path.open("r", encoding="utf-8") as handle:
        header = handle.readline()
    if not header.strip():
        raise ClickDataError(f"click file {path} is empty")
    separator = "\t" if "\t" in header else ","
    frame = pd.read_csv(path, sep=separator, dtype=str)
    if frame.shape[1] < 3:
        raise ClickDataError(
            f"click file {path}: expected three columns (session id, item id, unix time) separated by "
            f"tab or comma, found {frame.shape[1]}: {list(frame.columns)}"
        )
    lowered = {column.lower(): column for column in frame.columns}
    picked = {}
    for role, aliases in _NAME_ALIASES.items():
        picked[role] = next((lowered[a] for a in aliases if a in lowered), None)
    if any(value is None for value in picked.values()):
        picked = dict(zip(("session", "item", "time"), frame.columns[:3]))
    clicks = pd.DataFrame(
        {
            "session": frame[picked["session"]].astype(str),
            "item": frame[picked["item"]].astype(str),
            "time": pd.to_numeric(frame[picked["time"]], errors="coerce"),
        }
    )
    bad = clicks["time"].isna() | clicks["session"].isna() | clicks["item"].isna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # +1 header, +1 one-based
        raise ClickDataError(
            f"click file {path}: {int(bad.sum())} rows with a missing id or a non-numeric time "
            f"(first at line {first}); the time column must be unix seconds"
        )
    if clicks.empty:
        raise ClickDataError(f"click file {path} has a header but no clicks")
    # Stable sort: clicks with equal times keep their file order, as in the source logs.
    return clicks.sort_values(["session", "time"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class ClickSessions(RaggedSessions):
    """Sessions as item-index sequences: flat arrays plus offsets (session k is [offsets[k], offsets[k+1]))."""

    items: np.ndarray  # int64 item index, 1..n_items (0 is reserved for padding)
    times: np.ndarray  # float64 unix seconds
    offsets: np.ndarray  # int64, len = n_sessions + 1
    session_end: np.ndarray  # float64, last click time of each session

    def subset(self, sessions: np.ndarray) -> ClickSessions:
        sessions = np.asarray(sessions, dtype=np.int64)
        starts, ends = self.offsets[sessions], self.offsets[sessions + 1]
        index = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(sessions) else np.zeros(0, np.int64)
        lengths = ends - starts
        return ClickSessions(
            items=self.items[index],
            times=self.times[index],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            session_end=self.session_end[sessions],
        )


@dataclass(frozen=True)
class ItemIndex:
    """Dense item ids 1..n built on the training clicks (0 is padding)."""

    ids: np.ndarray  # raw item id of index k at position k-1

    @property
    def n_items(self) -> int:
        return len(self.ids)

    @classmethod
    def fit(cls, clicks: pd.DataFrame) -> ItemIndex:
        return cls(ids=np.sort(clicks["item"].unique()))

    def encode(self, items: pd.Series) -> np.ndarray:
        """Index of each item, 0 where the item is unknown."""
        position = np.searchsorted(self.ids, items.to_numpy())
        position = np.clip(position, 0, len(self.ids) - 1)
        known = self.ids[position] == items.to_numpy()
        return np.where(known, position + 1, 0).astype(np.int64)


def to_sessions(clicks: pd.DataFrame, index: ItemIndex, min_length: int = 1) -> tuple[ClickSessions, dict[str, int]]:
    """Encode clicks; drop clicks on unknown items, then sessions shorter than `min_length`.

    Returns the sessions (ordered by their last click time, so a split "by time" is a slice)
    and counts of what was dropped, for the report.
    """
    encoded = index.encode(clicks["item"])
    kept = clicks.loc[encoded > 0].assign(item_index=encoded[encoded > 0])
    lengths = kept.groupby("session", sort=False)["item_index"].transform("size")
    kept = kept.loc[lengths >= min_length]
    end = kept.groupby("session", sort=False)["time"].transform("max")
    kept = kept.assign(session_end=end).sort_values(["session_end", "session", "time"], kind="stable")
    session_codes, _ = pd.factorize(kept["session"], sort=False)
    lengths = np.bincount(session_codes) if len(session_codes) else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    sessions = ClickSessions(
        items=kept["item_index"].to_numpy(np.int64),
        times=kept["time"].to_numpy(np.float64),
        offsets=offsets,
        session_end=kept["session_end"].to_numpy(np.float64)[offsets[1:] - 1] if len(lengths) else np.zeros(0),
    )
    report = {
        "clicks": int(len(clicks)),
        "clicks_on_unknown_items_dropped": int((encoded == 0).sum()),
        "sessions": int(clicks["session"].nunique()),
        "sessions_kept": int(sessions.n_sessions),
        "clicks_kept": int(len(sessions.items)),
    }
    return sessions, report


@dataclass(frozen=True)
class Prefixes:
    """Every prediction of the protocol: the prefix [start, end) of the flat test arrays and the target."""

    starts: np.ndarray  # flat index of the session's first click
    ends: np.ndarray  # exclusive end of the prefix: the target is items[end]
    targets: np.ndarray  # item index of the next click

    def __len__(self) -> int:
        return len(self.targets)


def all_prefixes(sessions: ClickSessions) -> Prefixes:
    starts, ends = [], []
    for k in range(sessions.n_sessions):
        first, last = sessions.offsets[k], sessions.offsets[k + 1]
        for end in range(first + 1, last):
            starts.append(first)
            ends.append(end)
    starts_array = np.asarray(starts, dtype=np.int64)
    ends_array = np.asarray(ends, dtype=np.int64)
    return Prefixes(starts=starts_array, ends=ends_array, targets=sessions.items[ends_array])

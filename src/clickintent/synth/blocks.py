"""Compact, index-based session and event arrays that the generators hand to the assembly.

Strings are attached only at the very end (tables.py); until then a page is an index into the
catalog, an id is a (namespace, counter) pair, and a customer is a person index.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

WEB, APP = 0, 1  # platform codes, in contract order
BOT_INTENT = 14  # session intent code for bots and junk (13 is 'none')


@dataclass
class SessionBlock:
    """One row per generated (true) session."""

    person: np.ndarray  # int64 global person index, -1 for bots and junk
    anon_ns: np.ndarray  # int8 id namespace of the anonymous_id (cookie, device, crawler, junk)
    anon_counter: np.ndarray  # int64 counter of the anonymous_id within its namespace
    platform: np.ndarray  # int8 WEB | APP
    device: np.ndarray  # int8 into DEVICES
    start: np.ndarray  # int64 us since window start (first event)
    end: np.ndarray  # int64 (last event)
    intent: np.ndarray  # int8 the intent that drove it; 13 none, 14 bot
    intents_mask: np.ndarray  # int32 bit per intent present in the session
    source: np.ndarray  # int16 entry source (behaviour.SOURCES), -1 for none
    is_bot: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.start)


@dataclass
class EventBlock:
    """One row per event; `session` indexes the SessionBlock it was generated with."""

    session: np.ndarray  # int64
    ts: np.ndarray  # int64 us since window start
    event_type: np.ndarray  # int8 into behaviour.EVENT_TYPES
    page: np.ndarray  # int32 into the catalog
    query: np.ndarray  # int32 into the query vocabulary, -1 if not a search
    dwell_ms: np.ndarray  # int64
    authenticated: np.ndarray  # bool: customer_id is set on this event

    def __len__(self) -> int:
        return len(self.ts)


def concat_sessions(blocks: list[SessionBlock]) -> SessionBlock:
    return SessionBlock(**{f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(SessionBlock)})


def concat_events(blocks: list[EventBlock], session_offsets: list[int]) -> EventBlock:
    columns = {f.name: np.concatenate([getattr(b, f.name) for b in blocks]) for f in fields(EventBlock) if f.name != "session"}
    columns["session"] = np.concatenate([b.session + offset for b, offset in zip(blocks, session_offsets)])
    return EventBlock(**columns)

"""Entry point: generate the synthetic financial-services world and write it.

    summary = generate_world(settings, target_events=1_000_000)

writes the five raw tables of the event contract to `settings.raw_dir` and the ground truth
(visitor_intents, session_intents, event_sessions) to `settings.ground_truth_dir`, each set
atomically. The same seed and target give identical tables.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.table import Table as RichTable

from clickintent.artifacts import atomic_write_text
from clickintent.events.contract import RAW_TABLES
from clickintent.events.loader import replace_table_set
from clickintent.events.partitions import WORLD_RECORD, write_event_batch
from clickintent.settings import Settings
from clickintent.synth.blocks import concat_events, concat_sessions
from clickintent.synth.chunk import ChunkResult, generate_chunk
from clickintent.synth.context import build_world_model
from clickintent.synth.conversions import Conversions
from clickintent.synth.customers import Snapshots
from clickintent.synth.launch import Launch, add_launch
from clickintent.synth.tables import (
    conversions_table,
    customers_table,
    events_tables,
    identities,
    products_table,
    session_intents_table,
    tile_impressions_table,
    visitor_intents_table,
)
from clickintent.synth.timeline import DAY, WINDOW_DAYS, WINDOW_START_EPOCH_US
from clickintent.synth.visitors import Visitors

# Measured: people generate about this many events each (web, app and their share of bots),
# so target_events / EVENTS_PER_PERSON people give roughly target_events events.
EVENTS_PER_PERSON = 45.0
CHUNK_PEOPLE = 25_000  # people per independently seeded chunk (bounds memory at 10M events)
MIN_PEOPLE = 200


@dataclass
class World:
    raw: dict[str, pa.Table]
    ground_truth: dict[str, pa.Table]
    summary: WorldSummary


@dataclass(frozen=True)
class WorldSummary:
    seed: int
    target_events: int
    rows: dict[str, int]  # per raw table
    visitors: int  # people with at least one event
    customers: int  # distinct customer ids in the customers table
    bots: int  # anonymous ids of crawlers and scanners
    sessions: int  # true sessions, bots included
    bot_sessions: int
    ground_truth_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        """Rows of the raw events table."""
        return self.rows["events"]

    def as_table(self) -> RichTable:
        table = RichTable(title=f"synthetic world (seed {self.seed}, target {self.target_events:,} events)")
        table.add_column("what")
        table.add_column("count", justify="right")
        for name, rows in self.rows.items():
            table.add_row(f"raw {name}", f"{rows:,}")
        for name, rows in self.ground_truth_rows.items():
            table.add_row(f"ground truth {name}", f"{rows:,}")
        table.add_row("visitors (people)", f"{self.visitors:,}")
        table.add_row("customers", f"{self.customers:,}")
        table.add_row("bot anonymous ids", f"{self.bots:,}")
        table.add_row("sessions (incl. bots)", f"{self.sessions:,}")
        table.add_row("bot sessions", f"{self.bot_sessions:,}")
        table.add_row("seconds", f"{self.seconds:.1f}")
        return table


def _concat(cls, parts):
    return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})


def people_for(target_events: int) -> int:
    if target_events <= 0:
        raise ValueError(f"target_events must be positive, got {target_events}")
    return max(MIN_PEOPLE, int(round(target_events / EVENTS_PER_PERSON)))


def build_world(seed: int, target_events: int = 1_000_000) -> World:
    """Generate the world in memory (nothing written)."""
    started = time.perf_counter()
    model = build_world_model(seed)
    n_people = people_for(target_events)
    chunks: list[ChunkResult] = []
    for index, first in enumerate(range(0, n_people, CHUNK_PEOPLE)):
        chunks.append(generate_chunk(model, index, min(CHUNK_PEOPLE, n_people - first), first))

    session_offsets = list(np.cumsum([0] + [len(c.sessions) for c in chunks[:-1]]))
    sessions = concat_sessions([c.sessions for c in chunks])
    events = concat_events([c.events for c in chunks], session_offsets)
    tile_session = np.concatenate([c.tile_session + off for c, off in zip(chunks, session_offsets)])
    tile_position = np.concatenate([c.tile_position for c in chunks])
    tile_product = np.concatenate([c.tile_product for c in chunks])
    tile_clicked = np.concatenate([c.tile_clicked for c in chunks])
    people = _concat(Visitors, [c.people for c in chunks])
    since = np.concatenate([c.since for c in chunks])
    conversions = _concat(Conversions, [c.conversions for c in chunks])
    snapshots = _concat(Snapshots, [c.snapshots for c in chunks])
    del chunks

    who = identities(seed, sessions, len(people))
    events_table, event_sessions = events_tables(model, events, sessions, who)
    del events
    raw = {
        "events": events_table,
        "products": products_table(),
        "customers": customers_table(snapshots, people, who),
        "conversions": conversions_table(seed, conversions, who),
        "tile_impressions": tile_impressions_table(seed, sessions, tile_session, tile_position, tile_product, tile_clicked, who),
    }
    ground_truth = {
        "visitor_intents": visitor_intents_table(sessions, people, since, who),
        "session_intents": session_intents_table(sessions, who),
        "event_sessions": event_sessions,
    }
    humans_seen = np.unique(sessions.person[sessions.person >= 0])
    summary = WorldSummary(
        seed=seed,
        target_events=target_events,
        rows={name: table.num_rows for name, table in raw.items()},
        visitors=len(humans_seen),
        customers=len(np.unique(snapshots.person)),
        bots=int(len(np.unique(who.anon_of_session[sessions.is_bot]))),
        sessions=len(sessions),
        bot_sessions=int(sessions.is_bot.sum()),
        ground_truth_rows={name: table.num_rows for name, table in ground_truth.items()},
        seconds=time.perf_counter() - started,
    )
    return World(raw=raw, ground_truth=ground_truth, summary=summary)


def generate_world(
    settings: Settings,
    target_events: int = 1_000_000,
    source_format: str = "contract",
    launch: Launch | None = None,
    days: int | None = None,
) -> WorldSummary:
    """Generate the world for settings.seed and write raw tables and ground truth (each set atomically).

    source_format: "contract", or a tracker's shape ("snowplow", "ga4", "segment") whose tables
    replace the contract's events (synth.formats). launch: a product family launched part way
    through the window, with an intent of its own (synth.launch); None: the world without one.
    days: write only the window's first `days` days, the events as day partitions
    (events.partitions) that `append_world_days` continues; None: the whole window, the events
    as one file."""
    from clickintent.synth.formats import shaped_raw_tables

    started = time.perf_counter()
    if days is not None:
        if source_format != "contract":
            raise ValueError(f"--days writes the contract's events as day partitions; the {source_format} shape is written whole")
        _check_days(days, 0)
    world = _world(settings.seed, target_events, launch)
    summary = world.summary
    if days is None:
        replace_table_set(shaped_raw_tables(world.raw, source_format), settings.raw_dir)
    else:
        tables = _tables_before(world.raw, days, without=("events",))
        events = _days_of(world.raw["events"], 0, days)
        replace_table_set(tables, settings.raw_dir)
        write_event_batch(events, settings.raw_dir)
        summary = dataclasses.replace(summary, rows={"events": events.num_rows, **{name: t.num_rows for name, t in tables.items()}})
    replace_table_set(world.ground_truth, settings.ground_truth_dir)
    if days is not None:  # what `append_world_days` continues
        launched = None if launch is None else dataclasses.asdict(launch)
        record = {"seed": settings.seed, "target_events": target_events, "launch": launched, "days": days}
        atomic_write_text(settings.raw_dir / WORLD_RECORD, json.dumps(record, indent=2))
    return dataclasses.replace(summary, seconds=time.perf_counter() - started)


def append_world_days(settings: Settings, days: int) -> WorldSummary:
    """Add the next `days` days of the world `generate_world(..., days=D)` wrote: their events as a
    new batch of day partitions, and the other tables as of the new last day. The same world (its
    seed, size and launch from the record beside the raw tables) is generated again, so the
    appended days are the days a longer generation would have written."""
    record_path = settings.raw_dir / WORLD_RECORD
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else None
    if record is None or record.get("days") is None:
        raise ValueError(
            f"no day-partitioned synthetic world in {settings.raw_dir} to append to: generate one with `clickintent generate --days N` first"
        )
    started = time.perf_counter()
    written = int(record["days"])
    _check_days(days, written)
    launch = Launch(**record["launch"]) if record.get("launch") else None
    world = _world(int(record["seed"]), int(record["target_events"]), launch)
    appended = _days_of(world.raw["events"], written, written + days)
    tables = _tables_before(world.raw, written + days, without=("events",))
    replace_table_set(tables, settings.raw_dir, replaces=())  # the events' partitions are carried over
    write_event_batch(appended, settings.raw_dir)
    atomic_write_text(record_path, json.dumps({**record, "days": written + days}, indent=2))
    rows = {"events": appended.num_rows, **{name: table.num_rows for name, table in tables.items()}}
    return dataclasses.replace(world.summary, rows=rows, seconds=time.perf_counter() - started)


def _world(seed: int, target_events: int, launch: Launch | None) -> World:
    world = build_world(seed, target_events)
    return world if launch is None else add_launch(world, launch, people_for(target_events))


def _check_days(days: int, written: int) -> None:
    if days < 1 or written + days > WINDOW_DAYS:
        raise ValueError(f"days must be 1 to {WINDOW_DAYS - written} (the world spans {WINDOW_DAYS} days, {written} written), got {days}")


def _day_index(table: pa.Table, column: str) -> np.ndarray:
    epoch_us = pc.cast(table[column], pa.int64()).to_numpy()
    return (epoch_us - WINDOW_START_EPOCH_US) // DAY


def _days_of(events: pa.Table, first: int, end: int) -> pa.Table:
    """The events of window days [first, end)."""
    day = _day_index(events, "event_ts")
    return events.filter((day >= first) & (day < end))


def _tables_before(raw: dict[str, pa.Table], end: int, without: tuple[str, ...]) -> dict[str, pa.Table]:
    """Each raw table's rows before window day `end`, by its event-time column (products whole)."""
    out = {}
    for name, table in raw.items():
        if name in without:
            continue
        timed = [column.name for column in RAW_TABLES[name].columns if column.event_time]
        out[name] = table.filter(_day_index(table, timed[0]) < end) if timed else table
    return out

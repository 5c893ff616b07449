"""Load raw tables from Parquet or CSV, validate them against the event contract, install atomically.

Validation is all-or-nothing: every file is checked before anything is written, and the raw
directory is replaced in one rename, so a rejected load (or a crash half-way) leaves the
previous raw tables exactly as they were.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from clickintent.events.contract import (
    EARLIEST_EVENT_TIME,
    ID_PATTERN,
    MAX_FUTURE_SKEW,
    MAX_ID_CHARS,
    RAW_TABLES,
    TEXT_PATTERN,
    Column,
    Table,
    event_time_problem,
)
from clickintent.events.csv_files import CsvDialect, CsvReadError, sniff_csv
from clickintent.events.partitions import WORLD_RECORD, write_event_batch

# Tables a load must provide; the others default to empty (a source without tile impressions
# still builds sessions and web-intent features). A tracker-shaped source has its events in its
# own files (events.shapes), so a load for it needs no contract events.
REQUIRED_TABLES = ("events", "products")
# How many problems one error message lists before it summarises the rest.
MAX_REPORTED_PROBLEMS = 5


@dataclass(frozen=True)
class Problem:
    file: str
    row: int | None  # 1-based data row (the header is not a row); None for file-level problems
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}"


class ContractError(ValueError):
    """Raw input that does not meet the event contract. Lists the file, row and field of each problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = [str(problem) for problem in problems[:MAX_REPORTED_PROBLEMS]]
        more = len(problems) - len(shown)
        if more > 0:
            shown.append(f"... and {more} more problem(s)")
        super().__init__("raw input rejected:\n  " + "\n  ".join(shown))


# ---------------------------------------------------------------------------------------------
# reading


def find_table_file(source_dir: Path, table: str) -> Path | None:
    """`<table>.parquet` or `<table>.csv` in source_dir; both present is ambiguous, a symbolic link is refused."""
    candidates = [source_dir / f"{table}.{ext}" for ext in ("parquet", "csv")]
    for path in candidates:
        # A link could point anywhere readable (/etc/passwd): a source's files are its own.
        if path.is_symlink():
            raise ContractError([Problem(str(path), None, None, "is a symbolic link; copy the file itself into the source directory")])
    present = [path for path in candidates if path.is_file()]
    if len(present) > 1:
        raise ContractError([Problem(str(present[1]), None, None, f"both {present[0].name} and {present[1].name} exist; keep one")])
    return present[0] if present else None


def _csv_header(path: Path, dialect: CsvDialect) -> list[str]:
    """The CSV header's column names, refusing a file without a header row or with a repeated column."""
    if not dialect.header:
        raise ContractError(
            [Problem(str(path), None, None, "has no header row (its first row reads as data); the first row must name the columns")]
        )
    names = dialect.header_names(path)
    _refuse_repeated_columns(path, names)
    return names


def _refuse_repeated_columns(path: Path, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ContractError(
            [Problem(str(path), None, name, f"appears {names.count(name)} times in the header; keep one") for name in repeated]
        )


def _arrow_message(error: Exception) -> str:
    """pyarrow's parse error without the row it quotes (a row is data, and may be personal)."""
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    return re.sub(r"(got \d+)(?: columns?)?:.*", r"\1", message)


def read_table_file(path: Path, report: Callable[[str], None] | None = None) -> pa.Table:
    """A Parquet or CSV file as an Arrow table; a CSV's dialect is sniffed, and said to `report`."""
    if path.suffix == ".parquet":
        _refuse_repeated_columns(path, pq.read_schema(path).names)
        return pq.read_table(path)
    if path.suffix == ".csv":
        try:
            dialect = sniff_csv(path)
        except CsvReadError as error:
            raise ContractError([Problem(str(path), None, None, str(error).removeprefix(f"{path}: "))]) from None
        if report is not None:
            report(f"{path}: {dialect.describe()}")
        # Every column as text: types are decided by the contract, not guessed per file, so a
        # bad value is reported against its row instead of failing the whole read.
        header = _csv_header(path, dialect)
        convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True, null_values=[""])
        parse = pa_csv.ParseOptions(delimiter=dialect.delimiter, quote_char=dialect.quote or '"', escape_char=dialect.escape or False)
        try:
            return pa_csv.read_csv(
                path, read_options=pa_csv.ReadOptions(encoding=dialect.encoding), parse_options=parse, convert_options=convert
            )
        except pa.ArrowInvalid as error:
            raise ContractError(
                [Problem(str(path), None, None, f"cannot be read as CSV ({dialect.describe()}): {_arrow_message(error)}")]
            ) from None
    raise ContractError([Problem(str(path), None, None, "unsupported file type; use .parquet or .csv")])


# ---------------------------------------------------------------------------------------------
# validation


def _first_rows(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask)[:MAX_REPORTED_PROBLEMS]


def _to_numpy_mask(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _text(values: pa.ChunkedArray) -> pd.Series:
    """Values as text, with blank strings as missing (exports write empty cells as '')."""
    text = pd.Series(values.cast(pa.string()).to_pandas(), dtype="object")
    return text.where(text.str.strip().str.len() > 0)


def _conform_timestamp(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Values as UTC microsecond timestamps, and a mask of non-null inputs that did not parse."""
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        return values.cast(pa.timestamp("us", tz="UTC")), np.zeros(len(values), dtype=bool)
    if pa.types.is_date(values.type):
        converted = values.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
        return converted, np.zeros(len(values), dtype=bool)
    text = _text(values)
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    bad = (text.notna() & parsed.isna()).to_numpy()
    return pa.chunked_array([pa.Array.from_pandas(parsed, type=pa.timestamp("us", tz="UTC"))]), bad


def _conform_number(values: pa.ChunkedArray, integer: bool) -> tuple[pa.ChunkedArray, np.ndarray]:
    target = pa.int64() if integer else pa.float64()
    if pa.types.is_integer(values.type) or (pa.types.is_floating(values.type) and not integer):
        return values.cast(target), np.zeros(len(values), dtype=bool)
    if pa.types.is_boolean(values.type) or pa.types.is_timestamp(values.type):
        return values, np.ones(len(values), dtype=bool) & _to_numpy_mask(pc.is_valid(values))
    text = values.to_pandas() if pa.types.is_floating(values.type) else _text(values)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = (text.notna() & numbers.isna()).to_numpy()
    if integer:
        fractional = numbers.notna() & (numbers != np.floor(numbers))
        bad |= fractional.to_numpy()
        numbers = numbers.where(~fractional)
        array = pa.Array.from_pandas(numbers.astype("Int64"), type=pa.int64())
    else:
        array = pa.Array.from_pandas(numbers.astype("float64"), type=pa.float64())
    return pa.chunked_array([array]), bad


def _conform_bool(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    if pa.types.is_boolean(values.type):
        return values, np.zeros(len(values), dtype=bool)
    text = _text(values).str.strip().str.lower()
    mapping = {"true": True, "t": True, "1": True, "yes": True, "false": False, "f": False, "0": False, "no": False}
    parsed = text.map(mapping)
    bad = (text.notna() & parsed.isna()).to_numpy()
    return pa.chunked_array([pa.array(parsed.where(parsed.notna(), None).tolist(), type=pa.bool_())]), bad


def _conform_string(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) or pa.types.is_dictionary(values.type):
        return values.cast(pa.string()), np.zeros(len(values), dtype=bool)
    if pa.types.is_integer(values.type):  # integer identifiers are a common export format
        return values.cast(pa.string()), np.zeros(len(values), dtype=bool)
    return values, _to_numpy_mask(pc.is_valid(values))


def _type_label(column: Column) -> str:
    if pa.types.is_timestamp(column.type):
        return "a UTC timestamp (ISO 8601)"
    if pa.types.is_integer(column.type):
        return "an integer"
    if pa.types.is_floating(column.type):
        return "a number"
    if pa.types.is_boolean(column.type):
        return "a boolean"
    return "text"


def conform_column(values: pa.ChunkedArray, column: Column) -> tuple[pa.ChunkedArray, np.ndarray]:
    if pa.types.is_timestamp(column.type):
        return _conform_timestamp(values)
    if pa.types.is_integer(column.type):
        return _conform_number(values, integer=True)
    if pa.types.is_floating(column.type):
        return _conform_number(values, integer=False)
    if pa.types.is_boolean(column.type):
        return _conform_bool(values)
    return _conform_string(values)


def _shown(value: object) -> str:
    """A value for an error message: repr, cut short (a 10 MB title is not echoed whole)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _rule_problems(file: str, column: str, mask: np.ndarray, describe: Callable[[int], str]) -> list[Problem]:
    """The first rows `mask` marks, each described, and how many rows break the rule in all."""
    count = int(mask.sum())
    if count == 0:
        return []
    total = f"{count} row{'s' if count != 1 else ''} break{'s' if count == 1 else ''} this rule"
    return [Problem(file, int(row) + 1, column, f"{describe(int(row))} ({total})") for row in _first_rows(mask)]


def _mask(condition: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return _to_numpy_mask(pc.fill_null(condition, False))


def limit_problems(values: pa.ChunkedArray, column: Column, file: str, loaded_at: datetime) -> list[Problem]:
    """Rows of a conformed column that break the contract's limits (events.contract): identifiers,
    text lengths and characters, numeric maximum, the event time window."""
    problems: list[Problem] = []
    name = column.name
    if pa.types.is_string(values.type):
        lengths = pc.utf8_length(values)
        if column.identifier:
            blank = _mask(pc.equal(pc.utf8_trim_whitespace(values), ""))
            too_long = _mask(pc.greater(lengths, MAX_ID_CHARS))
            bad = _mask(pc.invert(pc.match_substring_regex(values, ID_PATTERN))) & ~blank & ~too_long
            problems += _rule_problems(
                file, name, blank, lambda row: f"{_shown(values[row].as_py())} is blank; an identifier needs a value"
            )
            problems += _rule_problems(
                file, name, too_long, lambda row: f"has {lengths[row].as_py()} characters; an identifier has at most {MAX_ID_CHARS}"
            )
            problems += _rule_problems(
                file, name, bad, lambda row: f"{_shown(values[row].as_py())} contains a space or a control character; identifiers cannot"
            )
            return problems
        if not column.nullable and column.max_chars is not None:  # page_path (held_product_ids may be empty)
            blank = _mask(pc.equal(pc.utf8_trim_whitespace(values), ""))
            problems += _rule_problems(file, name, blank, lambda _row: "is blank, but the contract requires a value")
        if column.max_chars is not None:
            too_long = _mask(pc.greater(lengths, column.max_chars))
            problems += _rule_problems(
                file, name, too_long, lambda row: f"has {lengths[row].as_py()} characters; at most {column.max_chars}"
            )
        control = _mask(pc.invert(pc.match_substring_regex(values, TEXT_PATTERN)))
        problems += _rule_problems(
            file, name, control, lambda row: f"{_shown(values[row].as_py())} contains a control character (newline, tab, NUL ...)"
        )
    if column.maximum is not None and (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        above = _mask(pc.greater(values, pa.scalar(column.maximum).cast(values.type)))
        problems += _rule_problems(file, name, above, lambda row: f"{values[row].as_py()!r} is above {column.maximum:g}")
    if column.event_time and pa.types.is_timestamp(values.type):
        earliest = pa.scalar(EARLIEST_EVENT_TIME, type=values.type)
        latest = pa.scalar(loaded_at + MAX_FUTURE_SKEW, type=values.type)
        outside = _mask(pc.or_(pc.less(values, earliest), pc.greater(values, latest)))
        problems += _rule_problems(
            file, name, outside, lambda row: f"{values[row].as_py().isoformat()} {event_time_problem(values[row].as_py(), loaded_at)}"
        )
    return problems


def validate_table(
    raw: pa.Table, table: Table, file: str, loaded_at: datetime | None = None, report: Callable[[str], None] | None = None
) -> tuple[pa.Table, list[Problem]]:
    """The table conformed to the contract's types and column order, and every problem found."""
    loaded_at = loaded_at or datetime.now(UTC)
    problems: list[Problem] = []
    repeated = sorted({name for name in raw.column_names if raw.column_names.count(name) > 1})
    for name in repeated:
        problems.append(Problem(file, None, name, f"appears {raw.column_names.count(name)} times in the header; keep one"))
    if repeated:
        return raw, problems
    missing = [name for name in table.column_names if name not in raw.column_names]
    for name in missing:
        problems.append(Problem(file, None, name, f"missing column (the {table.name} contract needs: {', '.join(table.column_names)})"))
    if missing:
        return raw, problems

    conformed: dict[str, pa.ChunkedArray] = {}
    for column in table.columns:
        source = raw.column(column.name)
        values, unparseable = conform_column(source, column)
        for row in _first_rows(unparseable):
            shown = source[int(row)].as_py()
            problems.append(Problem(file, int(row) + 1, column.name, f"{shown!r} is not {_type_label(column)}"))
        if unparseable.any():
            continue
        if not column.nullable:
            for row in _first_rows(_to_numpy_mask(pc.is_null(values))):
                problems.append(Problem(file, int(row) + 1, column.name, "is empty, but the contract requires a value"))
        if column.allowed is not None and column.unknown_as is not None:
            values = _keep_unknown_as(values, column, file, report)
        elif column.allowed is not None:
            outside = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(column.allowed))))
            because = f"; {column.allowed_because}" if column.allowed_because else ""
            for row in _first_rows(_to_numpy_mask(pc.fill_null(outside, False))):
                problems.append(
                    Problem(
                        file, int(row) + 1, column.name, f"{values[int(row)].as_py()!r} is not one of {', '.join(column.allowed)}{because}"
                    )
                )
        if column.reserved:
            taken = pc.fill_null(pc.is_in(values, value_set=pa.array(column.reserved)), False)
            for row in _first_rows(_to_numpy_mask(taken)):
                problems.append(
                    Problem(file, int(row) + 1, column.name, f"{values[int(row)].as_py()!r} is reserved: {column.reserved_because}")
                )
        if column.minimum is not None:
            below = pc.fill_null(pc.less(values, column.minimum), False)
            for row in _first_rows(_to_numpy_mask(below)):
                problems.append(Problem(file, int(row) + 1, column.name, f"{values[int(row)].as_py()!r} is below {column.minimum:g}"))
        problems.extend(limit_problems(values, column, file, loaded_at))
        conformed[column.name] = values

    if problems:
        return raw, problems
    result = pa.table(conformed, schema=table.arrow_schema())
    problems.extend(_duplicate_key_problems(result, table, file))
    return result, problems


def _keep_unknown_as(values: pa.ChunkedArray, column: Column, file: str, report: Callable[[str], None] | None) -> pa.ChunkedArray:
    """Values outside column.allowed replaced by column.unknown_as, and how many were, said to `report`."""
    outside = pc.fill_null(pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(column.allowed)))), False)
    count = pc.sum(outside).as_py() or 0
    if count and report is not None:
        kinds = pc.value_counts(pc.filter(values, outside)).to_pylist()
        named = ", ".join(f"{kind['values']!r} ({kind['counts']})" for kind in sorted(kinds, key=lambda kind: -kind["counts"])[:5])
        more = f" and {len(kinds) - 5} more" if len(kinds) > 5 else ""
        report(f"{file}: {count} row(s) with a {column.name} the contract does not know, kept as {column.unknown_as!r}: {named}{more}")
    return pc.if_else(outside, pa.scalar(column.unknown_as, values.type), values)


def _duplicate_key_problems(result: pa.Table, table: Table, file: str) -> list[Problem]:
    if not table.unique_key or result.num_rows == 0:
        return []
    keys = result.select(list(table.unique_key)).to_pandas()
    duplicated = keys.duplicated(keep="first").to_numpy()
    problems = []
    for row in _first_rows(duplicated):
        key = keys.iloc[int(row)]
        first = int(np.flatnonzero((keys == key).all(axis=1).to_numpy())[0])
        shown = ", ".join(f"{name}={key[name]!r}" for name in table.unique_key)
        problems.append(Problem(file, int(row) + 1, table.unique_key[0], f"duplicate key {shown} (first seen at row {first + 1})"))
    return problems


def required_tables(source_shape: str = "contract") -> tuple[str, ...]:
    """The tables a load for this source shape must provide."""
    from clickintent.events.shapes import SHAPE_EVENT_TABLES

    if source_shape == "contract":
        return REQUIRED_TABLES
    return tuple(name for name in REQUIRED_TABLES if name not in SHAPE_EVENT_TABLES["contract"])


def validate_tables(
    tables: dict[str, tuple[pa.Table, str]], report: Callable[[str], None] | None = None, source_shape: str = "contract"
) -> dict[str, pa.Table]:
    """Validate raw tables given as {table name: (table, file label)}; raise ContractError listing every problem."""
    problems: list[Problem] = []
    conformed: dict[str, pa.Table] = {}
    for name in required_tables(source_shape):
        if name not in tables:
            problems.append(Problem(f"{name}.parquet|csv", None, None, f"required table {name!r} is missing"))
    for name, (raw, label) in tables.items():
        if name not in RAW_TABLES:
            problems.append(Problem(label, None, None, f"{name!r} is not a table of the event contract ({', '.join(RAW_TABLES)})"))
            continue
        result, found = validate_table(raw, RAW_TABLES[name], label, report=report)
        problems.extend(found)
        conformed[name] = result
    if problems:
        raise ContractError(problems)
    for name, table in RAW_TABLES.items():
        conformed.setdefault(name, table.arrow_schema().empty_table())
    return conformed


def load_source_dir(source_dir: Path, report: Callable[[str], None] | None = None, source_shape: str = "contract") -> dict[str, pa.Table]:
    """Read and validate every contract table found in source_dir (Parquet or CSV); what was
    detected about each CSV, and each unknown event type kept as 'other', is said to `report`.
    For a tracker's source shape the contract's events are optional (its events are its own files)."""
    source_dir = _source_directory(source_dir)
    tables: dict[str, tuple[pa.Table, str]] = {}
    for name in RAW_TABLES:
        path = find_table_file(source_dir, name)
        if path is not None:
            tables[name] = (_read_source_table(path, report), str(path))
    return validate_tables(tables, report, source_shape)


def _source_directory(source_dir: Path) -> Path:
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ContractError([Problem(str(source_dir), None, None, "is not a directory")])
    return source_dir


def _read_source_table(path: Path, report: Callable[[str], None] | None) -> pa.Table:
    """read_table_file, a file it cannot read refused as a ContractError naming it."""
    try:
        return read_table_file(path, report)
    except (pa.ArrowInvalid, OSError) as error:
        raise ContractError([Problem(str(path), None, None, f"cannot be read: {_arrow_message(error)}")]) from error


# ---------------------------------------------------------------------------------------------
# installing


def replace_table_set(tables: dict[str, pa.Table], raw_dir: Path, replaces: Iterable[str] | None = None) -> None:
    """Write tables as `<raw_dir>/<name>.parquet`, replacing the previous set in one rename.

    The new set is written beside the old one and swapped in only when complete, so readers
    never see half a load and a failure leaves the previous set in place. replaces: the table
    names this set stands for; the directory's other files (a tracker's tables the user put
    there) are carried over into the new set. None: the new set replaces the whole directory.
    """
    raw_dir = Path(raw_dir)
    raw_dir.parent.mkdir(parents=True, exist_ok=True)
    _recover_interrupted_swap(raw_dir)
    staging = raw_dir.with_name(f".{raw_dir.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        if replaces is not None and raw_dir.is_dir():
            # a table's file, or its directory of partitions (the events', events.partitions)
            replaced = {entry for name in (*replaces, *tables) for entry in (f"{name}.parquet", name)}
            for kept in raw_dir.iterdir():
                if kept.name not in replaced:
                    _carry_over(kept, staging / kept.name)
        for name, table in tables.items():
            pq.write_table(table, staging / f"{name}.parquet", compression="zstd", row_group_size=1_000_000)
        previous = raw_dir.with_name(f".{raw_dir.name}.previous")
        if raw_dir.exists():
            os.replace(raw_dir, previous)
        os.replace(staging, raw_dir)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _carry_over(source: Path, target: Path) -> None:
    """A file or directory of the previous set into the new one: hard links where the file system
    allows (the previous set is deleted after the swap), else a copy."""

    def link_or_copy(from_path: str, to_path: str) -> None:
        try:
            os.link(from_path, to_path)
        except OSError:
            shutil.copy2(from_path, to_path)

    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, copy_function=link_or_copy)
    elif source.is_symlink():
        os.symlink(os.readlink(source), target)
    else:
        link_or_copy(str(source), str(target))


def _recover_interrupted_swap(raw_dir: Path) -> None:
    """If a previous install died between its two renames, put the old set back."""
    previous = raw_dir.with_name(f".{raw_dir.name}.previous")
    if previous.exists():
        if raw_dir.exists():
            shutil.rmtree(previous)
        else:
            os.replace(previous, raw_dir)
    for stale in raw_dir.parent.glob(f".{raw_dir.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def load_and_install(
    source_dir: Path, raw_dir: Path, report: Callable[[str], None] | None = None, source_shape: str = "contract"
) -> dict[str, int]:
    """Validate the contract tables in source_dir and install them into raw_dir; row counts per table.

    The contract's tables in raw_dir are replaced as a set; other files there (a tracker's
    tables, docs/sources.md) stay as they are.
    """
    tables = load_source_dir(source_dir, report, source_shape)
    # the loaded tables are no synthetic world's: `generate --append` has nothing to continue
    replace_table_set(tables, raw_dir, replaces=(*RAW_TABLES, WORLD_RECORD))
    return {name: table.num_rows for name, table in tables.items()}


def append_events(source_dir: Path, raw_dir: Path, report: Callable[[str], None] | None = None) -> dict[str, int]:
    """Validate the events in source_dir and add them to raw_dir's day partitions as one batch
    (events.partitions); the other raw tables stay as they are. Only events are appended: a
    source directory holding another table is refused, naming it, before anything is written."""
    source_dir = _source_directory(source_dir)
    others = [path for name in RAW_TABLES if name != "events" and (path := find_table_file(source_dir, name)) is not None]
    if others:
        raise ContractError(
            [Problem(str(path), None, None, "an append adds events only; load the other tables without --append") for path in others]
        )
    path = find_table_file(source_dir, "events")
    if path is None:
        raise ContractError([Problem(str(source_dir / "events.parquet|csv"), None, None, "no events to append")])
    if not (Path(raw_dir) / "products.parquet").is_file():
        raise ContractError([Problem(str(raw_dir), None, None, "holds no loaded tables to append to; load a full set first")])
    events, problems = validate_table(_read_source_table(path, report), RAW_TABLES["events"], str(path), report=report)
    if problems:
        raise ContractError(problems)
    write_event_batch(events, raw_dir)
    return {"events": events.num_rows}

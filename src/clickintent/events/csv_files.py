"""Any CSV a user has: delimiter, quoting and header found by DuckDB's CSV sniffer, encoding by its
byte order mark, and a clear error naming the file when it cannot be read.

`clickintent load` and `clickintent rank cv` both read CSV through `sniff_csv` and say what it
found (`CsvDialect.describe`), so a semicolon-separated export with quoted headers, a
tab-separated file or a UTF-16 file from a spreadsheet reads as it is. A `.csv.gz`, `.csv.bz2`,
`.csv.xz` or `.csv.zst` file is read through its decompressed bytes.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import duckdb

# Byte order marks -> the encoding they announce (UTF-8's is optional, UTF-16's is not).
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "space"}
# What DuckDB's sniffer answers for "no such character".
_SNIFFER_NO_CHARACTER = "(empty)"
# Compressions the standard library opens (.zst needs the zstandard package).
_STANDARD_LIBRARY_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# DuckDB's sniffer opens .gz and .zst itself; these it cannot, so it reads a decompressed copy.
_SNIFFED_AFTER_DECOMPRESSING = (".bz2", ".xz")


class CsvReadError(ValueError):
    """A CSV file that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quote: str | None
    escape: str | None
    header: bool
    encoding: str  # a Python codec name: utf-8, utf-8-sig (UTF-8 with a byte order mark), utf-16

    def describe(self) -> str:
        """What was detected, for the user: `delimiter ';' (semicolon), quote '"', header row, UTF-8`."""
        delimiter = repr(self.delimiter) + (f" ({_DELIMITER_NAMES[self.delimiter]})" if self.delimiter in _DELIMITER_NAMES else "")
        quote = f"quote {self.quote!r}" if self.quote else "no quotes seen"
        header = "header row" if self.header else "no header row"
        encoding = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte order mark", "utf-16": "UTF-16"}.get(self.encoding, self.encoding)
        return f"delimiter {delimiter}, {quote}, {header}, {encoding}"

    def header_names(self, path: Path) -> list[str]:
        """The header row's column names as written (repeats kept, so that a caller can name them)."""
        with _open_text(path, self.encoding) as handle:
            first = handle.readline()
        row = next(csv.reader([first], delimiter=self.delimiter, quotechar=self.quote or '"', escapechar=self.escape), [])
        return [name.strip() for name in row]


def _open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when its suffix names a compression."""
    suffix = path.suffix.lower()
    if suffix == ".zst":
        try:
            import zstandard
        except ImportError:
            raise CsvReadError(
                f"{path}: is zstd-compressed and the `zstandard` package is not installed; "
                "`pip install zstandard`, or decompress the file first (`zstd -d`)"
            ) from None
        return zstandard.open(path, "rb")
    opener = _STANDARD_LIBRARY_OPENERS.get(suffix)
    return opener(path, "rb") if opener is not None else path.open("rb")


def _open_text(path: Path, encoding: str):
    return io.TextIOWrapper(_open_bytes(path), encoding=encoding, newline="")


def detect_encoding(path: Path) -> str:
    """utf-16 or utf-8-sig by byte order mark, else utf-8 when every byte is UTF-8; else CsvReadError
    naming the line and byte of the first invalid byte and the re-encoding to run. A compressed
    file's decompressed bytes are checked."""
    try:
        with _open_bytes(path) as handle:
            start = handle.read(4)
        for mark, encoding in _BYTE_ORDER_MARKS:
            if start.startswith(mark):
                return encoding
        invalid = _first_invalid_utf8(path)
    except (OSError, EOFError, lzma.LZMAError) as error:  # a corrupt or truncated compressed file
        raise CsvReadError(f"{path}: cannot be decompressed: {error}") from None
    if invalid is not None:
        raise CsvReadError(f"{path}: {_encoding_message(*invalid)}")
    return "utf-8"


def _encoding_message(byte_offset: int, line: int) -> str:
    return (
        f"is not UTF-8: invalid byte at line {line}, byte {byte_offset + 1}; re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
    )


def _first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    """(byte offset, line) of the first byte that is not UTF-8 in `path`, or None; read in blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1
    with _open_bytes(path) as handle:
        while block := handle.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                # the decoder may hold up to 3 bytes of an unfinished character from the block before
                start = max(error.start - len(decoder.getstate()[0]), 0)
                return offset + start, line + block.count(b"\n", 0, start)
            offset += len(block)
            line += block.count(b"\n")
    return None


def _duckdb_message(error: Exception) -> str:
    """DuckDB's error without the lines of data it quotes (a row is data, and may be personal)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first.split("Original Line:")[0].strip()


def sniff_csv(path: Path) -> CsvDialect:
    """The dialect of a CSV file, by DuckDB's sniffer; CsvReadError naming the file when it has none."""
    path = Path(path)
    encoding = detect_encoding(path)
    if path.suffix.lower() in _SNIFFED_AFTER_DECOMPRESSING:
        with tempfile.TemporaryDirectory(prefix="clickintent-csv-") as folder:
            # The whole file, not a sample: a sample cut inside a quoted field misleads the sniffer.
            decompressed = Path(folder) / "decompressed.csv"
            with _open_bytes(path) as source, decompressed.open("wb") as target:
                shutil.copyfileobj(source, target)
            return _sniff_with_fallback(decompressed, encoding, named=path)
    return _sniff_with_fallback(path, encoding, named=path)


def _sniff_with_fallback(path: Path, encoding: str, named: Path) -> CsvDialect:
    dialect = _sniff(path, encoding, named)
    if len(dialect.header_names(path)) == 1:
        # The sniffer settles on one column when rows disagree in width (a ragged row): take the
        # delimiter the header line uses most, so that the read names the row that is wrong.
        with _open_text(path, encoding) as handle:
            first = handle.readline()
        counts = {delimiter: first.count(delimiter) for delimiter in _DELIMITER_NAMES if delimiter != " "}
        delimiter = max(counts, key=counts.get)
        if counts[delimiter] > 0:
            dialect = _sniff(path, encoding, named, delimiter)
    return dialect


def _sniff(path: Path, encoding: str, named: Path, delimiter: str | None = None) -> CsvDialect:
    """DuckDB's sniffer on `path`; errors name `named` (the user's file, where `path` is its decompressed copy)."""
    options = ", encoding = 'utf-16'" if encoding == "utf-16" else ""
    options += ", delim = ?, null_padding = true" if delimiter else ""
    parameters = [str(path)] + ([delimiter] if delimiter else [])
    try:
        with duckdb.connect() as connection:
            rows = connection.execute(
                f"select Delimiter, Quote, Escape, HasHeader from sniff_csv(?, sample_size = 20480{options})", parameters
            ).fetchall()
    except duckdb.Error as error:
        raise CsvReadError(f"{named}: cannot be read as CSV: {_duckdb_message(error).replace(str(path), str(named))}") from None
    if not rows:
        raise CsvReadError(f"{named}: cannot be read as CSV: the sniffer found no rows")
    found, quote, escape, header = rows[0]
    if found in (None, _SNIFFER_NO_CHARACTER, ""):
        raise CsvReadError(f"{named}: cannot be read as CSV: no delimiter found")
    quote = None if quote in (None, _SNIFFER_NO_CHARACTER, "") else quote
    escape = None if escape in (None, _SNIFFER_NO_CHARACTER, "") or escape == quote else escape
    return CsvDialect(delimiter=found, quote=quote, escape=escape, header=bool(header), encoding=encoding)

"""Typed feature frames: read any CSV or Parquet table, infer each column's kind, the one category rule.

A `FeatureSchema` records, per feature, its kind (numeric, boolean, categorical) and for
categoricals the vocabulary seen in training. It is stored in the model card as JSON, and the
same schema encodes rows at training time and per request, so category codes can never drift
between the two (a category unseen in training becomes missing, which XGBoost routes by its
learned default direction).

Encoding (clickintent.ranker.encoding) produces one float32 matrix plus XGBoost feature types
("q" numeric, "c" categorical): XGBoost's native categorical splits (`enable_categorical=True`)
on category codes, or one-hot columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

# Strings read as booleans, case-insensitively, for both features and labels.
TRUE_STRINGS = frozenset({"true", "t", "yes", "y"})
FALSE_STRINGS = frozenset({"false", "f", "no", "n"})
# A text column whose distinct values exceed this share of its rows (and MIN_IDENTIFIER_DISTINCT)
# is an identifier (a session id, an email hash): as a category it could only memorise rows.
IDENTIFIER_DISTINCT_SHARE = 0.5
MIN_IDENTIFIER_DISTINCT = 50
# Values listed in error messages before the rest is summarised.
MAX_LISTED_VALUES = 10

CategoricalEncoding = Literal["native", "one_hot"]


class TableError(ValueError):
    """A table, label or column choice that cannot be used; the message names what is wrong."""


class ColumnKind(str, Enum):
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class FeatureColumn:
    name: str
    kind: ColumnKind
    # Training vocabulary, in code order (categoricals only).
    categories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        if self.kind is ColumnKind.CATEGORICAL:
            out["categories"] = list(self.categories)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureColumn:
        return cls(name=data["name"], kind=ColumnKind(data["kind"]), categories=tuple(data.get("categories", ())))


@dataclass(frozen=True)
class FeatureSchema:
    columns: tuple[FeatureColumn, ...]
    # Columns of the input left out, with the reason (identifiers, timestamps, all-missing).
    ignored: Mapping[str, str] = field(default_factory=dict)
    categorical_encoding: CategoricalEncoding = "native"

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def model_feature_names(self) -> list[str]:
        """Names of the encoded matrix columns (one per value for one-hot categoricals)."""
        names: list[str] = []
        for column in self.columns:
            if column.kind is ColumnKind.CATEGORICAL and self.categorical_encoding == "one_hot":
                names.extend(f"{column.name}={category}" for category in column.categories)
            else:
                names.append(column.name)
        return names

    @property
    def model_feature_types(self) -> list[str]:
        types: list[str] = []
        for column in self.columns:
            if column.kind is ColumnKind.CATEGORICAL:
                if self.categorical_encoding == "one_hot":
                    types.extend("q" for _ in column.categories)
                else:
                    types.append("c")
            else:
                types.append("q")
        return types

    @property
    def has_categoricals(self) -> bool:
        return self.categorical_encoding == "native" and any(column.kind is ColumnKind.CATEGORICAL for column in self.columns)

    def to_json(self) -> dict[str, Any]:
        return {
            "categorical_encoding": self.categorical_encoding,
            "columns": [column.to_json() for column in self.columns],
            "ignored": dict(self.ignored),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSchema:
        return cls(
            columns=tuple(FeatureColumn.from_json(column) for column in data["columns"]),
            ignored=dict(data.get("ignored", {})),
            categorical_encoding=data.get("categorical_encoding", "native"),
        )

    def with_vocabulary_from(self, frame: pd.DataFrame) -> FeatureSchema:
        """The same kinds with category vocabularies re-read from `frame` (a training fold)."""
        columns = tuple(
            replace(column, categories=vocabulary(frame[column.name])) if column.kind is ColumnKind.CATEGORICAL else column
            for column in self.columns
        )
        return replace(self, columns=columns)


# ---------------------------------------------------------------------------------------------
# reading


def read_table(path: Path, report: Callable[[str], None] | None = None) -> pd.DataFrame:
    """A CSV (header row) or Parquet file as a DataFrame; errors name the file and the problem.

    A CSV's delimiter, quoting, header and encoding are sniffed (events.csv_files) and said to
    `report`; the values are then typed as pandas reads them."""
    from clickintent.events.csv_files import CsvReadError, sniff_csv

    path = Path(path)
    if not path.exists():
        raise TableError(f"table not found: {path}")
    if not path.is_file():
        raise TableError(f"table path is not a file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".txt") or (suffix in (".gz", ".bz2", ".zst", ".xz") and path.stem.lower().endswith(".csv")):
            dialect = sniff_csv(path)
            if report is not None:
                report(f"{path}: {dialect.describe()}")
            if not dialect.header:
                raise TableError(f"table {path} has no header row (its first row reads as data); the first row must name the columns")
            frame = pd.read_csv(
                path, sep=dialect.delimiter, quotechar=dialect.quote or '"', escapechar=dialect.escape, encoding=dialect.encoding
            )
        else:
            raise TableError(f"cannot tell the format of {path}: expected a .csv or .parquet file")
    except TableError:
        raise
    except CsvReadError as error:
        raise TableError(str(error)) from None
    except Exception as error:  # pandas/pyarrow raise many types for corrupt input
        kind = "Parquet" if suffix in (".parquet", ".pq") else "CSV"
        raise TableError(f"cannot read {path} as {kind}: {type(error).__name__}: {error}") from error
    if frame.empty:
        raise TableError(f"table {path} has no rows")
    frame.columns = [str(column) for column in frame.columns]
    duplicated = sorted({column for column in frame.columns if list(frame.columns).count(column) > 1})
    if duplicated:
        raise TableError(f"table {path} has duplicate column names: {', '.join(duplicated)}")
    return frame


# ---------------------------------------------------------------------------------------------
# type inference


def infer_schema(
    frame: pd.DataFrame,
    *,
    categorical: Iterable[str] = (),
    categorical_encoding: CategoricalEncoding = "native",
) -> FeatureSchema:
    """Kinds for every column of `frame` (the caller has removed the label and dropped columns).

    numeric dtype -> numeric; bool dtype, or text that is only true/false/yes/no -> boolean;
    text that parses as numbers -> numeric; other text -> categorical. `categorical` forces
    columns (for example integer codes such as region ids) to be categorical.
    """
    forced = set(categorical)
    unknown = sorted(forced - set(frame.columns))
    if unknown:
        raise TableError(f"--categorical column(s) not found: {', '.join(unknown)}; columns are: {', '.join(frame.columns)}")
    columns: list[FeatureColumn] = []
    ignored: dict[str, str] = {}
    for name in frame.columns:
        values = frame[name]
        present = values.dropna()
        if present.empty:
            ignored[name] = "all values missing"
            continue
        if name in forced:
            columns.append(FeatureColumn(name, ColumnKind.CATEGORICAL, vocabulary(values)))
            continue
        if pd.api.types.is_bool_dtype(values):
            columns.append(FeatureColumn(name, ColumnKind.BOOLEAN))
        elif pd.api.types.is_datetime64_any_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
            ignored[name] = "timestamp (derive numeric features from it first)"
        elif pd.api.types.is_numeric_dtype(values):
            columns.append(FeatureColumn(name, ColumnKind.NUMERIC))
        else:
            text = present.astype(str).str.strip()
            lowered = text.str.lower()
            if lowered.isin(TRUE_STRINGS | FALSE_STRINGS).all():
                columns.append(FeatureColumn(name, ColumnKind.BOOLEAN))
            elif pd.to_numeric(text, errors="coerce").notna().all():
                columns.append(FeatureColumn(name, ColumnKind.NUMERIC))
            else:
                distinct = text.nunique()
                if distinct >= MIN_IDENTIFIER_DISTINCT and distinct > IDENTIFIER_DISTINCT_SHARE * len(present):
                    ignored[name] = f"identifier-like text ({distinct} distinct values in {len(present)} rows)"
                else:
                    columns.append(FeatureColumn(name, ColumnKind.CATEGORICAL, vocabulary(values)))
    return FeatureSchema(columns=tuple(columns), ignored=ignored, categorical_encoding=categorical_encoding)


def vocabulary(values: pd.Series) -> tuple[str, ...]:
    """The categories of a training column, sorted: code i is the i-th (see `category_text`)."""
    return tuple(sorted(category_texts(values).dropna().unique()))


def is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, (float, np.floating)) and math.isnan(value))


def category_text(value: Any) -> str | None:
    """The one rule for a category value, in vocabularies and in encoding, training and serving:
    stripped text, with integral numbers as integers, so that 3, 3.0 and " 3" from different
    readers are one category; None when missing."""
    if isinstance(value, str):
        return value.strip()
    if is_missing(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def category_texts(values: pd.Series) -> pd.Series:
    """`category_text` of every value of a column (text columns without the per-value call)."""
    if values.dtype == object and values.map(type).isin([str, type(None)]).all():
        return values.str.strip()
    return values.astype(object).map(category_text)


# ---------------------------------------------------------------------------------------------
# labels


def parse_label(values: pd.Series, positive: str | None = None) -> np.ndarray:
    """The label as 0/1 int8: `values == positive` if given, else booleans, 0/1 or true/false text.

    Missing labels are an error rather than silently dropped rows.
    """
    name = values.name
    missing = int(values.isna().sum())
    if missing:
        raise TableError(f"label column '{name}' has {missing} missing value(s); fill or drop those rows first")
    if positive is not None:
        labels = _equals_positive(values, positive)
        if not labels.any():
            raise TableError(f"no row of label column '{name}' equals --positive {positive!r}; values are: {_listed(values)}")
    elif pd.api.types.is_bool_dtype(values):
        labels = values.to_numpy(dtype=bool)
    elif pd.api.types.is_numeric_dtype(values):
        distinct = set(pd.unique(values).tolist())
        if not distinct <= {0, 1}:
            raise TableError(
                f"label column '{name}' is not binary (values: {_listed(values)}); pass --positive VALUE to pick the positive class"
            )
        labels = values.to_numpy() == 1
    else:
        lowered = values.astype(str).str.strip().str.lower()
        known = TRUE_STRINGS | FALSE_STRINGS | {"1", "0"}
        if not lowered.isin(known).all():
            raise TableError(
                f"label column '{name}' is not boolean (values: {_listed(values)}); pass --positive VALUE to pick the positive class"
            )
        labels = lowered.isin(TRUE_STRINGS | {"1"}).to_numpy()
    labels = labels.astype(np.int8)
    if labels.min() == labels.max():
        only = "positive" if labels[0] == 1 else "negative"
        raise TableError(f"label column '{name}' has one class only (every row is {only}); a classifier needs both")
    return labels


def _equals_positive(values: pd.Series, positive: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        lowered = positive.strip().lower()
        if lowered not in TRUE_STRINGS | FALSE_STRINGS | {"1", "0"}:
            raise TableError(f"label column '{values.name}' is boolean; --positive must be true or false, not {positive!r}")
        return values.to_numpy(dtype=bool) == (lowered in TRUE_STRINGS | {"1"})
    if pd.api.types.is_numeric_dtype(values):
        try:
            number = float(positive)
        except ValueError as error:
            raise TableError(f"label column '{values.name}' is numeric; --positive {positive!r} is not a number") from error
        return values.to_numpy(dtype=float) == number
    return (values.astype(str).str.strip() == positive.strip()).to_numpy()


def _listed(values: pd.Series) -> str:
    distinct = pd.unique(values.dropna())
    shown = ", ".join(repr(value.item() if hasattr(value, "item") else value) for value in distinct[:MAX_LISTED_VALUES])
    return shown + (f", ... ({len(distinct)} distinct)" if len(distinct) > MAX_LISTED_VALUES else "")


def split_features_and_label(
    frame: pd.DataFrame,
    label: str,
    *,
    positive: str | None = None,
    drop: Sequence[str] = (),
) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature columns (all but the label and `drop`) and the parsed 0/1 label."""
    columns = list(frame.columns)
    if label not in columns:
        raise TableError(f"label column '{label}' not found; columns are: {', '.join(columns)}")
    unknown = [column for column in drop if column not in columns]
    if unknown:
        raise TableError(f"--drop column(s) not found: {', '.join(unknown)}; columns are: {', '.join(columns)}")
    if label in drop:
        raise TableError(f"--drop names the label column '{label}'")
    labels = parse_label(frame[label], positive)
    features = frame.drop(columns=[label, *drop])
    if features.shape[1] == 0:
        raise TableError("no feature columns left after removing the label and --drop columns")
    return features, labels

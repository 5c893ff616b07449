"""The one encoder from feature values to a model's float32 matrix, in training and in serving.

`MatrixEncoder.of(schema_or_layout)` encodes whole frames column by column (`encode_frame`,
training and evaluation) and plain dict rows without pandas (`encode_rows`, the per-request
path); both apply the same rule per column kind, and tests keep their matrices equal:

- numeric: the number, NaN when missing; text that parses as a number is that number.
- boolean: 1/0 from booleans, numbers or true/false/yes/no text.
- categorical: the code of `tabular.category_text(value)` in the training vocabulary (one rule
  for vocabularies and codes); an unseen or missing value is missing (XGBoost's default
  branch), or an all-zero block with one-hot encoding.
- vector: one column per element; a missing array is a row of NaN.
- flag set: one column per name the model knows, 1 when the row's list holds it, else 0; a
  missing list is a row of NaN.
- derived: the layout's derived features, from the same row.

Columns come in the model's order: scalars, vector elements, flag sets, derived features.
`CandidateBlock` is the service's shortcut on top: the candidates' own columns encoded once.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clickintent.ranker.layout import DERIVED_FEATURES, FeatureLayout, FlagSetFeature, LayoutError, VectorFeature
from clickintent.ranker.tabular import (
    FALSE_STRINGS,
    MAX_LISTED_VALUES,
    TRUE_STRINGS,
    CategoricalEncoding,
    ColumnKind,
    FeatureColumn,
    FeatureSchema,
    category_text,
    category_texts,
    is_missing,
)

_NUMBER_TYPES = (bool, np.bool_, int, float, np.integer, np.floating)


class MatrixEncoder:
    """Feature values -> the model's float32 matrix (see the module docstring for the rules)."""

    def __init__(
        self,
        scalars: Sequence[FeatureColumn],
        *,
        vectors: Sequence[VectorFeature] = (),
        derived: Sequence[str] = (),
        categorical_encoding: CategoricalEncoding = "native",
        flag_sets: Sequence[FlagSetFeature] = (),
    ):
        self.scalars = tuple(scalars)
        self.vectors = tuple(vectors)
        self.flag_sets = tuple(flag_sets)
        self.derived = tuple(derived)
        self.one_hot = categorical_encoding == "one_hot"
        position = 0
        # (column, first matrix position); a one-hot categorical spans len(categories) positions.
        self._scalar_positions: list[tuple[FeatureColumn, int]] = []
        for column in self.scalars:
            self._scalar_positions.append((column, position))
            position += len(column.categories) if self.one_hot and column.kind is ColumnKind.CATEGORICAL else 1
        self._vector_positions: list[tuple[VectorFeature, int]] = []
        for vector in self.vectors:
            self._vector_positions.append((vector, position))
            position += vector.length
        self._flag_positions: list[tuple[FlagSetFeature, int, dict[str, int]]] = []
        for flags in self.flag_sets:
            self._flag_positions.append((flags, position, {value: index for index, value in enumerate(flags.values)}))
            position += flags.length
        self._derived_positions = [(DERIVED_FEATURES[name], position + offset) for offset, name in enumerate(self.derived)]
        self.width = position + len(self.derived)
        self._numeric = [(c.name, index, c.kind) for c, index in self._scalar_positions if c.kind is not ColumnKind.CATEGORICAL]
        self._numeric_names = [name for name, _, _ in self._numeric]
        self._numeric_index = np.array([index for _, index, _ in self._numeric], dtype=np.intp)
        self._categorical = [
            (c.name, index, {category: code for code, category in enumerate(c.categories)}, len(c.categories))
            for c, index in self._scalar_positions
            if c.kind is ColumnKind.CATEGORICAL
        ]

    @classmethod
    def of(cls, source: FeatureSchema | FeatureLayout) -> MatrixEncoder:
        if isinstance(source, FeatureLayout):
            return cls(source.scalars, vectors=source.vectors, derived=source.derived, flag_sets=source.flag_sets)
        return cls(source.columns, categorical_encoding=source.categorical_encoding)

    # ---- whole frames (training, evaluation) ----

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The matrix of a frame of raw feature values, column-wise."""
        missing = [c.name for c in self.scalars if c.name not in frame.columns] + [
            v.name for v in (*self.vectors, *self.flag_sets) if v.name not in frame.columns
        ]
        if missing:
            raise LayoutError(f"feature column(s) missing from the input: {', '.join(missing)}")
        out = np.full((len(frame), self.width), np.nan, dtype=np.float32)
        for column, index in self._scalar_positions:
            values = frame[column.name]
            if column.kind is ColumnKind.NUMERIC:
                out[:, index] = _numeric_column(values, column.name)
            elif column.kind is ColumnKind.BOOLEAN:
                out[:, index] = _boolean_column(values, column.name)
            else:
                codes = pd.Categorical(category_texts(values), categories=list(column.categories)).codes
                if self.one_hot:
                    block = np.zeros((len(codes), len(column.categories)), dtype=np.float32)
                    seen = codes >= 0
                    block[np.flatnonzero(seen), codes[seen]] = 1.0
                    out[:, index : index + len(column.categories)] = block
                else:
                    out[:, index] = np.where(codes >= 0, codes, np.nan)
        for vector, start in self._vector_positions:
            out[:, start : start + vector.length] = vector_matrix(frame[vector.name], vector)
        for flags, start, index in self._flag_positions:
            for row, value in enumerate(frame[flags.name].to_numpy(dtype=object)):
                _set_flags(out[row, start : start + flags.length], value, index)
        for feature, index in self._derived_positions:
            out[:, index] = feature.from_frame(frame).to_numpy(dtype=np.float32)
        return out

    # ---- dict rows (per request) ----

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The matrix of plain dict rows (a key absent from a row, or None, is missing); equal to
        `encode_frame` on a frame of the same rows."""
        n = len(rows)
        out = np.full((n, self.width), np.nan, dtype=np.float32)
        if n == 0:
            return out
        if self._numeric:
            names = self._numeric_names
            try:
                values = np.array([[row.get(name) for name in names] for row in rows], dtype=np.float32)
            except (TypeError, ValueError):
                # Text booleans ("yes"), pandas' NA, or a bad value (which the per-value rules name).
                values = np.array(
                    [[_scalar_value(row.get(name), name, kind) for name, _, kind in self._numeric] for row in rows], dtype=np.float32
                )
            out[:, self._numeric_index] = values
        for name, index, codes, size in self._categorical:
            if self.one_hot:
                out[:, index : index + size] = 0.0
            for row_index, row in enumerate(rows):
                value = row.get(name)
                if value is None:
                    continue
                code = codes.get(category_text(value))
                if code is not None:
                    if self.one_hot:
                        out[row_index, index + code] = 1.0
                    else:
                        out[row_index, index] = code
        for vector, start in self._vector_positions:
            for row_index, row in enumerate(rows):
                value = row.get(vector.name)
                if value is None:
                    continue
                if len(value) != vector.length:
                    raise LayoutError(f"feature '{vector.name}' has {len(value)} values; the model expects {vector.length}")
                out[row_index, start : start + vector.length] = value
        for flags, start, index in self._flag_positions:
            for row_index, row in enumerate(rows):
                _set_flags(out[row_index, start : start + flags.length], row.get(flags.name), index)
        self.fill_derived(out, rows)
        return out

    def fill_derived(self, out: np.ndarray, rows: Sequence[Mapping[str, Any]]) -> None:
        for feature, index in self._derived_positions:
            for row_index, row in enumerate(rows):
                out[row_index, index] = feature.from_row(row)

    def columns_of(self, keys: Collection[str]) -> np.ndarray:
        """Positions of the columns whose value comes from these row keys alone (derived
        columns read several keys, so they are never among them)."""
        positions: list[int] = [index for name, index, _ in self._numeric if name in keys]
        for name, index, _, size in self._categorical:
            if name in keys:
                positions.extend(range(index, index + size) if self.one_hot else [index])
        for vector, start in self._vector_positions:
            if vector.name in keys:
                positions.extend(range(start, start + vector.length))
        for flags, start, _ in self._flag_positions:
            if flags.name in keys:
                positions.extend(range(start, start + flags.length))
        return np.array(sorted(positions), dtype=np.intp)


class CandidateBlock:
    """The candidates' own columns encoded once, so that a request encodes only what it shares.

    A ranking request scores one row per candidate, each row the request's shared values (the
    customer's and the session's features) overlaid with the candidate's (product features,
    product_id): `{**shared, **candidates[id]}`. The candidates' columns are the same in every
    request, so they are encoded at start-up; a request encodes its shared values once, copies
    them down the rows, lays the candidates' columns over them and computes the derived columns
    (which read both) per row. Equal to `MatrixEncoder.encode_rows` of the full rows (tested).
    """

    def __init__(self, encoder: MatrixEncoder, candidates: Mapping[str, Mapping[str, Any]]):
        self.encoder = encoder
        self.ids = list(candidates)
        self.position = {candidate: index for index, candidate in enumerate(self.ids)}
        rows = [candidates[candidate] for candidate in self.ids]
        # Only keys every candidate carries may override the shared values column-wise: a key
        # some candidate lacks leaves the shared value in that candidate's row.
        common = set.intersection(*(set(row) for row in rows)) if rows else set()
        self.columns = encoder.columns_of(common)
        self.matrix = encoder.encode_rows(rows)[:, self.columns] if rows else np.zeros((0, len(self.columns)), np.float32)
        self._other_keys = {key for row in rows for key in row} - common

    def encode(self, shared: Mapping[str, Any], candidate_ids: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The matrix of `rows`, which must be `{**shared, **candidates[id]}` for `candidate_ids`."""
        if self._other_keys:
            return self.encoder.encode_rows(rows)
        out = np.repeat(self.encoder.encode_rows([shared]), len(candidate_ids), axis=0)
        if len(candidate_ids):
            out[:, self.columns] = self.matrix[[self.position[candidate] for candidate in candidate_ids]]
            self.encoder.fill_derived(out, rows)
        return out


# ---------------------------------------------------------------------------------------------
# the per-kind rules


def _scalar_value(value: Any, name: str, kind: ColumnKind) -> float:
    if is_missing(value):
        return math.nan
    if kind is ColumnKind.BOOLEAN:
        if isinstance(value, _NUMBER_TYPES):
            return float(value)
        lowered = str(value).strip().lower()
        if lowered in TRUE_STRINGS:
            return 1.0
        if lowered in FALSE_STRINGS:
            return 0.0
        raise LayoutError(f"feature '{name}' is boolean but has other values: {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise LayoutError(f"feature '{name}' is numeric but has non-numeric values: {value!r}") from error


def _numeric_column(values: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(np.float32).to_numpy()
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        examples = ", ".join(repr(value) for value in values[bad].unique()[:MAX_LISTED_VALUES])
        raise LayoutError(f"feature '{name}' is numeric but has non-numeric values: {examples}")
    return converted.to_numpy(dtype=np.float32, na_value=np.nan)


def _boolean_column(values: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
    present = values.notna().to_numpy()
    out = np.full(len(values), np.nan, dtype=np.float32)
    if set(values[present].map(type).unique()) <= set(_NUMBER_TYPES):
        out[present] = values[present].astype(float).to_numpy(dtype=np.float32)
        return out
    lowered = values.astype(object).map(lambda value: None if is_missing(value) else str(value).strip().lower())
    out[lowered.isin(TRUE_STRINGS).to_numpy()] = 1.0
    out[lowered.isin(FALSE_STRINGS).to_numpy()] = 0.0
    bad = lowered.notna().to_numpy() & np.isnan(out)
    if bad.any():
        examples = ", ".join(repr(value) for value in values[bad].unique()[:MAX_LISTED_VALUES])
        raise LayoutError(f"feature '{name}' is boolean but has other values: {examples}")
    return out


def _set_flags(out: np.ndarray, names: Any, index: Mapping[str, int]) -> None:
    """One row's flags (`out`, NaN on entry) from its list of names; a missing list stays NaN."""
    if names is None or (isinstance(names, float) and math.isnan(names)):
        return
    if isinstance(names, str):
        raise LayoutError(f"a flag-set feature needs a list of names, got the text {names!r}")
    out[:] = 0.0
    for name in names:
        position = index.get(name)
        if position is not None:
            out[position] = 1.0


def vector_matrix(values: pd.Series, vector: VectorFeature) -> np.ndarray:
    """float32 (rows, length) from a column of arrays; a missing array is a row of NaN."""
    out = np.full((len(values), vector.length), np.nan, dtype=np.float32)
    for row, value in enumerate(values.to_numpy(dtype=object)):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        array = np.asarray(value, dtype=np.float32)
        if array.shape != (vector.length,):
            raise LayoutError(f"feature '{vector.name}' has {array.size} values in a row; the model expects {vector.length}")
        out[row] = array
    return out

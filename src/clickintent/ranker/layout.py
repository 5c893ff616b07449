"""From Feast feature rows to the model's input matrix, identically in training and serving.

A `FeatureLayout` is built once from a feature service's declared Feast types (not guessed from
data) and stored in the model card:

- String features are categorical (XGBoost native categorical splits on codes of the training
  vocabulary; an unseen value is missing), Bool boolean, Int/Float numeric.
- `Array(Float32)` features are vectors, expanded to one numeric column per element, named
  `<feature>.<element>`. Elements are named after what they mean where that is known (taxonomy
  top nodes, in the order the producing stage wrote them), else numbered. Reasons either speak
  per element (a taxonomy share: "researched mortgages") or sum a whole vector (an embedding,
  whose single dimensions mean nothing).
- `Array(String)` features listing names from a set the data defines (held_product_families:
  the catalogue's product families) are flag sets when the caller names their values: one
  boolean column per value, `<feature>.<value>`, the values stored in the card. Other string
  lists (held_product_ids) feed derived features only.
- Entity keys and context columns the caller supplies beside the Feast features (product_id,
  the tile position) are features too where the model wants them.

Derived features are computed from the same row by `from_frame` (training, vectorised) and
`from_row` (serving, per dict); a test keeps the two equal. The model's column list is
`FeatureLayout.model_columns`; clickintent.ranker.encoding turns frames and dict rows into that
float32 matrix by one set of rules. Category vocabularies follow `tabular.category_text`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clickintent.ranker.tabular import ColumnKind, FeatureColumn, FeatureSchema, TableError, vocabulary

ELEMENT_SEPARATOR = "."


class LayoutError(TableError):
    """A row or feature that does not fit the model's layout; the message names it."""


@dataclass(frozen=True)
class VectorFeature:
    """An array feature expanded to one column per element."""

    name: str
    element_labels: tuple[str, ...]
    # True: reasons sum the whole vector (embedding dimensions mean nothing one by one).
    grouped: bool = False

    @property
    def length(self) -> int:
        return len(self.element_labels)

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}{ELEMENT_SEPARATOR}{label}" for label in self.element_labels]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "element_labels": list(self.element_labels), "grouped": self.grouped}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VectorFeature:
        return cls(name=data["name"], element_labels=tuple(data["element_labels"]), grouped=bool(data["grouped"]))


def column_label(name: str) -> str:
    """`name` as part of an XGBoost column name (which may not contain [ ] <)."""
    return re.sub(r"[\[\]<]", "_", str(name))


@dataclass(frozen=True)
class FlagSetFeature:
    """A list-of-names feature expanded to one boolean column per name the model knows: 1 when
    the row's list holds it, 0 when not, missing when the list is. A name the model does not
    know gets no column (the serving checks refuse data whose names differ from the card's)."""

    name: str
    values: tuple[str, ...]

    @property
    def length(self) -> int:
        return len(self.values)

    @property
    def columns(self) -> list[str]:
        return [f"{self.name}{ELEMENT_SEPARATOR}{column_label(value)}" for value in self.values]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlagSetFeature:
        return cls(name=data["name"], values=tuple(data["values"]))


# ---------------------------------------------------------------------------------------------
# derived features (one registry for training and serving)


def _holds_candidate_product_frame(frame: pd.DataFrame) -> pd.Series:
    held = frame["held_product_ids"]
    product = frame["product_id"]
    return pd.Series(
        [np.nan if h is None or (isinstance(h, float) and math.isnan(h)) else float(p in set(h)) for h, p in zip(held, product)],
        index=frame.index,
        dtype=np.float32,
    )


def _holds_candidate_product_row(row: Mapping[str, Any]) -> float:
    held = row.get("held_product_ids")
    if held is None or (isinstance(held, float) and math.isnan(held)):
        return math.nan
    return float(row.get("product_id") in held)


def _holds_candidate_family_frame(frame: pd.DataFrame) -> pd.Series:
    held = frame["held_product_families"].to_numpy(dtype=object)
    family = frame["product_family"].to_numpy(dtype=object)
    return pd.Series([_holds(h, f) for h, f in zip(held, family)], index=frame.index, dtype=np.float32)


def _holds(held: Any, family: Any) -> float:
    if held is None or (isinstance(held, float) and math.isnan(held)) or not isinstance(family, str):
        return math.nan
    return float(family in set(held))


def _holds_candidate_family_row(row: Mapping[str, Any]) -> float:
    return _holds(row.get("held_product_families"), row.get("product_family"))


@dataclass(frozen=True)
class DerivedFeature:
    name: str
    needs: tuple[str, ...]  # row keys it reads
    kind: ColumnKind
    description: str
    from_frame: Callable[[pd.DataFrame], pd.Series] = field(repr=False, compare=False)
    from_row: Callable[[Mapping[str, Any]], float] = field(repr=False, compare=False)


DERIVED_FEATURES: dict[str, DerivedFeature] = {
    feature.name: feature
    for feature in (
        DerivedFeature(
            "holds_candidate_product",
            ("held_product_ids", "product_id"),
            ColumnKind.BOOLEAN,
            "the customer already holds the candidate product (from held_product_ids)",
            _holds_candidate_product_frame,
            _holds_candidate_product_row,
        ),
        DerivedFeature(
            "holds_candidate_family",
            ("held_product_families", "product_family"),
            ColumnKind.BOOLEAN,
            "the customer holds a product of the candidate's family (from held_product_families)",
            _holds_candidate_family_frame,
            _holds_candidate_family_row,
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# the layout


@dataclass(frozen=True)
class FeatureLayout:
    """Which row keys a model reads and how they become its columns."""

    # Feast feature names (the service's, without view prefixes), in service order.
    feast_features: tuple[str, ...]
    # Feast view:feature references, same order.
    feature_references: tuple[str, ...]
    # Scalar columns straight from the row (Feast scalars plus entity keys/context used as features).
    scalars: tuple[FeatureColumn, ...]
    vectors: tuple[VectorFeature, ...]
    derived: tuple[str, ...]
    # Row keys that are not Feast features but must be given (entity keys, context like position).
    context: tuple[str, ...] = ()
    # Feast features the model does not read directly, with why.
    unused: Mapping[str, str] = field(default_factory=dict)
    flag_sets: tuple[FlagSetFeature, ...] = ()

    @property
    def row_keys(self) -> list[str]:
        """Every key a serving row should carry (Feast features plus context)."""
        return [*self.feast_features, *self.context]

    @property
    def schema(self) -> FeatureSchema:
        """The XGBoost columns: scalars, then vector elements, then flag sets, then derived features."""
        columns: list[FeatureColumn] = list(self.scalars)
        for vector in self.vectors:
            columns.extend(FeatureColumn(name, ColumnKind.NUMERIC) for name in vector.columns)
        for flags in self.flag_sets:
            columns.extend(FeatureColumn(name, ColumnKind.BOOLEAN) for name in flags.columns)
        columns.extend(FeatureColumn(name, DERIVED_FEATURES[name].kind) for name in self.derived)
        return FeatureSchema(columns=tuple(columns))

    @property
    def model_columns(self) -> list[str]:
        return self.schema.model_feature_names

    def reason_group(self) -> dict[str, str]:
        """Model column -> the name reasons use (a grouped vector's columns share its name)."""
        groups = {name: name for name in self.model_columns}
        for vector in self.vectors:
            if vector.grouped:
                groups.update({column: vector.name for column in vector.columns})
        return groups

    def with_vocabulary(self, frame: pd.DataFrame) -> FeatureLayout:
        """Categories of every categorical scalar read from `frame` (the training split)."""
        scalars = tuple(
            FeatureColumn(column.name, column.kind, vocabulary(frame[column.name])) if column.kind is ColumnKind.CATEGORICAL else column
            for column in self.scalars
        )
        return FeatureLayout(
            feast_features=self.feast_features,
            feature_references=self.feature_references,
            scalars=scalars,
            vectors=self.vectors,
            derived=self.derived,
            context=self.context,
            unused=dict(self.unused),
            flag_sets=self.flag_sets,
        )

    def flag_values(self, name: str) -> tuple[str, ...] | None:
        """The names flag set `name` was trained on (None: the layout has no such flag set)."""
        return next((flags.values for flags in self.flag_sets if flags.name == name), None)

    # ---- card ----

    def to_json(self) -> dict[str, Any]:
        return {
            "feast_features": list(self.feast_features),
            "feature_references": list(self.feature_references),
            "scalars": [column.to_json() for column in self.scalars],
            "vectors": [vector.to_json() for vector in self.vectors],
            "flag_sets": [flags.to_json() for flags in self.flag_sets],
            "derived": {name: DERIVED_FEATURES[name].description for name in self.derived},
            "context": list(self.context),
            "unused": dict(self.unused),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureLayout:
        unknown = sorted(set(data["derived"]) - set(DERIVED_FEATURES))
        if unknown:
            raise LayoutError(f"derived feature(s) unknown to this version of clickintent: {', '.join(unknown)}")
        return cls(
            feast_features=tuple(data["feast_features"]),
            feature_references=tuple(data["feature_references"]),
            scalars=tuple(FeatureColumn.from_json(column) for column in data["scalars"]),
            vectors=tuple(VectorFeature.from_json(vector) for vector in data["vectors"]),
            derived=tuple(data["derived"]),
            context=tuple(data.get("context", ())),
            unused=dict(data.get("unused", {})),
            flag_sets=tuple(FlagSetFeature.from_json(flags) for flags in data.get("flag_sets", ())),
        )


# ---------------------------------------------------------------------------------------------
# building a layout from a feature service


def feast_kind(dtype: Any) -> str:
    """'categorical' | 'boolean' | 'numeric' | 'vector' | 'string_list' for a Feast type."""
    from feast.types import Array, PrimitiveFeastType

    if isinstance(dtype, Array):
        base = dtype.base_type
        if base in (PrimitiveFeastType.FLOAT32, PrimitiveFeastType.FLOAT64, PrimitiveFeastType.INT32, PrimitiveFeastType.INT64):
            return "vector"
        return "string_list"
    if dtype == PrimitiveFeastType.STRING:
        return "categorical"
    if dtype == PrimitiveFeastType.BOOL:
        return "boolean"
    if dtype in (
        PrimitiveFeastType.INT32,
        PrimitiveFeastType.INT64,
        PrimitiveFeastType.FLOAT32,
        PrimitiveFeastType.FLOAT64,
    ):
        return "numeric"
    if dtype == PrimitiveFeastType.UNIX_TIMESTAMP:
        return "timestamp"
    return "other"


_KINDS = {"categorical": ColumnKind.CATEGORICAL, "boolean": ColumnKind.BOOLEAN, "numeric": ColumnKind.NUMERIC}


def build_layout(
    features: Sequence[Any],
    frame: pd.DataFrame,
    *,
    context: Sequence[FeatureColumn] = (),
    derived: Sequence[str] = (),
    element_labels: Mapping[str, Sequence[str]] | None = None,
    grouped_vectors: Sequence[str] = (),
    flag_sets: Mapping[str, Sequence[str]] | None = None,
) -> FeatureLayout:
    """A layout for service `features` (ServiceFeature), with vocabularies from `frame` (training rows).

    `flag_sets` maps a string-list feature to the names it is expanded to (held_product_families:
    the product families of the data the model is trained on).

    Vector lengths come from the data; a vector feature with no value in `frame` (a stage that
    has not produced it yet) is left out and listed in `unused`, as is any all-missing scalar.
    """
    element_labels = dict(element_labels or {})
    flag_sets = dict(flag_sets or {})
    scalars: list[FeatureColumn] = []
    vectors: list[VectorFeature] = []
    flags: list[FlagSetFeature] = []
    unused: dict[str, str] = {}
    for feature in features:
        kind = feast_kind(feature.dtype)
        column = frame[feature.name]
        if kind == "vector":
            present = column.dropna()
            if present.empty:
                unused[feature.name] = "no values in the training rows (not produced yet)"
                continue
            length = len(present.iloc[0])
            labels = list(element_labels.get(feature.name, ()))
            if len(labels) != length:
                labels = [str(index) for index in range(length)]
            vectors.append(VectorFeature(feature.name, tuple(labels), grouped=feature.name in grouped_vectors))
        elif kind in _KINDS:
            if column.notna().sum() == 0:
                unused[feature.name] = "no values in the training rows (not produced yet)"
                continue
            scalars.append(FeatureColumn(feature.name, _KINDS[kind]))
        elif kind == "string_list" and flag_sets.get(feature.name):
            flags.append(FlagSetFeature(feature.name, tuple(flag_sets[feature.name])))
            if len(set(flags[-1].columns)) != flags[-1].length:
                raise LayoutError(f"the values of {feature.name} give repeated column names: {', '.join(flags[-1].values)}")
        elif kind == "string_list":
            unused[feature.name] = "a list of strings: read only by derived features"
        else:
            unused[feature.name] = f"Feast type {feature.dtype} is not a model input"
    for column in context:
        scalars.append(column)
    for name in derived:
        if name not in DERIVED_FEATURES:
            raise LayoutError(f"unknown derived feature {name!r}; known: {', '.join(DERIVED_FEATURES)}")
        missing = [key for key in DERIVED_FEATURES[name].needs if key not in frame.columns]
        if missing:
            raise LayoutError(f"derived feature {name!r} needs {', '.join(missing)}, which the rows lack")
    layout = FeatureLayout(
        feast_features=tuple(feature.name for feature in features),
        feature_references=tuple(feature.reference for feature in features),
        scalars=tuple(scalars),
        vectors=tuple(vectors),
        derived=tuple(derived),
        context=tuple(column.name for column in context),
        unused=unused,
        flag_sets=tuple(flags),
    )
    return layout.with_vocabulary(frame)

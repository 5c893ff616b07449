"""Reason codes: the features that raised a score most, in words a customer can read.

Regulated lenders must say why an offer was made. TreeSHAP gives each feature's exact additive
share of a row's log-odds; `ReasonWriter` turns the largest positive shares into reasons (a
vector whose single dimensions mean nothing, like an embedding, summed into one) through a
template registry keyed by feature name. A template's pattern is matched (full match, in
registration order) against `feature=value` first and then against `feature`, so one template
can cover a family of features or one categorical value. Named groups of the pattern and the
row's other values are available in the text:

    templates.register(r"top_taxonomy_node_id_30d=(?P<node>.+)",
                       "researched {node} on the web (web sessions in the last 30 days: {row[n_linked_sessions_30d]})")

A template may require a numeric value of at least `min_value` (a share of web activity only
reads as "researched ..." when it is not near zero). A template whose placeholders cannot be
filled, or whose `min_value` the value does not reach, is skipped for the next matching one;
when none is left the generic text "{feature} = {value} raised the score" is used, so a missing
feature never breaks a response. The project's registry is
clickintent.ranker.feature_reasons.FEATURE_REASON_TEMPLATES; values are displayed by
`display_value` (the one formatter of texts and values).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from clickintent.ranker.conversion_model import ConversionModel
    from clickintent.ranker.layout import FeatureLayout
    from clickintent.ranker.tabular import FeatureSchema

GENERIC_REASON = "{feature} = {value} raised the score"
DEFAULT_TOP_K = 3


@dataclass(frozen=True)
class Reason:
    feature: str
    value: str  # the row's value as displayed in the text
    contribution: float  # share of the log-odds (margin) this feature added
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value, "contribution": round(self.contribution, 6), "text": self.text}


@dataclass(frozen=True)
class ReasonTemplate:
    pattern: re.Pattern[str]
    text: str
    # Applies only when the value is a number >= min_value (None: any value).
    min_value: float | None = None

    def accepts(self, value: str) -> bool:
        if self.min_value is None:
            return True
        try:
            return float(value.replace(",", "")) >= self.min_value  # "1,970" as displayed
        except ValueError:
            return False


class ReasonTemplates:
    """An ordered registry of (feature pattern -> text); the first match wins."""

    def __init__(self, templates: Iterable[tuple[str, str]] = (), *, fallback: str = GENERIC_REASON):
        self.fallback = fallback
        self._templates: list[ReasonTemplate] = []
        # feature -> the templates that can apply to it (see `_candidates_for`); cleared on register.
        self._candidates: dict[str, tuple[tuple[ReasonTemplate, bool, re.Match[str] | None], ...]] = {}
        for pattern, text in templates:
            self.register(pattern, text)

    def register(self, pattern: str, text: str, *, min_value: float | None = None) -> ReasonTemplates:
        self._templates.append(ReasonTemplate(re.compile(pattern), text, min_value))
        self._candidates.clear()
        return self

    def __len__(self) -> int:
        return len(self._templates)

    def render(self, feature: str, value: str, row: Mapping[str, str], contribution: float = 0.0) -> str:
        context: dict[str, Any] = {"feature": feature, "value": value, "row": row, "contribution": contribution}
        candidates = self._candidates.get(feature)
        if candidates is None:
            candidates = self._candidates[feature] = self._candidates_for(feature)
        with_value = f"{feature}={value}"
        for template, may_match_with_value, feature_match in candidates:
            match = (template.pattern.fullmatch(with_value) if may_match_with_value else None) or feature_match
            if match is None or not template.accepts(value):
                continue
            named = {key: _humanize(group) for key, group in match.groupdict().items() if group is not None}
            try:
                return template.text.format_map({**context, **named})
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                continue  # a placeholder the row cannot fill: a less specific template may still fit
        return self.fallback.format_map(context)

    def _candidates_for(self, feature: str) -> tuple[tuple[ReasonTemplate, bool, re.Match[str] | None], ...]:
        """The templates that can match `feature` or `feature=<any value>`, in registration order.

        Per request only these are tried (a handful instead of every template, twice): a pattern
        whose literal start is not compatible with `feature=` cannot match `feature=<value>`, and
        whether it matches `feature` alone does not depend on the value.
        """
        prefix = f"{feature}="
        out = []
        for template in self._templates:
            literal = literal_prefix(template.pattern)
            may_match_with_value = prefix.startswith(literal) or literal.startswith(prefix)
            feature_match = template.pattern.fullmatch(feature)
            if may_match_with_value or feature_match is not None:
                out.append((template, may_match_with_value, feature_match))
        return tuple(out)


# ---------------------------------------------------------------------------------------------
# the regex prefix rule (public API only)

# Characters with a meaning in a pattern; the literal start of a pattern ends at the first one.
_SPECIAL = frozenset(".^$*+?{}[]\\|()")


def literal_prefix(pattern: re.Pattern[str]) -> str:
    """Characters every match of `pattern` starts with, read conservatively from its text.

    '' when unsure (case-insensitive or verbose flags, a top-level alternation); a literal
    character followed by a quantifier is not part of it. Only ever shorter than the true prefix,
    so a template filtered by it (`ReasonTemplates._candidates_for`) could never have matched.
    """
    text = pattern.pattern
    if pattern.flags & (re.IGNORECASE | re.VERBOSE) or _has_top_level_alternation(text):
        return ""
    prefix: list[str] = []
    for char in text:
        if char in _SPECIAL:
            if char in "*+?{" and prefix:
                prefix.pop()  # the last literal is optional or repeated
            break
        prefix.append(char)
    return "".join(prefix)


def _has_top_level_alternation(text: str) -> bool:
    depth, index, in_class = 0, 0, False
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if text[index + 1 : index + 2] == "^":
                index += 1
            if text[index + 1 : index + 2] == "]":  # a leading ] is a literal member
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False


# ---------------------------------------------------------------------------------------------
# displaying values


def display_number(value: float) -> str:
    """Numbers as a customer reads them: 1,970 for money-sized values, 0.623 for shares."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 100:
        return f"{round(number):,}"
    return f"{number:.3g}"


def display_value(value: Any) -> str:
    """A present value as a reason shows it: yes/no, numbers by `display_number`, else its text."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return display_number(value)
    if value is pd.NA:
        return "missing"
    return str(value)


def _is_absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _PresentValues(dict):
    """A row's values as display text for `{row[...]}`; a missing value is a KeyError, so the
    template that needs it is skipped rather than saying "missing"."""

    def __init__(self, row: Mapping[str, Any]):
        super().__init__()
        self._row = row

    def __missing__(self, key: str) -> str:
        value = self._row.get(key)
        if _is_absent(value):
            raise KeyError(key)
        text = display_value(value)
        self[key] = text
        return text


# ---------------------------------------------------------------------------------------------
# contributions -> reasons


class ReasonWriter:
    """Per-column contributions of encoded rows -> up to `top_k` readable reasons per row.

    Columns are summed per reason group (a grouped vector's elements are one reason); values are
    read from the row, or from the encoded matrix for booleans, vector elements and one-hot
    columns. Missing values and context columns (the tile position, the observation point) are
    never reasons: neither says anything about the customer or the product. A text already given
    for a larger contribution is not repeated.
    """

    def __init__(
        self,
        columns: Sequence[str],
        templates: ReasonTemplates,
        *,
        groups: Mapping[str, str] | None = None,
        summed_vectors: Collection[str] = (),
        from_matrix: Collection[str] = (),
        yes_no: Collection[str] = (),
        not_reasons: Collection[str] = (),
    ):
        self.templates = templates
        groups = dict(groups or {})
        self._group_names = list(dict.fromkeys(groups.get(column, column) for column in columns))
        group_index = {name: index for index, name in enumerate(self._group_names)}
        # Contributions of a row, summed per reason group, are one matrix product.
        self._group_matrix = np.zeros((len(columns), len(self._group_names)), dtype=np.float64)
        for column_index, column in enumerate(columns):
            self._group_matrix[column_index, group_index[groups.get(column, column)]] = 1.0
        self._column_index = {column: index for index, column in enumerate(columns)}
        self._summed_vectors = set(summed_vectors)
        self._from_matrix = set(from_matrix)
        self._yes_no = set(yes_no)
        self._not_reasons = set(not_reasons)

    @classmethod
    def for_layout(cls, layout: FeatureLayout, templates: ReasonTemplates) -> ReasonWriter:
        from clickintent.ranker.tabular import ColumnKind

        schema = layout.schema
        return cls(
            schema.model_feature_names,
            templates,
            groups=layout.reason_group(),
            summed_vectors=[vector.name for vector in layout.vectors if vector.grouped],
            from_matrix=[column for vector in layout.vectors for column in vector.columns],
            yes_no=[column.name for column in schema.columns if column.kind is ColumnKind.BOOLEAN],
            not_reasons=set(layout.context) - {"product_id"},
        )

    @classmethod
    def for_schema(cls, schema: FeatureSchema, templates: ReasonTemplates) -> ReasonWriter:
        from clickintent.ranker.tabular import ColumnKind

        names = set(schema.names)
        return cls(
            schema.model_feature_names,
            templates,
            # One-hot columns (`column=category`) read yes/no from the matrix, like booleans.
            yes_no=[name for name in schema.model_feature_names if name not in names]
            + [column.name for column in schema.columns if column.kind is ColumnKind.BOOLEAN],
        )

    def write(self, contributions: np.ndarray, rows: Sequence[Mapping[str, Any]], matrix: np.ndarray, top_k: int) -> list[list[Reason]]:
        grouped = np.asarray(contributions, dtype=np.float64) @ self._group_matrix
        out: list[list[Reason]] = []
        for row_index, row in enumerate(rows):
            display = _PresentValues(row)
            reasons: list[Reason] = []
            for group_index in np.argsort(-grouped[row_index], kind="stable"):
                group, contribution = self._group_names[group_index], float(grouped[row_index, group_index])
                if len(reasons) >= top_k or not contribution > 0:
                    break
                if group in self._not_reasons:
                    continue
                value = self._display_value(group, row, matrix[row_index])
                if value is None:
                    continue
                text = self.templates.render(group, value, display, contribution)
                if any(reason.text == text for reason in reasons):
                    # Two features saying the same thing (the 30-day top node and its share) are one reason.
                    continue
                reasons.append(Reason(feature=group, value=value, contribution=contribution, text=text))
            out.append(reasons)
        return out

    def _display_value(self, group: str, row: Mapping[str, Any], encoded: np.ndarray) -> str | None:
        if group in self._summed_vectors:
            value = row.get(group)
            return None if value is None else f"{len(value)}-d vector"
        if group in self._yes_no or group in self._from_matrix:
            number = float(encoded[self._column_index[group]])
            if math.isnan(number):
                return None
            return ("yes" if number >= 0.5 else "no") if group in self._yes_no else display_number(number)
        value = row.get(group)
        return None if _is_absent(value) else display_value(value)


def explain(
    model: ConversionModel,
    rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    templates: ReasonTemplates | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> list[list[Reason]]:
    """Reasons of a `rank cv` model for raw rows (a frame, one mapping or a list of mappings),
    through the same writer as the served models (default templates: FEATURE_REASON_TEMPLATES)."""
    from clickintent.ranker.feature_reasons import FEATURE_REASON_TEMPLATES

    if isinstance(rows, pd.DataFrame):
        records = rows.to_dict(orient="records")
        matrix = model.encoder.encode_frame(rows)
    else:
        records = [rows] if isinstance(rows, Mapping) else list(rows)
        matrix = model.encoder.encode_rows(records)
    if not records:
        return []
    contributions = model.booster.predict(model.dmatrix(matrix), pred_contribs=True)[:, :-1]
    writer = ReasonWriter.for_schema(model.schema, FEATURE_REASON_TEMPLATES if templates is None else templates)
    return writer.write(contributions, records, matrix, top_k)


def _humanize(text: str) -> str:
    """`home_buying` -> `home buying`, `section:mortgages` -> `mortgages` for reason texts."""
    return text.rsplit(":", 1)[-1].replace("_", " ").replace("-", " ")

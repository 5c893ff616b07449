"""Reason codes: the features that raised a score most, in words a customer can read.

Regulated lenders must say why an offer was made. XGBoost's `pred_contribs=True` gives each
feature's exact additive share of a row's log-odds (TreeSHAP); the largest positive shares
become reasons through a template registry keyed by feature name. A template's pattern is
matched (full match, in registration order) against `feature=value` first and then against
`feature`, so one template can cover a family of features or one categorical value. Named
groups of the pattern and the row's other values are available in the text:

    templates.register(r"web_sessions_30d_top_node=(?P<node>.+)",
                       "researched {node} on the web in {row[web_sessions_30d]} sessions")

A template may require a numeric value of at least `min_value` (a share of web activity only
reads as "researched ..." when it is not near zero). A template whose placeholders cannot be
filled, or whose `min_value` the value does not reach, is skipped for the next matching one;
when none is left the generic text "{feature} = {value} raised the score" is used, so a missing
feature never breaks a response.

Per request this is one DMatrix from a float32 row plus one TreeSHAP pass: well under a
millisecond for the small models here (bench it with the serving path).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xgboost as xgb

from clickintent.ranker.tabular import FeatureSchema

if TYPE_CHECKING:  # pragma: no cover
    from clickintent.ranker.conversion_model import ConversionModel

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
        for pattern, text in templates:
            self.register(pattern, text)

    def register(self, pattern: str, text: str, *, min_value: float | None = None) -> "ReasonTemplates":
        self._templates.append(ReasonTemplate(re.compile(pattern), text, min_value))
        return self

    def __len__(self) -> int:
        return len(self._templates)

    def render(self, feature: str, value: str, row: Mapping[str, str], contribution: float = 0.0) -> str:
        context: dict[str, Any] = {"feature": feature, "value": value, "row": row, "contribution": contribution}
        for template in self._templates:
            match = template.pattern.fullmatch(f"{feature}={value}") or template.pattern.fullmatch(feature)
            if match is None or not template.accepts(value):
                continue
            named = {key: _humanize(group) for key, group in match.groupdict().items() if group is not None}
            try:
                return template.text.format_map({**context, **named})
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                continue  # a placeholder the row cannot fill: a less specific template may still fit
        return self.fallback.format_map(context)


# Templates for feature names of the project's customer web-intent features (DESIGN.md marts).
# Teams add their own with `register`; anything unmatched gets the generic text.
DEFAULT_REASON_TEMPLATES = ReasonTemplates(
    [
        (r"web_sessions_30d_top_node=(?P<node>.+)", "researched {node} on the web in {row[web_sessions_30d]} sessions"),
        (r"(?P<intent>.+)_intent_sessions_30d", "researched {intent} on the web in {value} sessions"),
        (r"(?:web_)?n_calculator_events(?:_30d)?", "used a calculator on the web {value} times"),
        (r"(?:web_)?n_form_starts(?:_30d)?", "started an application on the web {value} times"),
        (r"(?:web_)?n_searches(?:_30d)?", "searched the website {value} times"),
        (r"intent_label=(?P<intent>.+)", "showed {intent} intent"),
    ]
)


def feature_contributions(booster: xgb.Booster, matrix: xgb.DMatrix) -> np.ndarray:
    """Per-row, per-feature log-odds contributions, the bias column removed."""
    return booster.predict(matrix, pred_contribs=True)[:, :-1]


def reason_codes(
    booster: xgb.Booster,
    schema: FeatureSchema | None,
    rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    templates: ReasonTemplates = DEFAULT_REASON_TEMPLATES,
    top_k: int = DEFAULT_TOP_K,
    min_contribution: float = 0.0,
    threads: int = 1,
) -> list[list[Reason]]:
    """Up to `top_k` reasons per row: the features with the largest positive contributions.

    `rows` is one row (a mapping), a list of mappings or a DataFrame of raw feature values.
    With a `schema` (a `ConversionModel`'s) rows are encoded exactly as in training; without
    one, `rows` must be a DataFrame holding the booster's features as XGBoost accepts them.
    """
    if schema is not None and not isinstance(rows, pd.DataFrame):
        # The per-request path: plain mappings encoded in pure Python, no DataFrame.
        records = [rows] if isinstance(rows, Mapping) else list(rows)
        values = schema.encode_rows(records)
    else:
        frame = _as_frame(rows, schema.names if schema is not None else booster.feature_names)
        records = frame.to_dict(orient="records")
        values = schema.encode(frame) if schema is not None else np.empty((0, 0), dtype=np.float32)
    if schema is not None:
        feature_names = schema.model_feature_names
        raw_columns = set(schema.names)
        matrix = xgb.DMatrix(
            values,
            feature_names=feature_names,
            feature_types=schema.model_feature_types,
            enable_categorical=schema.has_categoricals,
            nthread=threads,
        )
    else:
        feature_names = list(booster.feature_names or frame.columns)
        raw_columns = set(feature_names)
        matrix = xgb.DMatrix(frame[feature_names], enable_categorical=True, nthread=threads)
    contributions = feature_contributions(booster, matrix)
    reasons: list[list[Reason]] = []
    for row_index, record in enumerate(records):
        row_contributions = contributions[row_index]
        order = np.argsort(-row_contributions, kind="stable")[:top_k]
        display = _LazyDisplay(record)
        row_reasons: list[Reason] = []
        for feature_index in order:
            contribution = float(row_contributions[feature_index])
            if not contribution > min_contribution:
                break
            feature = feature_names[feature_index]
            if feature in raw_columns:
                value = display.get(feature, "missing")
            else:  # a one-hot column `column=category`: show whether the row has it
                column, _, category = feature.partition("=")
                value = "yes" if display.get(column) == category else "no"
            text = templates.render(feature, value, display, contribution)
            row_reasons.append(Reason(feature=feature, value=value, contribution=contribution, text=text))
        reasons.append(row_reasons)
    return reasons


def explain(
    model: "ConversionModel",
    rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    templates: ReasonTemplates = DEFAULT_REASON_TEMPLATES,
    top_k: int = DEFAULT_TOP_K,
    min_contribution: float = 0.0,
) -> list[list[Reason]]:
    """`reason_codes` for a trained or loaded `ConversionModel`, with its schema and threads."""
    return reason_codes(
        model.booster,
        model.schema,
        rows,
        templates=templates,
        top_k=top_k,
        min_contribution=min_contribution,
        threads=model.threads,
    )


class _LazyDisplay(dict):
    """A row's values formatted for text, computed only for the keys a template reads."""

    def __init__(self, record: Mapping[str, Any]):
        super().__init__()
        self._record = record

    def __missing__(self, key: str) -> str:
        if key not in self._record:
            raise KeyError(key)
        value = format_value(self._record[key])
        self[key] = value
        return value

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


def format_value(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:.3g}"
    return str(value)


def _humanize(text: str) -> str:
    """`home_buying` -> `home buying`, `section:mortgages` -> `mortgages` for reason texts."""
    return text.rsplit(":", 1)[-1].replace("_", " ").replace("-", " ")


def _as_frame(rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        rows = [rows]
    return pd.DataFrame.from_records(list(rows), columns=list(columns) if columns else None)

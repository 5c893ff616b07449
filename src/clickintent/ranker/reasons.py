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
millisecond for the small models here (bench it with the serving path). The served models
(clickintent.ranker.served) use `PathTreeShap`, the same exact values from tables built at load.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import xgboost as xgb

try:  # the standard library's regex parser (sre_parse before Python 3.11)
    from re import _constants as _regex_constants, _parser as _regex_parser
except ImportError:  # pragma: no cover
    import sre_constants as _regex_constants  # type: ignore[no-redef]
    import sre_parse as _regex_parser  # type: ignore[no-redef]

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
        # feature -> the templates that can apply to it (see `_candidates_for`); cleared on register.
        self._candidates: dict[str, tuple[tuple[ReasonTemplate, bool, re.Match[str] | None], ...]] = {}
        for pattern, text in templates:
            self.register(pattern, text)

    def register(self, pattern: str, text: str, *, min_value: float | None = None) -> "ReasonTemplates":
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
            literal = _literal_prefix(template.pattern)
            may_match_with_value = prefix.startswith(literal) or literal.startswith(prefix)
            feature_match = template.pattern.fullmatch(feature)
            if may_match_with_value or feature_match is not None:
                out.append((template, may_match_with_value, feature_match))
        return tuple(out)


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


class PathTreeShap:
    """Exact path-dependent TreeSHAP (what XGBoost's `pred_contribs=True` computes), evaluated
    from per-leaf tables built once per booster.

    For a leaf with unique path features F (n of them), each with its cover fraction z_j (the
    share of training cover that follows the path's splits on j) and o_j (1 when the row follows
    all of them), TreeSHAP gives feature i of F

        v_leaf * (o_i - z_i) * sum over S in {j in F - i : o_j = 1} of |S|! (n-|S|-1)! / n! * prod_{j in F-S-i} z_j

    which depends on the row only through which splits of the path the row follows: at most
    2**depth cases per leaf, tabulated at load. A row then costs one comparison per split on each
    leaf's path and one table look-up per (leaf, feature) instead of TreeSHAP's recursion (Yang,
    "Fast TreeSHAP", 2021, algorithm v2). On the 1M-event world's tile ranker (32 trees of depth
    6, 1,674 leaves): the same values to float32 rounding (|difference| < 1e-6 against XGBoost),
    0.45 ms instead of 2.0 ms for the 5 tiles of a response (one thread, loaded 2-core box); the
    tables take 0.3 s and 5 MB to build. Boosters it cannot tabulate (multi-output, dart, paths
    longer than MAX_PATH_SPLITS) raise ValueError: use XGBoost's predict then.
    """

    MAX_PATH_SPLITS = 8  # a table of 2**splits rows per leaf

    def __init__(self, booster: xgb.Booster):
        model = json.loads(booster.save_raw("json"))
        learner = model["learner"]
        n_targets = int(learner["learner_model_param"].get("num_target", "1") or 1)
        n_class = int(learner["learner_model_param"].get("num_class", "0") or 0)
        gbm = learner["gradient_booster"]
        if gbm.get("name") != "gbtree" or n_targets > 1 or n_class > 1:
            raise ValueError("PathTreeShap supports single-output gbtree boosters only")
        self.n_features = int(learner["learner_model_param"]["num_feature"])
        leaves: list[tuple[float, list[tuple[int, float, bool, frozenset | None, bool]], list[int], list[float]]] = []
        for tree in gbm["model"]["trees"]:
            leaves.extend(_tree_paths(tree))
        leaves = [leaf for leaf in leaves if leaf[1]]  # a single-leaf tree gives every feature 0
        longest = max((len(path) for _, path, _, _ in leaves), default=0)
        if longest > self.MAX_PATH_SPLITS:
            raise ValueError(f"a tree path has {longest} splits; PathTreeShap tabulates up to {self.MAX_PATH_SPLITS}")
        self._empty = not leaves
        if not self._empty:
            self._build(leaves, longest)

    def _build(self, leaves, depth: int) -> None:
        n_leaves = len(leaves)
        # Split k of every path at entry (leaf, k). A row misses a split when `value < threshold`,
        # the value read from the rows of `split_rows` (see `contributions`): x with missing as -inf (default left) or +inf (default
        # right) for a path going right, and -x (missing as +inf / -inf) with the threshold
        # negated and moved one float up (x >= t is -x <= -t, i.e. -x < the next float above -t)
        # for a path going left. Shorter paths are padded with a split every row follows (the
        # constant row `padding`, 0, below 0). A categorical split reads a row after that: 1 when the
        # row follows it, 0 when not (below 0.5).
        padding = 4 * self.n_features
        column = np.full((n_leaves, depth), padding, dtype=np.intp)
        threshold = np.zeros((n_leaves, depth), dtype=np.float32)
        categorical: list[tuple[int, frozenset, bool, bool]] = []  # (column, category set, default_left, path goes left)
        tables, pair_columns, pair_leaf, pair_slot = [], [], [], []
        for leaf, (value, path, slot_columns, z) in enumerate(leaves):
            slot_of = {feature: slot for slot, feature in enumerate(slot_columns)}
            splits_of_slot = np.zeros(len(slot_columns), dtype=np.int64)
            for k, (feature, condition, default_left, categories, left) in enumerate(path):
                splits_of_slot[slot_of[feature]] |= 1 << k
                if categories is not None:
                    column[leaf, k], threshold[leaf, k] = padding + 1 + len(categorical), 0.5
                    categorical.append((feature, categories, default_left, left))
                elif left:
                    column[leaf, k] = feature + (2 if default_left else 3) * self.n_features
                    threshold[leaf, k] = np.nextafter(-np.float32(condition), np.float32(np.inf))
                else:
                    column[leaf, k] = feature + (0 if default_left else 1) * self.n_features
                    threshold[leaf, k] = np.float32(condition)
            # Row m of this leaf's table: the splits in bit mask m are not followed.
            missed = np.arange(1 << len(path))[:, None]
            satisfied = ((missed & splits_of_slot) == 0).astype(np.int64) @ (1 << np.arange(len(slot_columns)))
            table = np.zeros((1 << len(path), depth))
            table[:, : len(slot_columns)] = _leaf_table(value, z)[satisfied]
            tables.append(table)
            for slot, feature in enumerate(slot_columns):
                pair_columns.append(feature)
                pair_leaf.append(leaf)
                pair_slot.append(slot)
        self._depth = depth
        self._column = column.ravel()
        self._threshold = threshold.ravel()[:, None]
        # Categorical splits: one look-up per (split, category code) says whether the row misses it.
        # Codes are read as 0 = missing, 1 = invalid (negative or beyond every set), 2 + code.
        self._cat_column = np.array([feature for feature, *_ in categorical], dtype=np.intp)
        top_code = max((max(categories) for _, categories, _, _ in categorical if categories), default=0)
        self._top_code = top_code
        follows = np.empty((len(categorical), top_code + 4), dtype=np.float32)
        for row, (_, categories, default_left, left) in enumerate(categorical):
            in_set = np.zeros(top_code + 4, dtype=bool)
            in_set[[2 + code for code in categories]] = True
            follows[row] = in_set != left  # a category in the set goes right, any other left
            follows[row, 0] = default_left == left
            follows[row, 1] = left
        self._cat_follows = follows.ravel()
        self._cat_base = (np.arange(len(categorical)) * (top_code + 4)).astype(np.intp)[:, None]
        # (leaf, slot) pairs ordered by feature column, so the per-feature sums are one reduceat.
        order = np.lexsort((np.array(pair_slot), np.array(pair_leaf), np.array(pair_columns)))
        self._pair_share = (np.array(pair_leaf, dtype=np.intp) * depth + np.array(pair_slot, dtype=np.intp))[order]
        # One row of `depth` shares (slot order, zero-padded) per (leaf, missed splits).
        self._leaf_offset = np.concatenate([[0], np.cumsum([len(table) for table in tables])[:-1]]).astype(np.intp)[:, None]
        self._table = np.concatenate(tables)
        self._split_bits = (1 << np.arange(depth)).astype(np.uint8)
        pair_column = np.array(pair_columns, dtype=np.intp)[order]
        self._column_starts = np.flatnonzero(np.r_[True, pair_column[1:] != pair_column[:-1]])
        self._used_columns = pair_column[self._column_starts]

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, features) contributions to the margin, the bias column left out."""
        x = np.asarray(matrix, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a (rows, {self.n_features}) matrix, got {x.shape}")
        rows = x.shape[0]
        if self._empty or rows == 0:
            return np.zeros((rows, self.n_features), dtype=np.float64)
        # Features x rows: every gather below takes whole rows of this layout.
        columns = np.ascontiguousarray(x.T)
        missing = np.isnan(columns)
        low, high = np.where(missing, -np.inf, columns), np.where(missing, np.inf, columns)
        code_index = np.where(missing, 0, np.clip(columns, -1, self._top_code + 1) + 2).astype(np.intp)
        categorical = np.take(self._cat_follows, self._cat_base + np.take(code_index, self._cat_column, axis=0))
        split_rows = np.concatenate([low, high, -low, -high, np.zeros((1, rows), np.float32), categorical])
        misses = np.take(split_rows, self._column, axis=0) < self._threshold
        # Bit k of missed[leaf, row]: the row misses split k of the leaf's path.
        missed = np.einsum("lkr,k->lr", misses.reshape(-1, self._depth, rows).view(np.uint8), self._split_bits).astype(np.intp)
        # One row of `depth` shares per (leaf, row): a cache line or two each, so a request
        # touches ~leaves x rows lines of the tables, not one per (leaf, feature) pair.
        blocks = np.take(self._table, (self._leaf_offset + missed).ravel(), axis=0)  # (leaves * rows, depth)
        by_slot = blocks.reshape(-1, rows, self._depth).transpose(0, 2, 1).reshape(-1, rows)  # (leaves * depth, rows)
        shares = np.take(by_slot, self._pair_share, axis=0)
        out = np.zeros((self.n_features, rows), dtype=np.float64)
        out[self._used_columns] = np.add.reduceat(shares, self._column_starts, axis=0)
        return out.T


def _tree_paths(tree: Mapping[str, Any]) -> list[tuple[float, list[tuple[int, float, bool, frozenset | None, bool]], list[int], list[float]]]:
    """Every leaf of an XGBoost JSON tree: (value, its path's splits, the path's distinct
    features in order, each feature's cover fraction z). A split is (feature, threshold,
    default_left, category set or None, whether the path goes left)."""
    left, right = tree["left_children"], tree["right_children"]
    feature_of, condition = tree["split_indices"], tree["split_conditions"]
    default_left, cover = tree["default_left"], tree["sum_hessian"]
    split_type = tree.get("split_type") or [0] * len(left)
    categories = {
        node: frozenset(tree["categories"][start : start + size])
        for node, start, size in zip(tree.get("categories_nodes", []), tree.get("categories_segments", []), tree.get("categories_sizes", []))
    }
    out = []
    stack: list[tuple[int, list[tuple[int, bool]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if left[node] != -1:
            stack.append((right[node], path + [(node, False)]))
            stack.append((left[node], path + [(node, True)]))
            continue
        splits, slot_columns, z = [], [], []
        for parent, went_left in path:
            feature = feature_of[parent]
            child = left[parent] if went_left else right[parent]
            if feature not in slot_columns:
                slot_columns.append(feature)
                z.append(1.0)
            # A feature split again on the path: its fractions multiply (TreeSHAP's unwinding).
            z[slot_columns.index(feature)] *= cover[child] / cover[parent]
            is_categorical = split_type[parent] == 1
            splits.append((feature, condition[parent], bool(default_left[parent]), categories.get(parent, frozenset()) if is_categorical else None, went_left))
        out.append((float(condition[node]), splits, slot_columns, z))
    return out


def _leaf_table(value: float, z: list[float]) -> np.ndarray:
    """(2**n, n): the leaf value times feature i's share, for each set (bit mask) of satisfied features."""
    n = len(z)
    weights = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    satisfied = (np.arange(1 << n)[:, None] >> np.arange(n)) & 1  # (masks, n): o_j per mask
    out = np.empty((1 << n, n))
    for i in range(n):
        # Coefficients of prod over j != i of (o_j * t + z_j), per mask: t**s sums the sets S of size s.
        poly = np.zeros((1 << n, n))
        poly[:, 0] = 1.0
        for j in range(n):
            if j != i:
                poly[:, 1:] = poly[:, 1:] * z[j] + poly[:, :-1] * satisfied[:, j : j + 1]
                poly[:, 0] *= z[j]
        out[:, i] = value * (satisfied[:, i] - z[i]) * (poly @ weights)
    return out


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


def _literal_prefix(pattern: re.Pattern[str]) -> str:
    """The literal characters every match of `pattern` starts with ('' when unknown)."""
    if pattern.flags & re.IGNORECASE:
        return ""
    try:
        parsed = _regex_parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # noqa: BLE001 - a private parser: without a prefix every template stays a candidate
        return ""
    prefix = []
    for op, argument in parsed:
        if op is not _regex_constants.LITERAL:
            break
        prefix.append(chr(argument))
    return "".join(prefix)


def _humanize(text: str) -> str:
    """`home_buying` -> `home buying`, `section:mortgages` -> `mortgages` for reason texts."""
    return text.rsplit(":", 1)[-1].replace("_", " ").replace("-", " ")


def _as_frame(rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        rows = [rows]
    return pd.DataFrame.from_records(list(rows), columns=list(columns) if columns else None)

"""Rankers: the XGBoost conversion model, cross-validation on any table, and reason codes.

Modules: `tabular` (typed feature frames), `conversion_model` (fit/predict/save/load),
`cross_validation` (`rank cv`, online shoppers), `reasons` (pred_contribs -> reason texts).
Names are imported lazily so that `import clickintent.ranker.tabular` does not load XGBoost.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConversionModel": "conversion_model",
    "TrainingConfig": "conversion_model",
    "BoosterParams": "conversion_model",
    "FeatureSchema": "tabular",
    "TableError": "tabular",
    "infer_schema": "tabular",
    "read_table": "tabular",
    "split_features_and_label": "tabular",
    "cross_validate": "cross_validation",
    "cross_validate_table": "cross_validation",
    "run_online_shoppers": "cross_validation",
    "Reason": "reasons",
    "ReasonTemplates": "reasons",
    "DEFAULT_REASON_TEMPLATES": "reasons",
    "reason_codes": "reasons",
    "explain": "reasons",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

"""Rankers: the tile ranker and conversion model on Feast training sets, the ablation, reason codes,
and the conversion model on any table (`rank cv`).

Modules: `training_sets` (Feast point-in-time sets by feature service, time splits), `layout`
(Feast rows -> model matrix, training and serving alike), `boosting` (XGBoost with early stopping),
`tile_model` / `conversion_family` (the served models: load, score, reasons), `pipeline`
(run_ranker_stage, train_production_models, run_ablation), `designs` (design measurements), `feature_reasons`
(reason texts of the real features), `tabular` / `conversion_model` / `cross_validation`
(`rank cv` on any table, online shoppers), `reasons` (pred_contribs -> reason texts).
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
    "TileRanker": "tile_model",
    "FamilyConversionModel": "conversion_family",
    "load_conversion_model": "conversion_family",
    "ModelCardError": "served",
    "train_production_models": "pipeline",
    "run_ablation": "pipeline",
    "run_ranker_stage": "pipeline",
    "compare_designs": "designs",
    "FEATURE_REASON_TEMPLATES": "feature_reasons",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

"""Rankers: the tile ranker and conversion model on Feast training sets, the ablation, reason codes,
and the conversion model on any table (`rank cv`).

Modules:
- `training_sets`: Feast point-in-time training sets by feature service, time splits.
- `tabular`: tables, column kinds and the category rule; `layout`: a Feast service's columns
  (vectors, derived features); `encoding`: the one encoder of frames and dict rows to matrices.
- `boosting`: the one booster configuration (per-use defaults) and training with early stopping.
- `tasks`: the tile and conversion tasks, encoded training sets and one measured fit;
  `ablation`: the rows a-g; `production`: the stored production models;
  `evaluation_document`: evaluation.json; `pipeline`: the stage's entry points; `designs`:
  design measurements; `provenance`: taxonomy / encoder versions of the training data.
- `served`, `tile_model`, `conversion_family`: the stored models (cards, load, score, reasons).
- `reasons`: contributions -> reason texts (templates, formatting); `feature_reasons`: the
  templates of the real features; `tree_shap`: exact TreeSHAP from per-leaf tables.
- `conversion_model`, `cross_validation`: `rank cv` on any table, online shoppers.
- `anonymous_model` (the stored anonymous-visitor ranker), `anonymous_training` (its ablation and
  model, `rank anonymous`).
Names are imported lazily so that `import clickintent.ranker.tabular` does not load XGBoost.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConversionModel": "conversion_model",
    "TrainingConfig": "conversion_model",
    "BoosterConfig": "boosting",
    "train_booster": "boosting",
    "MatrixEncoder": "encoding",
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
    "ReasonWriter": "reasons",
    "explain": "reasons",
    "PathTreeShap": "tree_shap",
    "TileRanker": "tile_model",
    "FamilyConversionModel": "conversion_family",
    "AnonymousRanker": "anonymous_model",
    "run_anonymous_stage": "anonymous_training",
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

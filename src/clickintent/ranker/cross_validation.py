"""Stratified k-fold cross-validation of the conversion model on any table of features and a label.

Per outer fold: the conversion model is fitted on the training folds only (its own inner
stratified validation split does early stopping, picks the hyperparameter candidate and the
decision threshold), then scored once on the held-out fold. The held-out fold never influences
any choice. Reported figures are the means over folds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from clickintent.artifacts import atomic_write_json
from clickintent.ranker.conversion_model import THRESHOLD_RULE_TEXT, ConversionModel, TrainingConfig
from clickintent.ranker.tabular import (
    CategoricalEncoding,
    TableError,
    infer_schema,
    read_table,
    split_features_and_label,
)

ONLINE_SHOPPERS_DIR = "online_shoppers_intention"
ONLINE_SHOPPERS_FILE = "online_shoppers_intention.csv"
ONLINE_SHOPPERS_LABEL = "Revenue"
ONLINE_SHOPPERS_REPORT = "online_shoppers.json"
SHARED_DATASETS_VARIABLE = "CLICKINTENT_SHARED_DATASETS"


def hyperparameter_rule(config: TrainingConfig) -> str:
    stopping = config.candidates[0]
    return (
        f"per outer fold, each of the {len(config.candidates)} grid candidates is trained on the inner training split "
        f"({1 - config.validation_fraction:.0%} of the outer training rows, stratified) with early stopping "
        f"({stopping.early_stopping_rounds} rounds on inner-validation log loss, at most {stopping.max_rounds} rounds); "
        "the candidate with the lowest inner-validation log loss, trimmed to its best round, is scored once on the test fold"
    )


FoldCallback = Callable[[dict[str, Any]], None]


def cross_validate(
    features: pd.DataFrame,
    labels: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 7,
    threads: int = 2,
    config: TrainingConfig = TrainingConfig(),
    categorical: Sequence[str] = (),
    categorical_encoding: CategoricalEncoding = "native",
    on_fold: FoldCallback | None = None,
) -> dict[str, Any]:
    """Fold-by-fold and mean AUC, average precision and micro-F1 of the conversion model."""
    labels = np.asarray(labels).astype(np.int8)
    if folds < 2:
        raise TableError(f"--folds must be at least 2, got {folds}")
    minority = int(min(labels.sum(), len(labels) - labels.sum()))
    # Each outer training part must still leave both classes in the inner validation split.
    if minority < 2 * folds:
        raise TableError(
            f"the rarer class has {minority} row(s); {folds}-fold cross-validation with an inner validation split "
            f"needs at least {2 * folds}"
        )
    # Kinds come from the whole table (no label involved); vocabularies from each training fold.
    schema = infer_schema(features, categorical=categorical, categorical_encoding=categorical_encoding)
    if not schema.columns:
        raise TableError(f"no usable feature columns (ignored: {dict(schema.ignored)})")

    started = time.perf_counter()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_results: list[dict[str, Any]] = []
    for fold, (train_idx, test_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        train_features = features.iloc[train_idx]
        fold_started = time.perf_counter()
        model = ConversionModel.fit(
            train_features,
            labels[train_idx],
            config=config,
            seed=seed + fold,
            threads=threads,
            schema=schema.with_vocabulary_from(train_features),
        )
        test_labels = labels[test_idx]
        probabilities = model.predict_proba(features.iloc[test_idx])
        predictions = (probabilities >= model.threshold).astype(np.int8)
        result = {
            "fold": fold,
            "auc": float(roc_auc_score(test_labels, probabilities)),
            "average_precision": float(average_precision_score(test_labels, probabilities)),
            "micro_f1": float(f1_score(test_labels, predictions, average="micro")),
            "f1_positive": float(f1_score(test_labels, predictions, average="binary", zero_division=0)),
            "threshold": model.threshold,
            "best_iteration": model.best_iteration,
            "max_depth": model.params.max_depth,
            "min_child_weight": model.params.min_child_weight,
            "n_train": int(len(train_idx)),
            "n_test": int(len(test_idx)),
            "seconds": round(time.perf_counter() - fold_started, 3),
        }
        fold_results.append(result)
        if on_fold is not None:
            on_fold(result)

    def mean(key: str) -> float:
        return float(np.mean([result[key] for result in fold_results]))

    def std(key: str) -> float:
        return float(np.std([result[key] for result in fold_results]))

    return {
        "auc": mean("auc"),
        "average_precision": mean("average_precision"),
        "micro_f1": mean("micro_f1"),
        "f1_positive": mean("f1_positive"),
        "auc_std": std("auc"),
        "average_precision_std": std("average_precision"),
        "micro_f1_std": std("micro_f1"),
        "folds": fold_results,
        "n_rows": int(len(labels)),
        "n_features": len(schema.columns),
        "positive_rate": float(labels.mean()),
        "feature_kinds": {column.name: column.kind.value for column in schema.columns},
        "ignored_columns": dict(schema.ignored),
        "categorical_encoding": categorical_encoding,
        "threshold_rule": THRESHOLD_RULE_TEXT[config.threshold_rule],
        "hyperparameter_rule": hyperparameter_rule(config),
        "hyperparameter_grid": [
            {"max_depth": candidate.max_depth, "min_child_weight": candidate.min_child_weight} for candidate in config.candidates
        ],
        "fixed_hyperparameters": {
            "learning_rate": config.candidates[0].learning_rate,
            "subsample": config.candidates[0].subsample,
            "colsample_bytree": config.candidates[0].colsample_bytree,
            "reg_lambda": config.candidates[0].reg_lambda,
            "early_stopping_rounds": config.candidates[0].early_stopping_rounds,
            "max_rounds": config.candidates[0].max_rounds,
            "inner_validation_fraction": config.validation_fraction,
        },
        "folds_k": folds,
        "seed": seed,
        "threads": threads,
        "seconds": round(time.perf_counter() - started, 3),
    }


def cross_validate_table(
    table: Path,
    label: str,
    *,
    out: Path | None = None,
    positive: str | None = None,
    drop: Sequence[str] = (),
    folds: int = 5,
    seed: int = 7,
    threads: int = 2,
    config: TrainingConfig = TrainingConfig(),
    categorical: Sequence[str] = (),
    categorical_encoding: CategoricalEncoding = "native",
    on_fold: FoldCallback | None = None,
    on_read: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Read `table`, cross-validate, and (if `out`) write the JSON result atomically. on_read
    hears what was detected about a CSV (delimiter, quoting, header, encoding).

    Every input check runs before any training, and `out` is only written when all folds have
    finished, so a bad input or an interrupted run leaves an earlier result untouched.
    """
    frame = read_table(Path(table), report=on_read)
    features, labels = split_features_and_label(frame, label, positive=positive, drop=drop)
    result = cross_validate(
        features,
        labels,
        folds=folds,
        seed=seed,
        threads=threads,
        config=config,
        categorical=categorical,
        categorical_encoding=categorical_encoding,
        on_fold=on_fold,
    )
    result = {
        **{key: result[key] for key in ("auc", "average_precision", "micro_f1", "folds")},
        "table": str(Path(table).resolve()),
        "label": label,
        "positive": positive,
        "dropped_columns": list(drop),
        **{key: value for key, value in result.items() if key not in ("auc", "average_precision", "micro_f1", "folds")},
    }
    if out is not None:
        atomic_write_json(Path(out), result)
    return result


# ---------------------------------------------------------------------------------------------
# the online shoppers dataset (Sakar et al. 2019, UCI 468)


def shared_datasets_dir(settings: Any, datasets_dir: Path | None = None) -> Path:
    """Where the shared public datasets are: the argument, $CLICKINTENT_SHARED_DATASETS, or
    `../shared/datasets` beside the project directory."""
    if datasets_dir is not None:
        return Path(datasets_dir)
    from_environment = os.environ.get(SHARED_DATASETS_VARIABLE)
    if from_environment:
        return Path(from_environment)
    return (Path(settings.project_dir) / ".." / "shared" / "datasets").resolve()


def online_shoppers_csv(settings: Any, datasets_dir: Path | None = None) -> Path:
    """The dataset's CSV; `datasets_dir` may be the shared root or the dataset's own folder."""
    root = shared_datasets_dir(settings, datasets_dir)
    direct = root / ONLINE_SHOPPERS_FILE
    return direct if direct.is_file() else root / ONLINE_SHOPPERS_DIR / ONLINE_SHOPPERS_FILE


def run_online_shoppers(settings: Any, dataset_dir: Path | None = None, *, on_fold: FoldCallback | None = None) -> dict[str, Any]:
    """5-fold CV on the online shoppers table (label Revenue), written to <data dir>/reports/online_shoppers.json.

    Published XGBoost on this dataset: AUC 0.937, AP 0.754 (PMC10121810).
    """
    csv_path = online_shoppers_csv(settings, dataset_dir)
    if not csv_path.is_file():
        raise TableError(f"online shoppers dataset not found at {csv_path}; pass its directory or set {SHARED_DATASETS_VARIABLE}")
    out = Path(settings.reports_dir) / ONLINE_SHOPPERS_REPORT
    result = cross_validate_table(
        csv_path,
        ONLINE_SHOPPERS_LABEL,
        out=None,
        folds=5,
        seed=settings.seed,
        threads=settings.threads,
        on_fold=on_fold,
    )
    result["published_reference"] = {"auc": 0.937, "average_precision": 0.754, "source": "PMC10121810 (XGBoost)"}
    atomic_write_json(out, result)
    result["path"] = str(out)
    return result

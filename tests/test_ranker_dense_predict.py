"""The service's direct XGBoost scoring call against XGBoost's own inplace_predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from clickintent.ranker.dense_predict import DensePredictor


@pytest.fixture(scope="module")
def booster_and_rows() -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(5)
    rows = 600
    frame = pd.DataFrame(
        {
            "family": pd.Categorical(rng.choice(["cards", "home", "lending", "investing"], rows)),
            "tenure": rng.normal(5, 2, rows),
            "sessions": rng.poisson(3, rows).astype(float),
        }
    )
    frame.loc[rng.random(rows) < 0.2, "tenure"] = np.nan  # missing values take the default branch
    logit = (frame["family"] == "home") * 1.5 + np.nan_to_num(frame["tenure"].to_numpy()) * 0.2 - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "nthread": 1, "max_depth": 4, "max_cat_to_onehot": 1},
        xgb.DMatrix(frame, labels, enable_categorical=True),
        20,
    )
    codes = frame.assign(family=frame["family"].cat.codes.astype(float)).to_numpy(dtype=np.float32)
    return booster, codes


def test_predictions_are_xgboosts_own(booster_and_rows) -> None:
    booster, rows = booster_and_rows
    predictor = DensePredictor(booster)

    actual = predictor.predict(rows[:30])

    assert predictor.direct
    assert actual.dtype == np.float32 and actual.shape == (30,)
    np.testing.assert_array_equal(actual, booster.inplace_predict(rows[:30]))
    assert actual.std() > 0.01  # the rows are told apart: not a constant
    # A float64 or non-contiguous matrix is converted, not misread.
    np.testing.assert_array_equal(predictor.predict(rows[:60:2].astype(np.float64)), booster.inplace_predict(rows[:60:2]))


def test_result_survives_the_next_prediction(booster_and_rows) -> None:
    booster, rows = booster_and_rows
    predictor = DensePredictor(booster)

    first = predictor.predict(rows[:30])
    kept = first.copy()
    predictor.predict(rows[300:330])

    np.testing.assert_array_equal(first, kept)


def test_wrong_width_is_refused_and_empty_input_gives_nothing(booster_and_rows) -> None:
    booster, rows = booster_and_rows
    predictor = DensePredictor(booster)

    with pytest.raises(ValueError, match=r"expected a \(rows, 3\) matrix, got shape \(5, 2\)"):
        predictor.predict(rows[:5, :2])
    assert predictor.predict(rows[:0]).shape == (0,)

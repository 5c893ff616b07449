"""XGBoost's in-place prediction of a dense float32 matrix, without its per-call Python layer.

`Booster.inplace_predict` accepts pandas, Arrow, polars, cuDF, CuPy, lists and NumPy, and on
every call tests its input against each of those kinds, builds its JSON configuration and
imports its data helpers before it reaches the C function that predicts. For the service's 30
candidate rows that layer cost about as much as the prediction itself: with the call below,
`bench/serving.py`'s in-process `/recommend` p50 went from 2.62 to 2.53 ms (1M-event demo world,
one thread, two runs on a quiet machine).

`DensePredictor` makes the same C call (`XGBoosterPredictFromDense`, XGBoost's C API) with the
configuration built once, for the one input kind the service has. The numbers are XGBoost's own
(tested equal to `inplace_predict`). Without the private handles it needs (another XGBoost
major version), it falls back to `inplace_predict`.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import xgboost as xgb


class DensePredictor:
    """Transformed predictions (P(click) for a logistic booster) of dense float32 rows."""

    def __init__(self, booster: xgb.Booster):
        self.booster = booster
        self.n_features = booster.num_features()
        self._c_api: tuple[Any, Any, Any, Any, bytes] | None
        try:
            from xgboost import core
            from xgboost._data_utils import array_interface

            # `type 0`: the transformed value, what `inplace_predict`'s default asks for.
            config = core.make_jcargs(
                type=0, training=False, iteration_begin=0, iteration_end=0, missing=float("nan"), strict_shape=False, cache_id=0
            )
            self._c_api = (core._LIB, core._check_call, core.c_bst_ulong, array_interface, config)
        except (ImportError, AttributeError):  # pragma: no cover - another XGBoost layout
            self._c_api = None

    @property
    def direct(self) -> bool:
        """Whether predictions take the direct C call (False: `inplace_predict`)."""
        return self._c_api is not None

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """(rows,) float32 predictions of a (rows, n_features) matrix, NaN as missing. A copy:
        XGBoost's own output buffer is reused by the thread's next prediction."""
        rows = np.ascontiguousarray(matrix, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ValueError(f"expected a (rows, {self.n_features}) matrix, got shape {rows.shape}")
        if self._c_api is None or rows.shape[0] == 0:
            return np.array(self.booster.inplace_predict(rows), dtype=np.float32).reshape(rows.shape[0])
        library, check, c_length, array_interface, config = self._c_api
        shape = ctypes.POINTER(c_length)()
        dims = c_length()
        predictions = ctypes.POINTER(ctypes.c_float)()
        check(
            library.XGBoosterPredictFromDense(
                self.booster.handle,
                array_interface(rows),
                config,
                None,  # no proxy DMatrix: no base margin
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(predictions),
            )
        )
        count = int(np.prod([shape[axis] for axis in range(dims.value)]))
        if count != rows.shape[0]:
            raise ValueError(f"XGBoost returned {count} predictions for {rows.shape[0]} rows (a multi-output booster?)")
        return np.ctypeslib.as_array(predictions, (count,)).copy()


__all__ = ["DensePredictor"]

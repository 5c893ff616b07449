"""One compute thread per serving worker, set before numpy, torch or XGBoost load.

Measured on the 2-core target (docs/design.md, "Known traps"): XGBoost and torch with more than one
thread per worker are 10-100x slower per call under load, because every small request then
fans out to thread pools that fight the other requests (and the other workers) for the same
cores. Concurrency comes from requests and workers, never from inside one request.

OpenMP and the BLAS libraries read their thread counts once, when they are loaded, so
`pin_environment` must run before anything imports numpy, torch or xgboost: the service module
imports this module first. `pin_libraries` then sets what can only be set at run time.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def pin_environment() -> None:
    """One thread for OpenMP and the BLAS pools of this process (and of the workers it starts)."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"


def pin_libraries() -> None:
    """torch's intra- and inter-op pools to one thread (XGBoost gets nthread=1 per call)."""
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        # Already set, or parallel work already ran in this process: the pool size is fixed.
        pass


pin_environment()

"""The event contract (raw schema) and the validating loader every source goes through.

The names below are imported on first use, so that `clickintent.events.shapes` (which the
settings read) costs no pyarrow or pandas import.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RAW_TABLES": "clickintent.events.contract",
    "Column": "clickintent.events.contract",
    "Table": "clickintent.events.contract",
    "ContractError": "clickintent.events.loader",
    "replace_table_set": "clickintent.events.loader",
    "load_and_install": "clickintent.events.loader",
    "load_source_dir": "clickintent.events.loader",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

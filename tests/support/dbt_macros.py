"""dbt macros rendered outside dbt, to run them over test cases in an engine directly.

A macro file is rendered with plain Jinja together with the dialect macros
(dbt_project/macros/dialect/), and `adapter.dispatch` picks the `<dialect>__` implementation,
else the `default__` one, as dbt does for that adapter.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"


class _Dispatch:
    """dbt's `adapter.dispatch` for one adapter type, over the macros of one Jinja module."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.module = None

    def dispatch(self, name: str, _namespace: str | None = None):
        return getattr(self.module, f"{self.dialect}__{name}", None) or getattr(self.module, f"default__{name}")


def render_macro(file_name: str, call: str, dialect: str = "duckdb") -> str:
    """The SQL a dbt macro renders to for `dialect` (its file's macros and the dialect macros, then `call`)."""
    sources = [(MACROS / file_name).read_text(encoding="utf-8")]
    sources += [path.read_text(encoding="utf-8") for path in sorted((MACROS / "dialect").glob("*.sql"))]
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    adapter = _Dispatch(dialect)
    # dbt's return() ends a macro with a value; each macro here calls it last, so printing it is the same
    context = {"adapter": adapter, "return": lambda value: value}
    adapter.module = environment.from_string("\n".join(sources)).make_module(context)
    macros = {name: getattr(adapter.module, name) for name in dir(adapter.module) if not name.startswith("_")}
    return environment.from_string("{{ " + call + " }}").render(**macros, **context).strip()

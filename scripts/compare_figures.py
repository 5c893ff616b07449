"""Compare the figures of two runs: the same seed must give the same reports.

    python scripts/compare_figures.py BASE_DATA_DIR NEW_DATA_DIR [--all] [--tolerance 0]

Reads `<data dir>/reports/{evaluation,taxonomy,encoder,online_shoppers}.json` from both runs (every
JSON report with `--all`) and lists each value that differs, by its path in the document. What
measures the machine rather than the models is left out: wall-clock times, creation timestamps and
the rankers' time-stamped versions. Exit status 1 when a figure differs or a report is missing.
Used to prove that a change which should not move a figure (a refactor) did not.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

FIGURE_REPORTS = ("evaluation.json", "taxonomy.json", "encoder.json", "online_shoppers.json")
# Keys whose values are times, run timestamps or machine paths: they differ between any two runs.
RUN_KEY = re.compile(r"(^|_)(seconds|secs|created_at|generated_at|started_at|finished_at|timestamp|path|dir|directory)$|^model_version$")
# Ranker versions are `<format>.YYYYmmddTHHMMSSZ` stamps of the training run.
TIME_STAMPED_VERSION = re.compile(r"^(\d+\.)?\d{8}T\d{6}")


def differences(base: Any, new: Any, where: str, tolerance: float) -> list[str]:
    if isinstance(base, dict) and isinstance(new, dict):
        found: list[str] = []
        for key in sorted(set(base) | set(new), key=str):
            if RUN_KEY.search(str(key)):
                continue
            if key not in base or key not in new:
                found.append(f"{where}.{key}: only in {'new' if key not in base else 'base'}")
                continue
            found.extend(differences(base[key], new[key], f"{where}.{key}", tolerance))
        return found
    if isinstance(base, list) and isinstance(new, list):
        if len(base) != len(new):
            return [f"{where}: {len(base)} items against {len(new)}"]
        return [line for index, (b, n) in enumerate(zip(base, new)) for line in differences(b, n, f"{where}[{index}]", tolerance)]
    if isinstance(base, str) and isinstance(new, str) and TIME_STAMPED_VERSION.match(base) and TIME_STAMPED_VERSION.match(new):
        return []
    if isinstance(base, (int, float)) and isinstance(new, (int, float)) and not isinstance(base, bool):
        same = base == new or (math.isnan(base) and math.isnan(new)) or abs(base - new) <= tolerance
        return [] if same else [f"{where}: {base!r} -> {new!r}"]
    return [] if base == new else [f"{where}: {base!r} -> {new!r}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path, help="data directory of the reference run")
    parser.add_argument("new", type=Path, help="data directory of the run to check")
    parser.add_argument("--all", action="store_true", help="every JSON report both runs wrote, not only the four figure reports")
    parser.add_argument("--tolerance", type=float, default=0.0, help="absolute difference accepted on numbers (default 0: identical)")
    args = parser.parse_args(argv)
    base_reports, new_reports = args.base / "reports", args.new / "reports"
    names = (
        sorted({p.name for p in base_reports.glob("*.json")} & {p.name for p in new_reports.glob("*.json")}) if args.all else FIGURE_REPORTS
    )
    failed = False
    for name in names:
        base_file, new_file = base_reports / name, new_reports / name
        missing = [str(path) for path in (base_file, new_file) if not path.is_file()]
        if missing:
            print(f"{name}: missing {', '.join(missing)}")
            failed = True
            continue
        found = differences(json.loads(base_file.read_text()), json.loads(new_file.read_text()), name, args.tolerance)
        print(f"{name}: {'identical' if not found else f'{len(found)} differences'}")
        for line in found[:50]:
            print(f"  {line}")
        failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""`<data_dir>/reports/taxonomy.json`: the taxonomy's shape, page-map coverage, the classifier's
agreement with its teacher, and (synthetic worlds only) AMI against the hidden intents.

AMI figures (evaluation.py does all ground-truth reading):
- `distilled`: the classifier's labels for every session (session_intents.parquet), at the
  level-1 node (`top`) and at the predicted node (`node`), over web sessions, over app sessions
  (app screens get nodes by the page map alone, no teacher label) and over all;
- `teacher`: the teacher's primary node (and its level-1 node) on the sessions it labelled;
- `heldout`: teacher and distilled AMI on the distillation's held-out sessions, and the relative
  drop of distilled against teacher: the "within 3 % of the teacher" figure.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pandas as pd
import pyarrow.parquet as pq

from clickintent.artifacts import CARD_FILE, read_card
from clickintent.settings import Settings
from clickintent.taxonomy import evaluation
from clickintent.taxonomy.classifier import MODEL_NAME
from clickintent.taxonomy.distill import is_heldout
from clickintent.taxonomy.io import TaxonomyPaths, write_json_atomically
from clickintent.taxonomy.model import Taxonomy

AMI_TARGET_OFFLINE = 0.6
AGREEMENT_TARGET_RELATIVE_DROP = 0.03


def _finite(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def build_taxonomy_report(settings: Settings, stage_seconds: dict[str, float] | None = None) -> dict:
    paths = TaxonomyPaths.from_settings(settings)
    taxonomy = Taxonomy.load(paths.taxonomy)
    report: dict = {
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "taxonomy_version": taxonomy.taxonomy_version,
        "backend": taxonomy.backend,
        "nodes": len(taxonomy),
        "nodes_per_level": {str(level): count for level, count in taxonomy.nodes_per_level().items()},
        "leaves": len(taxonomy.leaves),
    }
    summary_path = paths.taxonomy_dir / "page_map_summary.json"
    if summary_path.is_file():
        report["page_map"] = json.loads(summary_path.read_text(encoding="utf-8"))
    card = read_card(paths.classifier_dir, name=MODEL_NAME) if (paths.classifier_dir / CARD_FILE).is_file() else None
    if card is not None:
        report["classifier"] = {
            "teacher": card["teacher"],
            "classes": card["metrics"]["classes"],
            "train_sessions": card["metrics"]["train_sessions"],
            "heldout_sessions": card["metrics"]["heldout_sessions"],
            "agreement_with_teacher_node": card["metrics"]["agreement_node"],
            "agreement_with_teacher_top_node": card["metrics"]["agreement_top_node"],
        }
    if stage_seconds:
        report["stage_seconds"] = stage_seconds
    if evaluation.ground_truth_available(settings) and paths.session_intents.is_file():
        report["ground_truth"] = _ground_truth_scores(settings, paths, taxonomy, card)
    return report


def _ground_truth_scores(settings: Settings, paths: TaxonomyPaths, taxonomy: Taxonomy, card: dict | None) -> dict:
    truth = evaluation.true_session_intents(settings)
    distilled = pq.read_table(paths.session_intents, columns=["session_id", "intent_node_id", "intent_top_node_id"]).to_pandas()
    scores = evaluation.score_labels(truth, distilled, {"distilled_top": "intent_top_node_id", "distilled_node": "intent_node_id"})
    result: dict = {
        "ami_distilled_top_web": _finite(scores["distilled_top"]["ami_web"]),
        "ami_distilled_top_all": _finite(scores["distilled_top"]["ami_all"]),
        "ami_distilled_node_web": _finite(scores["distilled_node"]["ami_web"]),
        "ami_distilled_node_all": _finite(scores["distilled_node"]["ami_all"]),
        "ami_distilled_top_app": _finite(scores["distilled_top"]["ami_app"]),
        "ami_distilled_node_app": _finite(scores["distilled_node"]["ami_app"]),
        "sessions_web": scores["distilled_top"]["n_web_sessions"],
        "sessions_app": scores["distilled_top"]["n_app_sessions"],
        "sessions_all": scores["distilled_top"]["n_sessions"],
        "true_intents_web": int(truth.loc[truth["platform"] == "web", "true_intent"].nunique()),
        "true_intents_app": int(truth.loc[truth["platform"] == "app", "true_intent"].nunique()),
        "ami_target_offline": AMI_TARGET_OFFLINE,
    }
    if not result["sessions_app"]:
        result["app_not_measured"] = "no app session has both a distilled label and a ground-truth intent"
    if paths.teacher_labels.is_file():
        teacher = pq.read_table(paths.teacher_labels, columns=["session_id", "primary_node_id"]).to_pandas()
        teacher = teacher[teacher["primary_node_id"].map(lambda node_id: node_id in taxonomy)]
        teacher["teacher_top"] = teacher["primary_node_id"].map(lambda node_id: taxonomy.top_of(node_id).id)
        teacher_scores = evaluation.score_labels(truth, teacher, {"top": "teacher_top", "node": "primary_node_id"})
        result.update(
            {
                "ami_teacher_top_web": _finite(teacher_scores["top"]["ami_web"]),
                "ami_teacher_node_web": _finite(teacher_scores["node"]["ami_web"]),
                "teacher_sessions_web": teacher_scores["top"]["n_web_sessions"],
            }
        )
        if card is not None and "split" in card["metrics"]:
            split = card["metrics"]["split"]
            held = teacher[is_heldout(teacher["session_id"], split["heldout_share"], split["seed"])]
            joined = held.merge(distilled, on="session_id").merge(truth, on="session_id")
            web = joined[joined["platform"] == "web"]
            if len(web):
                teacher_ami = evaluation.ami(web["true_intent"], web["teacher_top"])
                student_ami = evaluation.ami(web["true_intent"], web["intent_top_node_id"])
                drop = (teacher_ami - student_ami) / teacher_ami if teacher_ami > 0 else float("nan")
                result["heldout"] = {
                    "sessions_web": int(len(web)),
                    "ami_teacher_top_web": _finite(teacher_ami),
                    "ami_distilled_top_web": _finite(student_ami),
                    "relative_drop": _finite(drop),
                    "target_relative_drop": AGREEMENT_TARGET_RELATIVE_DROP,
                    "within_target": bool(drop <= AGREEMENT_TARGET_RELATIVE_DROP) if not math.isnan(drop) else None,
                }
    return result


def write_taxonomy_report(settings: Settings, stage_seconds: dict[str, float] | None = None) -> dict:
    report = build_taxonomy_report(settings, stage_seconds)
    write_json_atomically(TaxonomyPaths.from_settings(settings).report, report)
    return report


def report_frame(report: dict) -> pd.DataFrame:
    """Flat (what, value) rows for printing."""
    rows = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            rows.append((prefix, value))

    walk("", report)
    return pd.DataFrame(rows, columns=["what", "value"])

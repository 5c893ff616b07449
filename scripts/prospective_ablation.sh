#!/usr/bin/env bash
# The ablation twice from one built world: the model stages fitted on every session (standard) and
# only on sessions that end before the rankers' validation split (prospective), side by side.
#
#   scripts/prospective_ablation.sh BASE_DATA_DIR BASE_MODELS_DIR WORK_DIR
#
# BASE is a world after `clickintent build` (make demo, or scripts/reproduce_figures.sh); it is only
# read. Each arm is a copy, WORK_DIR/{standard,prospective}/{data,models}, in which the upstream
# stages run again through the CLI with CLICKINTENT_FIT_SESSIONS_BEFORE set to `all` or
# `ranker_validation_start`: taxonomy run, the dbt rebuild of what reads the page map, the encoder
# at a fixed 2 epochs (as reproduce_figures.sh: the demo's time budget would make the epoch count
# depend on the machine's load, and both arms must train alike), embed, evaluate, Feast apply and
# materialize, then `clickintent rank stage`. Both models still label and embed every session.
# The comparison goes to WORK_DIR/comparison.md and WORK_DIR/comparison.json
# (scripts/prospective_comparison.py). CLICKINTENT_CLI names the CLI (default: clickintent).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 BASE_DATA_DIR BASE_MODELS_DIR WORK_DIR" >&2
  exit 2
fi
base_data="$(cd "$1" && pwd)"
base_models="$(cd "$2" && pwd)"
mkdir -p "$3"
work="$(cd "$3" && pwd)"
if [ ! -f "$base_data/marts/fct_session_sequences.parquet" ]; then
  echo "$base_data has no built marts: run \`clickintent build\` (or make demo) on it first" >&2
  exit 2
fi
clickintent="${CLICKINTENT_CLI:-clickintent}"
python="${CLICKINTENT_PYTHON:-python}"
here="$(cd "$(dirname "$0")" && pwd)"

run_arm() {
  local arm="$1" fit="$2"
  local data="$work/$arm/data" models="$work/$arm/models"
  rm -rf "${work:?}/$arm"
  mkdir -p "$work/$arm"
  # The copy leaves out the encoder's checkpoints, so that each arm trains from scratch.
  cp -a "$base_data" "$data"
  rm -rf "$data/encoder/checkpoints"
  cp -a "$base_models" "$models"
  local env=(env CLICKINTENT_DATA_DIR="$data" CLICKINTENT_MODELS_DIR="$models" CLICKINTENT_FIT_SESSIONS_BEFORE="$fit")
  echo "== $arm (fit_sessions_before=$fit)"
  "${env[@]}" "$clickintent" taxonomy run
  "${env[@]}" "$clickintent" build --select "stg_taxonomy__page_map+"
  "${env[@]}" "$clickintent" encoder train --epochs 2
  "${env[@]}" "$clickintent" encoder embed
  "${env[@]}" "$clickintent" encoder evaluate
  "${env[@]}" "$clickintent" features apply
  "${env[@]}" "$clickintent" features materialize
  "${env[@]}" "$clickintent" rank stage --skip-online-shoppers
}

run_arm standard all
run_arm prospective ranker_validation_start
"$python" "$here/prospective_comparison.py" "$work/standard/data" "$work/prospective/data" \
  --markdown "$work/comparison.md" --json "$work/comparison.json"
cat "$work/comparison.md"

#!/usr/bin/env bash
# Run every stage that writes a figure report, through the CLI only, into DATA_DIR and MODELS_DIR.
#
#   scripts/reproduce_figures.sh DATA_DIR MODELS_DIR [EVENTS]
#
# The demo bounds the encoder's pretraining by wall-clock time, so how many epochs it runs depends
# on the machine's load; here the epochs are fixed, so two runs of the same code on the same seed
# write the same figures, and two versions of the code can be compared with
# scripts/compare_figures.py. CLICKINTENT_SHARED_DATASETS names the folder of the online shoppers
# data (default: ../shared/datasets beside the checkout).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 DATA_DIR MODELS_DIR [EVENTS]" >&2
  exit 2
fi
export CLICKINTENT_DATA_DIR="$1" CLICKINTENT_MODELS_DIR="$2"
events="${3:-1000000}"
clickintent="${CLICKINTENT_CLI:-clickintent}"
"$clickintent" generate --events "$events"
"$clickintent" build
"$clickintent" taxonomy run
"$clickintent" build --select "stg_taxonomy__page_map+"
"$clickintent" encoder train --epochs 2
"$clickintent" encoder embed
"$clickintent" encoder evaluate
"$clickintent" features apply
"$clickintent" features materialize
"$clickintent" rank stage

#!/bin/bash
# Submits a ferrofold batch to Slurm as two job arrays: features (CPU) then predict, task i of the predict
# array starting when task i of the features array has succeeded (--dependency=aftercorr).
#
# Usage: submit.sh RUN_ARGS...
#   RUN_ARGS are `ferrofold run` arguments, given to both stages: inputs (FASTA files or folders), -o DIR,
#   MSA/database options, model options. Example:
#     pipelines/slurm/submit.sh targets/ -o out/ --db-preset full_dbs --data-dir /data/af2 \
#         --models-dir /data/af2/models
#
# Environment:
#   FERROFOLD                 ferrofold binary (default: ferrofold on PATH)
#   FERROFOLD_MAX_TASKS       most array tasks per stage (default 100; fewer when there are fewer targets)
#   FERROFOLD_SBATCH_FEATURES extra sbatch options for the features array (e.g. "--partition=cpu")
#   FERROFOLD_SBATCH_PREDICT  extra sbatch options for the predict array (e.g. "--partition=gpu --cpus-per-task=32")
#   FERROFOLD_LOG_DIR         where the tasks' logs go (default: logs/)
#
# Prints the two job ids (features, predict). Rerunning submit.sh after failures redoes only what is
# missing: every stage skips targets whose outputs are up to date.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FERROFOLD=${FERROFOLD:-ferrofold}
max_tasks=${FERROFOLD_MAX_TASKS:-100}
log_dir=${FERROFOLD_LOG_DIR:-logs}
if [ $# -eq 0 ]; then
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
# Counting the targets also validates every input FASTA before anything is queued.
n=$("$FERROFOLD" run "$@" --list | wc -l)
if [ "$n" -eq 0 ]; then
    echo "submit.sh: no targets in the inputs" >&2
    exit 1
fi
tasks=$(( n < max_tasks ? n : max_tasks ))
mkdir -p "$log_dir"
export FERROFOLD
# shellcheck disable=SC2086 # the extra options are meant to be split into words
features_job=$(sbatch --parsable --export=ALL --array="0-$((tasks - 1))" \
    --output="$log_dir/ferrofold-features-%A_%a.log" ${FERROFOLD_SBATCH_FEATURES:-} \
    "$here/features.sbatch" "$@")
features_job=${features_job%%;*}
# shellcheck disable=SC2086
predict_job=$(sbatch --parsable --export=ALL --array="0-$((tasks - 1))" \
    --dependency="aftercorr:$features_job" --kill-on-invalid-dep=yes \
    --output="$log_dir/ferrofold-predict-%A_%a.log" ${FERROFOLD_SBATCH_PREDICT:-} \
    "$here/predict.sbatch" "$@")
predict_job=${predict_job%%;*}
echo "submitted $n target(s) as $tasks task(s): features job $features_job, predict job $predict_job" >&2
echo "$features_job $predict_job"

#!/usr/bin/env bash
# The runbook's task runner: the scheduled jobs, in order, each through `railway run`.
#
#   ./railway-tasks.sh                      # sync_fx_rates, sync_csd, reconcile_positions
#   ./railway-tasks.sh sync_csd             # only the named jobs, in the order given
#
# It stops at the first job that fails and exits with that job's code (1 = failed, 2 =
# configuration error, 3 = not available in this version), so cron or CI sees the failure
# and no later job runs on the data of a failed one. A job skipped because another run of it
# holds its lock exits 0 and counts as done (docs/JOBS.md).
#
# RAILWAY_RUN is the command each job runs under: by default `railway run --service web`
# (the web service's variables, the command on this machine, which reaches the databases by
# their public URLs: `manage.py --public-urls`); set it to "" to run the jobs directly where
# the variables are already set, e.g. inside a Railway container (the private network).
# The primary scheduler is the cron service (`dpo jobs schedule`, docs/RUNBOOK.md); this
# script and .github/workflows/scheduled-tasks.yml are the runbook's fallbacks.
set -euo pipefail

readonly KNOWN="sync_fx_rates sync_csd reconcile_positions"
read -r -a runner <<< "${RAILWAY_RUN-railway run --service web}"
# Through a runner the job runs outside Railway, where *.railway.internal does not resolve.
route=()
if [[ ${#runner[@]} -gt 0 ]]; then
  route=(--public-urls)
fi

if [[ $# -eq 0 ]]; then
  read -r -a jobs <<< "$KNOWN"
else
  jobs=("$@")
fi

for job in "${jobs[@]}"; do
  if [[ " $KNOWN " != *" $job "* ]]; then
    echo "railway-tasks.sh: unknown job '$job' (known: $KNOWN)" >&2
    exit 2
  fi
done

echo "Starting scheduled tasks: ${jobs[*]}"
for job in "${jobs[@]}"; do
  echo "-> $job"
  status=0
  "${runner[@]}" python manage.py "${route[@]}" "$job" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "railway-tasks.sh: $job failed with exit code $status; the remaining tasks were not run" >&2
    exit "$status"
  fi
done
echo "All tasks completed"

#!/usr/bin/env bash
# Warden GitHub Action, last step: the step's result. The command's exit status, as if it had
# run on its own; with fail-on-alerts, an alert fails it even when the command succeeded.
set -uo pipefail
code="${INPUT_EXIT_CODE:-}"
alerts="${INPUT_ALERTS:-0}"
[[ "$alerts" =~ ^[0-9]+$ ]] || alerts=0
if [ "${INPUT_FAIL_ON_ALERTS:-false}" = true ] && [ "$alerts" -gt 0 ]; then
  echo "::error title=Warden::$alerts alert(s) during the run (fail-on-alerts); see the job summary and the audit artifact"
  exit 1
fi
if ! [[ "$code" =~ ^[0-9]+$ ]]; then
  echo "::error title=Warden::the command did not run (no exit code recorded)"
  exit 1
fi
[ "$code" -eq 0 ] || echo "::error title=Warden::the command exited with $code"
exit "$code"

#!/usr/bin/env bash
# Warden GitHub Action, step 2: the job's command under `warden run`, as root (sudo) so that
# the sandbox gets the root network design (netns + nft in the host namespace) and no AppArmor
# question arises; the sandbox itself never runs as uid 0. The policy: the operator's base
# (policy or policy-yaml), tightened by the repository's at a trusted ref (policy-ref). The
# command's status is recorded (GITHUB_OUTPUT exit-code, audit) and this step succeeds, so that
# the summary and the upload run; the Verdict step fails with it.
set -uo pipefail
ACTION_PATH="${ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}"
: "${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set (not on a GitHub runner?)}"
# sudo resets PATH to its secure_path: keep the job's (actions/setup-node's node and npm) for
# Warden and, through env.pass, for the command.
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo -n -E env "PATH=$PATH")
tmp="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
audit="$tmp/warden-audit-${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}-${GITHUB_ACTION:-run}.ndjson"
args=(run --audit "$audit")
if [ -n "${INPUT_POLICY:-}" ]; then
  args+=(--policy "$INPUT_POLICY")
elif [ -n "${INPUT_POLICY_YAML:-}" ]; then
  base="$tmp/warden-base-policy-${GITHUB_RUN_ID:-0}.yaml"
  printf '%s\n' "$INPUT_POLICY_YAML" >"$base"
  args+=(--policy "$base")
fi
[ -z "${INPUT_POLICY_REF:-}" ] || args+=(--policy-ref "$INPUT_POLICY_REF")
[ "${INPUT_MONITOR:-false}" != true ] || args+=(--monitor)
[ -n "${INPUT_COMMAND:-}" ] || { echo "::error title=Warden::the command input is empty"; echo "exit-code=2" >>"$GITHUB_OUTPUT"; exit 0; }
cd "${INPUT_WORKING_DIRECTORY:-${GITHUB_WORKSPACE:-.}}" || { echo "exit-code=2" >>"$GITHUB_OUTPUT"; exit 0; }

echo "warden ${args[*]} -- bash -eo pipefail -c <command>"
"${SUDO[@]}" "$ACTION_PATH/bin/warden" "${args[@]}" -- bash --noprofile --norc -eo pipefail -c "$INPUT_COMMAND"
code=$?
# The audit was written as root: the upload step runs as the runner's user.
[ ! -e "$audit" ] || "${SUDO[@]}" chown "$(id -u):$(id -g)" "$audit"
{
  echo "exit-code=$code"
  [ ! -e "$audit" ] || echo "audit=$audit"
} >>"$GITHUB_OUTPUT"
echo "warden: the command exited with $code"
exit 0

#!/usr/bin/env bash
# `npm run test:reliability`: the fault and fuzz suite (test/reliability/, issue 10), printing its
# figures (fuzz cases/s and seeds, fault tables) so runs can be compared. The agent's fault table
# runs twice: with the script, then with the standalone executable on a host without node.
# Options are passed to vitest; --standalone-json=FILE names the second pass's JSON report.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
args=()
second=()
for a in "$@"; do
  case $a in
    --standalone-json=*) second+=(--reporter=default --reporter=json "--outputFile.json=${a#*=}") ;;
    --reporter=* | --outputFile.json=*) args+=("$a") ;;
    *) args+=("$a") && second+=("$a") ;;
  esac
done
status=0
npx vitest run -c vitest.reliability.config.ts "${args[@]}" || status=$?
IAK_E2E_AGENT=standalone npx vitest run -c vitest.reliability.config.ts "${second[@]}" \
  test/reliability/agent-faults.test.ts || status=$?
exit "$status"

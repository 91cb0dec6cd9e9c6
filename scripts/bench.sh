#!/usr/bin/env bash
# `npm run bench`: every benchmark, printing figures (never asserted in tests).
# The login benchmark needs root and sshd; it is skipped with a note otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
node scripts/build.mjs
echo "== publisher (bench/publish.ts: users keysPerUser groups)"
npx tsx bench/publish.ts "${BENCH_USERS:-1000}" 2 50
echo "== targeted event runs by account size (bench/event.ts: sizes keysPerUser groups)"
npx tsx bench/event.ts "${BENCH_EVENT_SIZES:-100,1000}" 2 50
echo "== publisher scale, small (bench/scale.ts: users keys groups; IAM limited to 20 requests/s, runs of 10 s; docs/scale.md has the large sizes)"
npx tsx bench/scale.ts 200 5 30 --rate 20 --budget 10
echo "== publisher budget under 50 % IAM throttling (bench/budget.ts: users budgetSeconds; pages of 10)"
npx tsx bench/budget.ts 200 3 --runs 10 --cli-runs 2
echo "== what hosts read at 5,000 users: index.json vs directory.json (bench/directory.ts: users keysPerUser)"
npx tsx bench/directory.ts "${BENCH_DIRECTORY_USERS:-5000}" 5
echo "== host agent start-up (bench/agent.ts)"
npx tsx bench/agent.ts
echo "== login storm: 100 concurrent invocations on a cold cache (bench/storm.ts)"
npx tsx bench/storm.ts
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/sshd ]; then
  echo "== ssh login (bench/login.ts)"
  npx tsx bench/login.ts 20
  echo "== revocation end to end (bench/revocation.ts)"
  npx tsx bench/revocation.ts 2
else
  echo "== ssh login: skipped (needs root and /usr/sbin/sshd)"
fi

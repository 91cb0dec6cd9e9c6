#!/usr/bin/env bash
# The one test command (README: `npm ci && npm test`). Installs what the tests
# need on a fresh machine, then runs lint, typecheck, build and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

have() { command -v "$1" >/dev/null 2>&1; }

# Debian packages for the end-to-end tests: a real OpenSSH sshd and client, and
# visudo (sudo) that sync-users validates sudoers drop-ins with; qemu-user and an
# arm64 libc to run the arm64 standalone executable; dpkg-deb and rpmbuild for
# the OS packages; the reference policy headers, checkpolicy and semodule-utils
# for the .rpm's SELinux module, and setools (sesearch) to check its rules.
missing=()
[ -x /usr/sbin/sshd ] || have sshd || missing+=(openssh-server)
have ssh || missing+=(openssh-client)
[ -x /usr/sbin/visudo ] || have visudo || missing+=(sudo)
have logger || missing+=(bsdutils)
# pkill: e2e clean-up kills what still runs as a throwaway account before userdel frees its uid.
have pkill || missing+=(procps)
[ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
have rpmbuild || missing+=(rpm)
have dpkg-deb || missing+=(dpkg)
have systemd-analyze || missing+=(systemd)
# Writes the journal files ship-audit's journal source is tested on (no journald runs in a container).
[ -x /lib/systemd/systemd-journal-remote ] || missing+=(systemd-journal-remote)
have checkmodule || missing+=(checkpolicy)
have semodule_package || missing+=(semodule-utils)
[ -f /usr/share/selinux/devel/Makefile ] || missing+=(selinux-policy-dev)
have sesearch || missing+=(setools)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && have apt-get; then
    echo "test: installing ${missing[*]} for the end-to-end tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test: missing ${missing[*]} and not root: the end-to-end tests will fail without them" >&2
  fi
fi
# moto_server (IAM/S3/STS emulator), cfn-lint and the AWS CLI (the credential cache is shared with it), from PyPI where absent.
for tool in moto_server:moto[server] cfn-lint:cfn-lint aws:awscli; do
  bin=${tool%%:*}; pkg=${tool#*:}
  if ! have "$bin"; then
    echo "test: installing $pkg" >&2
    python3 -m pip install -q "$pkg" || echo "test: could not install $pkg; tests that need $bin will fail" >&2
  fi
done
[ -d node_modules ] || npm ci

npm run -s lint
npm run -s typecheck
npm run -s build
mkdir -p .tmp
rm -f .tmp/vitest*.json
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=.tmp/vitest.json "$@" || status=$?
# Second pass: the host agent's end-to-end and integration tests once more with
# the standalone executable, on a "host" where node does not exist (see
# dev/agent-kind.ts). It takes the options given (--opt=value), not file filters.
opts=()
for a in "$@"; do [[ $a == -* ]] && opts+=("$a"); done
IAK_E2E_AGENT=standalone npx vitest run --reporter=default --reporter=json \
  --outputFile.json=.tmp/vitest-standalone.json "${opts[@]}" test/e2e/ test/integration/host-agent/ || status=$?
# Third: the fault and fuzz suite (npm run test:reliability), which prints its figures.
bash scripts/test-reliability.sh --reporter=default --reporter=json --outputFile.json=.tmp/vitest-reliability.json \
  --standalone-json=.tmp/vitest-reliability-standalone.json "${opts[@]}" || status=$?
# One plain closing line that any CI reader understands, over every pass.
node -e '
const fs = require("fs");
const runs = [".tmp/vitest.json", ".tmp/vitest-standalone.json", ".tmp/vitest-reliability.json", ".tmp/vitest-reliability-standalone.json"].filter((f) => fs.existsSync(f)).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const sum = (k) => runs.reduce((n, r) => n + r[k], 0);
// A file that fails to load has no failed test: count it as one failure, so the line never says 0 when a pass failed.
const failed = sum("numFailedTests") + runs.reduce((n, r) => n + r.testResults.filter((t) => t.status === "failed" && t.assertionResults.every((a) => a.status !== "failed")).length, 0);
console.log(`${sum("numPassedTests")} passed, ${failed} failed, ${sum("numPendingTests") + sum("numTodoTests")} skipped`);
' || true
exit "$status"


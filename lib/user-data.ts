// The instance user-data snippet: install the host agent from a pinned artifact
// and write its config. Pure: returns the script text (bucket and region may be
// CDK tokens, resolved by CloudFormation).
import { isValidLocalName, parsePrincipal } from '../contract/index.js';
import { type AgentSource, InvalidConfigError } from './config.js';

export interface UserDataOptions {
  /** Bucket name (may be a token). */
  readonly bucket: string;
  /** Normalised key prefix ('' or 'p/'). */
  readonly prefix: string;
  /** Bucket region (may be a token). */
  readonly region: string;
  /** Local account -> principals, as in the host agent config. */
  readonly users: Readonly<Record<string, readonly string[]>>;
  /** Without it the snippet carries placeholders and refuses to run until they are filled in. */
  readonly agent: AgentSource | undefined;
}

export const CONFIG_PATH = '/etc/iam-authorized-keys.json';
export const AGENT_PATH = '/usr/local/bin/iam-authorized-keys';
export const AGENT_URI_PLACEHOLDER = 'REPLACE_WITH_S3_URI_OF_dist/iam-authorized-keys';
export const AGENT_SHA256_PLACEHOLDER = 'REPLACE_WITH_SHA256_OF_dist/iam-authorized-keys';

/** The example shared-account mapping used when none is given. */
export const DEFAULT_HOST_USERS: Readonly<Record<string, readonly string[]>> = {
  'ec2-user': ['groups/Administrators'],
};

export function validateHostUsers(users: Readonly<Record<string, readonly string[]>>): void {
  for (const [local, principals] of Object.entries(users)) {
    if (!isValidLocalName(local)) {
      throw new InvalidConfigError(`hostUsers: ${JSON.stringify(local)} is not a valid local user name`);
    }
    for (const p of principals) {
      try {
        parsePrincipal(p);
      } catch (err) {
        throw new InvalidConfigError(`hostUsers: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}

export function renderUserData(o: UserDataOptions): string {
  validateHostUsers(o.users);
  const config = JSON.stringify(
    { bucket: o.bucket, prefix: o.prefix, region: o.region, users: o.users },
    null,
    2,
  );
  const uri = o.agent?.s3Uri ?? AGENT_URI_PLACEHOLDER;
  const sha = o.agent?.sha256 ?? AGENT_SHA256_PLACEHOLDER;
  // Every value below is validated (or a token resolving to a bucket name or
  // region), and the config heredoc is quoted: nothing in it is expanded by bash.
  return `#!/bin/bash
# iam-ssh-keys: install the host agent and point sshd at it (needs Node.js >= 20 and the AWS CLI).
set -euo pipefail
AGENT_S3_URI='${uri}'
AGENT_SHA256='${sha}'
# Fail closed: without a pinned checksum, install nothing.
if ! [[ "$AGENT_SHA256" =~ ^[0-9a-f]{64}$ && "$AGENT_S3_URI" == s3://* ]]; then
  echo "iam-ssh-keys: set AGENT_S3_URI and AGENT_SHA256 (sha256sum dist/iam-authorized-keys)" >&2; exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "iam-ssh-keys: the host agent needs Node.js >= 20 (found: $node_major)" >&2; exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
aws s3 cp --only-show-errors "$AGENT_S3_URI" "$tmp/agent"
# A replaced artifact fails here and is never installed.
if ! echo "$AGENT_SHA256  $tmp/agent" | sha256sum --check --status; then
  echo "iam-ssh-keys: checksum mismatch for $AGENT_S3_URI: not installing" >&2; exit 1
fi
cat > "$tmp/config.json" <<'IAM_SSH_KEYS_CONFIG'
${config}
IAM_SSH_KEYS_CONFIG
# Temp file + rename in the target directory: readers never see a partial file.
install -o root -g root -m 0755 "$tmp/agent" ${AGENT_PATH}.new
mv -f ${AGENT_PATH}.new ${AGENT_PATH}
install -o root -g root -m 0644 "$tmp/config.json" ${CONFIG_PATH}.new
mv -f ${CONFIG_PATH}.new ${CONFIG_PATH}
${AGENT_PATH} install
`;
}

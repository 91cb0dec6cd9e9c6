// The instance user-data snippet: install the host agent's standalone executable
// for the instance's architecture from a pinned release folder, and write its
// config. Needs no Node.js, npm or AWS CLI on the host: without the CLI it signs
// the S3 request with curl and the instance role's IMDSv2 credentials. Pure:
// returns the script text (bucket and regions may be CDK tokens, resolved by
// CloudFormation).
import { Fn, Token } from 'aws-cdk-lib';
import { errorMessage } from '../contract/errors.js';
import { isValidLocalName, parsePrincipal, S3_FIPS_REGIONS } from '../contract/index.js';
import {
  type AgentArch,
  type AgentSource,
  InvalidConfigError,
  parseBucketName,
  parseKeyPrefix,
  validateAgentSource,
  validateRegion,
} from './config.js';

export interface UserDataOptions {
  /** Bucket name (may be a token). */
  readonly bucket: string;
  /** Normalised key prefix ('' or 'p/'). */
  readonly prefix: string;
  /** Bucket region (may be a token); also the artifacts bucket's unless agent.region says otherwise. */
  readonly region: string;
  /** Local account -> principals, as in the host agent config. */
  readonly users: Readonly<Record<string, readonly string[]>>;
  /** Without it the snippet carries placeholders and refuses to run until they are filled in. */
  readonly agent: AgentSource | undefined;
  /** Download through S3's FIPS endpoint, and write `useFipsEndpoint: true` into the host config. @default false */
  readonly useFipsEndpoint?: boolean;
  /**
   * The login trail's bucket and its region (either may be a token): written as the host
   * config's `audit` section, so `install` sets up the shipper (source: the journal).
   * @default - no login trail
   */
  readonly audit?: { readonly bucket: string; readonly region: string } | undefined;
}

export const CONFIG_PATH = '/etc/iam-authorized-keys.json';
export const AGENT_PATH = '/usr/local/bin/iam-authorized-keys';
export const AGENT_URI_PLACEHOLDER = 'REPLACE_WITH_S3_FOLDER_OF_dist/iam-authorized-keys-linux-ARCH/';
export const AGENT_SHA256_PLACEHOLDER: Readonly<Record<AgentArch, string>> = {
  x64: 'REPLACE_WITH_SHA256_OF_dist/iam-authorized-keys-linux-x64',
  arm64: 'REPLACE_WITH_SHA256_OF_dist/iam-authorized-keys-linux-arm64',
};
/** SHA-256 of an empty payload: the x-amz-content-sha256 S3 wants on a GET. */
const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

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
        throw new InvalidConfigError(`hostUsers: ${errorMessage(err)}`, { cause: err });
      }
    }
  }
}

/** The one way a value enters the script as a shell word: single-quoted, each `'` as `'\\''`. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * Characters a CloudFormation-resolved value must not carry into the script:
 * `'` would end its shell quoting, `"` and `\\` its JSON string in the config,
 * a line break could end the config heredoc.
 */
const DEPLOY_TIME_UNSAFE = ["'", '"', '\\', '\n', '\r'];

/**
 * A literal is validated by the caller. A token (an imported bucket's name or
 * region, Aws.REGION) is only known at deploy time, past any check here: it is
 * wrapped in Fn::Join/Fn::Split pairs that remove every unsafe character, so
 * whatever it resolves to stays inside its quotes (the script then checks the
 * region's shape before using it).
 */
function deployTimeSafe(value: string): string {
  if (!Token.isUnresolved(value)) return value;
  let v = value;
  for (const c of DEPLOY_TIME_UNSAFE) v = Fn.join('', Fn.split(c, v));
  return v;
}

/** Every value the script receives, validated when literal (tokens: deployTimeSafe). */
function checkedValues(o: UserDataOptions) {
  validateHostUsers(o.users);
  if (o.agent) validateAgentSource(o.agent);
  const literal = (v: string) => !Token.isUnresolved(v);
  if (literal(o.bucket)) parseBucketName(o.bucket, 'bucket');
  if (literal(o.prefix) && parseKeyPrefix(o.prefix) !== o.prefix) {
    throw new InvalidConfigError(`prefix: ${JSON.stringify(o.prefix)} is not a normalised key prefix`);
  }
  if (literal(o.region)) validateRegion(o.region, 'region');
  if (o.audit && literal(o.audit.bucket)) parseBucketName(o.audit.bucket, 'audit.bucket');
  if (o.audit && literal(o.audit.region)) validateRegion(o.audit.region, 'audit.region');
  return {
    audit: o.audit && { bucket: deployTimeSafe(o.audit.bucket), region: deployTimeSafe(o.audit.region) },
    bucket: deployTimeSafe(o.bucket),
    prefix: deployTimeSafe(o.prefix),
    region: deployTimeSafe(o.region),
    folder: o.agent?.s3Uri ?? AGENT_URI_PLACEHOLDER,
    x64: o.agent?.sha256.x64 ?? AGENT_SHA256_PLACEHOLDER.x64,
    arm64: o.agent?.sha256.arm64 ?? AGENT_SHA256_PLACEHOLDER.arm64,
    agentRegion: o.agent?.region ?? deployTimeSafe(o.region),
  };
}

/** The host agent config the snippet writes: hosts use FIPS endpoints too when the download does. */
function hostConfigJson(v: ReturnType<typeof checkedValues>, o: UserDataOptions): string {
  const fips = o.useFipsEndpoint ? { useFipsEndpoint: true } : {};
  const audit = v.audit ? { audit: { ...v.audit, source: 'journal' } } : {};
  return JSON.stringify(
    { bucket: v.bucket, prefix: v.prefix, region: v.region, users: o.users, ...fips, ...audit },
    null,
    2,
  );
}

/**
 * With useFipsEndpoint: refuse a region whose S3 has no FIPS endpoint (the region may be a
 * token, so the host checks), and have the AWS CLI resolve the FIPS endpoint.
 */
function fipsShell(fips: boolean | undefined): string {
  if (!fips) return '';
  return `
case "$AGENT_REGION" in
  ${[...S3_FIPS_REGIONS].join('|')}) ;;
  *) fail "useFipsEndpoint: S3 has no FIPS endpoint in $AGENT_REGION" ;;
esac
export AWS_USE_FIPS_ENDPOINT=true`;
}

/**
 * The download without the AWS CLI: the instance role's credentials from IMDSv2, and
 * curl's own SigV4 signing (inside renderUserData's script, after its checks).
 */
function curlDownloadShell(fips: boolean | undefined): string {
  return `  # The instance role's credentials from IMDSv2, and curl's own SigV4 signing. S3 wants the
  # x-amz-* headers signed, which curl does from 7.86 on (older ones sign host and date only).
  # Secrets reach curl on stdin (-K -) from bash builtins: never in an argv that ps shows.
  command -v curl >/dev/null 2>&1 || fail "needs the AWS CLI or curl (>= 7.86) to download the agent"
  curl_version=$(curl --version 2>/dev/null | sed -n '1s/^curl \\([0-9][0-9]*\\.[0-9][0-9]*\\).*/\\1/p') \\
    || curl_version=
  if ! [[ "$curl_version" =~ ^([0-9]+)\\.([0-9]+)$ ]] \\
    || (( BASH_REMATCH[1] < 7 || (BASH_REMATCH[1] == 7 && BASH_REMATCH[2] < 86) )); then
    fail "curl \${curl_version:-of unknown version} cannot sign S3 requests (needs >= 7.86): install the AWS CLI first, or use the .deb/.rpm"
  fi
  imds=\${IAM_SSH_KEYS_IMDS:-http://169.254.169.254}
  case "$AGENT_REGION" in cn-*) s3_domain=amazonaws.com.cn ;; *) s3_domain=amazonaws.com ;; esac
  s3=\${IAM_SSH_KEYS_S3_ENDPOINT:-https://${fips ? 's3-fips' : 's3'}.$AGENT_REGION.$s3_domain}
  imds_token=$(curl -sSf --retry 3 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/latest/api/token") \\
    || fail "no IMDSv2 token from $imds"
  [[ "$imds_token" =~ ^[A-Za-z0-9_=+/-]+$ ]] || fail "unexpected IMDSv2 token from $imds"
  role=$(printf 'header = "X-aws-ec2-metadata-token: %s"\\n' "$imds_token" \\
    | curl -sSf --retry 3 -K - "$imds/latest/meta-data/iam/security-credentials/") \\
    || fail "no instance role: attach an instance profile whose role has the reader policy"
  role=\${role%%$'\\n'*}
  [[ "$role" =~ ^[A-Za-z0-9+=,.@_-]{1,64}$ ]] || fail "unexpected role name from IMDS"
  creds=$(printf 'header = "X-aws-ec2-metadata-token: %s"\\n' "$imds_token" \\
    | curl -sSf --retry 3 -K - "$imds/latest/meta-data/iam/security-credentials/$role") \\
    || fail "no credentials for role $role from IMDS"
  field() { printf '%s' "$creds" | sed -n "s/.*\\"$1\\"[[:space:]]*:[[:space:]]*\\"\\([^\\"]*\\)\\".*/\\1/p"; }
  key_id=$(field AccessKeyId); secret=$(field SecretAccessKey); session=$(field Token)
  [[ "$key_id" =~ ^[A-Za-z0-9]+$ && "$secret" =~ ^[A-Za-z0-9+/=]+$ && "$session" =~ ^[A-Za-z0-9+/=]+$ ]] \\
    || fail "unexpected credentials for role $role from IMDS"
  rest=\${uri#s3://}
  printf 'user = "%s:%s"\\nheader = "x-amz-security-token: %s"\\n' "$key_id" "$secret" "$session" \\
    | curl -sSf --retry 3 -K - --aws-sigv4 "aws:amz:$AGENT_REGION:s3" \\
      -H 'x-amz-content-sha256: ${EMPTY_PAYLOAD_SHA256}' -o "$tmp/agent" "$s3/$rest" \\
    || fail "could not download $uri from $s3 (signed for $AGENT_REGION: the artifacts bucket's region)"`;
}

export function renderUserData(o: UserDataOptions): string {
  const v = checkedValues(o);
  const config = hostConfigJson(v, o);
  // Every value is validated (a token made safe by deployTimeSafe) and quoted by shellQuote;
  // the config heredoc is quoted: nothing in it is expanded by bash.
  return `#!/bin/bash
# iam-ssh-keys: install the host agent (a standalone executable) and point sshd at it.
# Needs no Node.js, npm or AWS CLI: uses the AWS CLI when there is one, else curl (>= 7.86).
set -euo pipefail
AGENT_S3_FOLDER=${shellQuote(v.folder)}
AGENT_SHA256_X64=${shellQuote(v.x64)}
AGENT_SHA256_ARM64=${shellQuote(v.arm64)}
AGENT_REGION=${shellQuote(v.agentRegion)}
fail() { echo "iam-ssh-keys: $*" >&2; exit 1; }
# A region resolved at deploy time (a token) was not checked at synth: check it before any use.
[[ "$AGENT_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$ ]] || fail "AGENT_REGION is not an AWS region name"${fipsShell(o.useFipsEndpoint)}
machine=$(uname -m)
case "$machine" in
  x86_64) arch=x64; sha=$AGENT_SHA256_X64 ;;
  aarch64|arm64) arch=arm64; sha=$AGENT_SHA256_ARM64 ;;
  *) fail "no host agent for this architecture ($machine): there are x86_64 and aarch64 builds only" ;;
esac
# Fail closed: without a release folder and a pinned checksum, install nothing.
[[ "$AGENT_S3_FOLDER" == s3://*/ ]] \\
  || fail "set AGENT_S3_FOLDER to the s3://bucket/folder/ holding dist/iam-authorized-keys-linux-*"
[[ "$sha" =~ ^[0-9a-f]{64}$ ]] \\
  || fail "no pinned SHA-256 for linux-$arch: set AGENT_SHA256_\${arch^^} (sha256sum dist/iam-authorized-keys-linux-$arch)"
uri="\${AGENT_S3_FOLDER}iam-authorized-keys-linux-$arch"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v aws >/dev/null 2>&1; then
  aws s3 cp --only-show-errors --region "$AGENT_REGION" "$uri" "$tmp/agent" \\
    || fail "could not download $uri with the AWS CLI"
else
${curlDownloadShell(o.useFipsEndpoint)}
fi
# A replaced artifact fails here and is never installed.
if ! echo "$sha  $tmp/agent" | sha256sum --check --status; then
  fail "checksum mismatch for $uri: not installing"
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

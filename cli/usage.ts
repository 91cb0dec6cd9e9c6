// The operator CLI's usage text (docs/cli.md shows the same block; a doc test compares them).

export const USAGE = `usage:
  iam-ssh-keys publish --bucket NAME [--prefix P] [--dry-run] [--allow-mass-delete]
                       [--max-delete-share 0..1] [--allow-index-reset] [--uid-base N] [--json]
                       [--tag-key-prefix P]
                       [--event FILE]   (apply one saved EventBridge IAM event, as the Lambda does)
                       [--time-budget SECONDS]  (stop in time, save progress; exit 3: run again, 4: too small)
                       [--max-key-age-days N] [--max-grant-hours N] [--verify-required-groups A,B]
                       [--grant-tag-prefix P]   (key lifecycle: pass what the stack sets)
  iam-ssh-keys status  --bucket NAME [--prefix P] [--max-age SECONDS] [--expiring-within DAYS] [--json]
  iam-ssh-keys logins  --bucket AUDIT_BUCKET [--since 24h|TIME] [--until 0m|TIME] [--user IAM_USER]
                       [--instance ID] [--local-user NAME] [--keys-bucket NAME [--keys-prefix P]] [--json]
  iam-ssh-keys keys list       [--user IAM_USER]
  iam-ssh-keys keys upload     [--user IAM_USER] [--label NAME] FILE
  iam-ssh-keys keys activate   [--user IAM_USER] KEY_ID
  iam-ssh-keys keys deactivate [--user IAM_USER] KEY_ID
  iam-ssh-keys keys delete     [--user IAM_USER] KEY_ID | tag:TAG_KEY
  iam-ssh-keys credentials [--role-arn ARN] [--duration SECONDS] [--json]
  iam-ssh-keys grant --user IAM_USER --group IAM_GROUP --for 4h [--max-grant-hours N]
                     [--grant-tag-prefix P]   (time-boxed access: --for 90m, 4h, 1h30m)
  iam-ssh-keys grant --revoke --user IAM_USER --group IAM_GROUP [--grant-tag-prefix P]
  iam-ssh-keys grants --bucket NAME [--prefix P] [--json]
ssh-rsa keys go to IAM's SSH key store; ed25519, ECDSA and FIDO (sk-*) keys to a user tag
<tag key prefix><label> (--label, default: the key comment). keys commands take
[--tag-key-prefix P] too; the prefix defaults to $TAG_KEY_PREFIX, else ssh-key:. The grant tag
prefix defaults to $GRANT_TAG_PREFIX, else ssh-grant:.
Every command takes --profile NAME, --region REGION and --mfa-code CODE|- (- reads it from stdin;
or set IAM_SSH_KEYS_MFA_CODE). Credentials come from the standard AWS chain (AWS_PROFILE,
environment, ...); profiles with role_arn/source_profile/mfa_serial prompt for the MFA code on the
terminal and share the AWS CLI's session cache (~/.aws/cli/cache).
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_IAM / AWS_ENDPOINT_URL_S3 point it at an emulator.`;

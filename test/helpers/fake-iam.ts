// An in-memory IAM for unit tests of the targeted read, with IAM's own name rule
// (which moto lacks): user and group names are unique and looked up without
// regard to letter case, and answers carry the spelling a name was created with.
import {
  GetGroupCommand,
  GetSSHPublicKeyCommand,
  GetUserCommand,
  IAMClient,
  ListGroupsForUserCommand,
  ListSSHPublicKeysCommand,
} from '@aws-sdk/client-iam';

export interface FakeIamUser {
  readonly name: string;
  readonly id: string;
  readonly groups: readonly string[];
  readonly keys: readonly {
    readonly id: string;
    readonly status: 'Active' | 'Inactive';
    readonly body: string;
  }[];
  readonly tags?: readonly { readonly key: string; readonly value: string }[];
}

export interface FakeIamState {
  readonly users: readonly FakeIamUser[];
  readonly groups: readonly string[];
}

const fold = (n: string | undefined) => (n ?? '').toLowerCase();

function noSuchEntity(what: string): Error {
  return Object.assign(new Error(`${what} cannot be found`), { name: 'NoSuchEntityException' });
}

/** An IAMClient (paginators insist on one) whose send answers from `state`; `calls` counts by command. */
export function fakeIam(state: FakeIamState): { iam: IAMClient; calls: string[] } {
  const iam = new IAMClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  const calls: string[] = [];
  const user = (n: string | undefined) => {
    const u = state.users.find((x) => fold(x.name) === fold(n));
    if (!u) throw noSuchEntity(`user ${n}`);
    return u;
  };
  const answer = (cmd: unknown): unknown => {
    if (cmd instanceof GetUserCommand) {
      const u = user(cmd.input.UserName);
      return {
        User: {
          UserName: u.name,
          UserId: u.id,
          Tags: (u.tags ?? []).map((t) => ({ Key: t.key, Value: t.value })),
        },
      };
    }
    if (cmd instanceof ListGroupsForUserCommand) {
      return { Groups: user(cmd.input.UserName).groups.map((g) => ({ GroupName: g })), IsTruncated: false };
    }
    if (cmd instanceof ListSSHPublicKeysCommand) {
      const keys = user(cmd.input.UserName).keys.map((k) => ({ SSHPublicKeyId: k.id, Status: k.status }));
      return { SSHPublicKeys: keys, IsTruncated: false };
    }
    if (cmd instanceof GetSSHPublicKeyCommand) {
      const k = user(cmd.input.UserName).keys.find((x) => x.id === cmd.input.SSHPublicKeyId);
      if (!k) throw noSuchEntity(`key ${cmd.input.SSHPublicKeyId}`);
      return { SSHPublicKey: { SSHPublicKeyId: k.id, SSHPublicKeyBody: k.body, Status: k.status } };
    }
    if (cmd instanceof GetGroupCommand) {
      const g = state.groups.find((x) => fold(x) === fold(cmd.input.GroupName));
      if (g === undefined) throw noSuchEntity(`group ${cmd.input.GroupName}`);
      const members = state.users.filter((u) => u.groups.includes(g)).map((u) => ({ UserName: u.name }));
      return { Group: { GroupName: g }, Users: members, IsTruncated: false };
    }
    throw new Error(`fake IAM: unexpected ${(cmd as object).constructor.name}`);
  };
  iam.send = (async (cmd: unknown) => {
    calls.push((cmd as object).constructor.name);
    return answer(cmd);
  }) as IAMClient['send'];
  return { iam, calls };
}

// The `syncUsers` section of the config file (an admin-only section: the login
// parser accepts the key, host-agent/admin/config.ts has this parse it).
import { IAM_GROUP_NAME } from '../../../contract/layout.js';
import { isRecord } from '../../../contract/records.js';
import { type ConfigFields, define } from '../../config.js';
import { ALL_USERS, DEFAULT_MARKER_GROUP, type SyncSettings } from './plan.js';

/** The keys `syncUsers` accepts. */
export const SYNC_USERS_KEYS = [
  'markerGroup',
  'localGroups',
  'groupMap',
  'sudoGroups',
  'removeHome',
  'renumber',
] as const;

const LOCAL_GROUP = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

/** sync-users' settings from the config (the IAM groups it allows come from `iamUsers`). */
export type SyncUsersConfig = Omit<SyncSettings, 'allowGroups'> & { readonly renumber: boolean };

/** Parses `syncUsers`, applying its defaults; a mistake is a ConfigError naming the field. */
export function parseSyncUsers(v: unknown, f: ConfigFields): SyncUsersConfig {
  const { bad } = f;
  if (!isRecord(v)) return bad('syncUsers must be an object');
  for (const k of Object.keys(v)) {
    if (!(SYNC_USERS_KEYS as readonly string[]).includes(k)) {
      bad(`syncUsers: unknown setting ${JSON.stringify(k)}`);
    }
  }
  const markerGroup = v.markerGroup === undefined ? DEFAULT_MARKER_GROUP : v.markerGroup;
  if (typeof markerGroup !== 'string' || !LOCAL_GROUP.test(markerGroup)) {
    bad('syncUsers.markerGroup must be a local group name');
  }
  const localGroups =
    v.localGroups === undefined
      ? []
      : f.strList(v.localGroups, 'syncUsers.localGroups', (g) => LOCAL_GROUP.test(g), 'a local group name');
  const groupMap = v.groupMap === undefined ? {} : parseGroupMap(v.groupMap, f);
  let sudoGroups: string[] | typeof ALL_USERS = [];
  if (v.sudoGroups === ALL_USERS) sudoGroups = ALL_USERS;
  else if (v.sudoGroups !== undefined) {
    sudoGroups = f.strList(
      v.sudoGroups,
      'syncUsers.sudoGroups',
      (g) => IAM_GROUP_NAME.test(g),
      'an IAM group name',
    );
  }
  if (v.removeHome !== undefined && typeof v.removeHome !== 'boolean')
    bad('syncUsers.removeHome must be true or false');
  if (v.renumber !== undefined && typeof v.renumber !== 'boolean')
    bad('syncUsers.renumber must be true or false');
  return {
    markerGroup: markerGroup as string,
    localGroups,
    groupMap,
    sudoGroups,
    removeHome: v.removeHome === true,
    renumber: v.renumber === true,
  };
}

/** `syncUsers.groupMap`: IAM group -> local group. */
function parseGroupMap(v: unknown, f: ConfigFields): Record<string, string> {
  if (!isRecord(v)) return f.bad('syncUsers.groupMap must be an object of IAM group -> local group');
  const groupMap: Record<string, string> = {};
  for (const [iam, local] of Object.entries(v)) {
    if (!IAM_GROUP_NAME.test(iam))
      f.bad(`syncUsers.groupMap: ${JSON.stringify(iam)} is not an IAM group name`);
    if (typeof local !== 'string' || !LOCAL_GROUP.test(local)) {
      f.bad(`syncUsers.groupMap.${iam} must be a local group name`);
    }
    define(groupMap, iam, local as string);
  }
  return groupMap;
}

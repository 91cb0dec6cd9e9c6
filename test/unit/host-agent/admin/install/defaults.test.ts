import { describe, expect, it } from 'vitest';
import { chooseDefaults } from '../../../../../host-agent/admin/install/defaults.js';

const builtin = {
  bin: '/usr/local/bin/iam-authorized-keys',
  config: '/etc/iam-authorized-keys.json',
  agentUser: 'iam-authorized-keys',
};
const pkg = { standalone: true, path: '/usr/bin/iam-authorized-keys' };
const script = { standalone: false, path: '/usr/bin/node' };
const recorded = {
  agentUser: 'ops-keys',
  binPath: '/opt/iak/bin/iam-authorized-keys',
  configPath: '/etc/iak/config.json',
};

describe('chooseDefaults', () => {
  it.each([
    // command, explicit, state, running -> bin, config, agentUser
    ['install', {}, undefined, undefined, [builtin.bin, builtin.config, builtin.agentUser]],
    ['install', {}, undefined, pkg, [pkg.path, builtin.config, builtin.agentUser]],
    // Upgrade of a package whose first install named another agent user: kept.
    ['install', {}, { agentUser: 'ops-keys' }, pkg, [pkg.path, builtin.config, 'ops-keys']],
    ['install', {}, recorded, script, [recorded.binPath, recorded.configPath, 'ops-keys']],
    ['install', {}, recorded, pkg, [pkg.path, recorded.configPath, 'ops-keys']],
    ['install', { bin: '/b', config: '/c', agentUser: 'u' }, recorded, pkg, ['/b', '/c', 'u']],
    // uninstall and doctor look at what exists, whatever copy of the agent runs them.
    ['uninstall', {}, recorded, pkg, [recorded.binPath, recorded.configPath, 'ops-keys']],
    ['doctor', {}, recorded, script, [recorded.binPath, recorded.configPath, 'ops-keys']],
    ['doctor', {}, undefined, pkg, [pkg.path, builtin.config, builtin.agentUser]],
    ['doctor', { agentUser: 'x' }, { agentUser: 'ops-keys' }, undefined, [builtin.bin, builtin.config, 'x']],
  ] as const)('%s %j with state %j running %j', (command, explicit, state, running, expected) => {
    const c = chooseDefaults(command, explicit, state, { ...builtin, ...(running ? { running } : {}) });
    expect([c.bin, c.config, c.agentUser]).toEqual(expected);
  });
});

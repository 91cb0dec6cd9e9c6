import { describe, expect, it } from 'vitest';
import { bunSwitchesSet } from '../../../host-agent/bun-env.js';

describe('bunSwitchesSet', () => {
  it.each<[NodeJS.ProcessEnv, string[]]>([
    [{ PATH: '/usr/bin', HOME: '/', USER: 'u', LANG: 'C' }, []],
    [{ BUN_BE_BUN: '1' }, ['BUN_BE_BUN']],
    [{ BUN_BE_BUN: '' }, ['BUN_BE_BUN']],
    [{ BUN_OPTIONS: '--preload=/tmp/x' }, ['BUN_OPTIONS']],
    [
      { BUN_INSPECT: '', BUN_INSPECT_CONNECT_TO: 'x', BUN_INSPECT_PRELOAD: 'y', BUN_INSPECT_NOTIFY: 'z' },
      ['BUN_INSPECT', 'BUN_INSPECT_CONNECT_TO', 'BUN_INSPECT_NOTIFY', 'BUN_INSPECT_PRELOAD'],
    ],
    [
      {
        BUN_BYTECODE_ORDER_OUT: '/etc/shadow',
        BUN_BYTECODE_DIGEST_OUT: '',
        BUN_BYTECODE_ORDER_NAMES_OUT: 'x',
      },
      ['BUN_BYTECODE_DIGEST_OUT', 'BUN_BYTECODE_ORDER_NAMES_OUT', 'BUN_BYTECODE_ORDER_OUT'],
    ],
    [{ BUN_CONFIG_VERBOSE_FETCH: 'curl' }, ['BUN_CONFIG_VERBOSE_FETCH']],
    [
      { BUN_JSC_useJIT: '0', BUN_JSC_functionOverrides: '/f' },
      ['BUN_JSC_functionOverrides', 'BUN_JSC_useJIT'],
    ],
    // Not Bun's switches: the agent's own AWS settings and unrelated BUN_ names pass.
    [{ AWS_REGION: 'x', BUN_INSTALL: '/opt/bun', NODE_OPTIONS: '--x', JSC_useJIT: '0' }, []],
  ])('%j -> %j', (env, names) => {
    expect(bunSwitchesSet(env)).toEqual(names);
  });
});

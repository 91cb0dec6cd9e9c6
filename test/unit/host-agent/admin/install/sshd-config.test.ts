import { describe, expect, it } from 'vitest';
import {
  agentCommandLine,
  flattenConfig,
  parseSshdConfig,
  parseSshdT,
  renderDropIn,
} from '../../../../../host-agent/admin/install/sshd-config.js';
import { globToRegExp } from '../../../../../host-agent/secure-path.js';

describe('sshd config reading', () => {
  it.each([
    ['Port 22\n', [['port', '22']]],
    ['  AuthorizedKeysCommand=/x %u\n# c\n', [['authorizedkeyscommand', '/x %u']]],
    ['A b\nMatch User x\nAuthorizedKeysCommand /y\n', [['a', 'b']]],
  ])('parseSshdConfig(%j)', (text, expected) => {
    expect(parseSshdConfig('/f', text).map((d) => [d.keyword, d.value])).toEqual(expected);
  });

  it.each([
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/60-x.conf', true],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/sub/60-x.conf', false],
    ['/etc/ssh/sshd_config.d/*.conf', '/etc/ssh/sshd_config.d/60-x.conf.bak', false],
    ['/etc/ssh/sshd_config.d/6?-x.conf', '/etc/ssh/sshd_config.d/60-x.conf', true],
  ])('glob %s matches %s: %s', (pattern, path, expected) => {
    expect(globToRegExp(pattern).test(path)).toBe(expected);
  });

  it('flattens Include in place and resolves relative patterns against the config dir', () => {
    const files = new Map([['/etc/ssh/d/a.conf', 'X 1\n']]);
    const flat = flattenConfig('/etc/ssh/sshd_config', 'A 0\nInclude d/*.conf\nB 2\n', files, (p) =>
      p === '/etc/ssh/d/*.conf' ? ['/etc/ssh/d/a.conf'] : [],
    );
    expect(flat.map((d) => `${d.path}:${d.keyword}`)).toEqual([
      '/etc/ssh/sshd_config:a',
      '/etc/ssh/d/a.conf:x',
      '/etc/ssh/sshd_config:b',
    ]);
  });

  it('parseSshdT keeps the first value of each keyword', () => {
    expect(parseSshdT('authorizedkeyscommand /a %u %f\nport 22\nport 23\n').get('port')).toBe('22');
  });
});

describe('rendering', () => {
  it('the drop-in never says PermitUserEnvironment yes, and passes --config only when not the default', () => {
    const d = renderDropIn('/usr/local/bin/iam-authorized-keys', '/etc/iam-authorized-keys.json', 'u');
    expect(d).toMatch(/^PermitUserEnvironment SSH_KEY_OWNER$/m);
    expect(d).toMatch(/^AuthorizedKeysCommand \/usr\/local\/bin\/iam-authorized-keys -- %u %f$/m);
    expect(d).toMatch(/^ExposeAuthInfo yes$/m);
    expect(d).toMatch(/^LogLevel VERBOSE$/m);
    expect(agentCommandLine('/b', '/c.json')).toBe('/b --config /c.json -- %u %f');
  });
});

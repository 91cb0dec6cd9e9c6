import { describe, expect, it } from 'vitest';
import { install } from '../../../../../host-agent/admin/install/apply.js';
import { uninstall } from '../../../../../host-agent/admin/install/uninstall.js';
import {
  renderService,
  renderTimer,
  SCHEDULED_COMMANDS,
  type ScheduledCommand,
  timersOf,
  unitFiles,
} from '../../../../../host-agent/admin/install/units.js';
import type { AgentConfig } from '../../../../../host-agent/config.js';
import { eicHost, opts, paths } from './fixtures.js';

/** A stand-in scheduled command: what ship-audit or sessions will add to SCHEDULED_COMMANDS. */
const tick: ScheduledCommand = {
  name: 'tick',
  description: 'Tick',
  args: ['tick', '--quiet'],
  every: '1min',
  wanted: (c) => c.bucket === 'bkt',
};
const SERVICE = '/etc/systemd/system/iam-authorized-keys-tick.service';
const TIMER = '/etc/systemd/system/iam-authorized-keys-tick.timer';
const cfg = (bucket: string) => ({ bucket }) as AgentConfig;

describe('scheduled commands (install/units.ts)', () => {
  it.each([
    ['an audit section', { audit: { bucket: 'audit-b', source: 'journal', spoolMaxBytes: 65536 } }, true],
    ['no audit section', {}, false],
  ])('ship-audit is scheduled (every minute) for %s: %s', (_n, extra, wanted) => {
    expect(SCHEDULED_COMMANDS.map((c) => [c.name, c.args, c.every])).toEqual([
      ['ship-audit', ['ship-audit'], '1min'],
      ['sessions', ['sessions', '--end-revoked'], '1min'],
    ]);
    const files = unitFiles(SCHEDULED_COMMANDS, { ...cfg('b'), ...extra } as AgentConfig, paths).map(
      (u) => u.path,
    );
    expect(files).toEqual(
      wanted
        ? [
            '/etc/systemd/system/iam-authorized-keys-ship-audit.service',
            '/etc/systemd/system/iam-authorized-keys-ship-audit.timer',
          ]
        : [],
    );
  });

  it.each([
    ['endRevoked access', { sessions: { endRevoked: 'access' } }, true],
    ['endRevoked key', { sessions: { endRevoked: 'key' } }, true],
    ['endRevoked off', { sessions: { endRevoked: 'off' } }, false],
    ['no sessions section', {}, false],
  ])('sessions --end-revoked is scheduled (every minute) for %s: %s', (_n, extra, wanted) => {
    const files = unitFiles(SCHEDULED_COMMANDS, { ...cfg('b'), ...extra } as AgentConfig, paths).map(
      (u) => u.path,
    );
    expect(files).toEqual(
      wanted
        ? [
            '/etc/systemd/system/iam-authorized-keys-sessions.service',
            '/etc/systemd/system/iam-authorized-keys-sessions.timer',
          ]
        : [],
    );
  });

  it('renders a oneshot service running the command with the config, and its timer', () => {
    const service = renderService(tick, '/usr/bin/iam-authorized-keys', '/etc/iam-authorized-keys.json');
    expect(service).toContain('Type=oneshot\n');
    expect(service).toContain(
      'ExecStart=/usr/bin/iam-authorized-keys tick --quiet --config /etc/iam-authorized-keys.json\n',
    );
    expect(service).toContain('ConditionPathExists=/etc/iam-authorized-keys.json\n');
    const timer = renderTimer(tick);
    expect(timer).toContain('OnUnitActiveSec=1min\n');
    // systemd's default accuracy (1 min) would stretch a 1-minute period up to 2 minutes.
    expect(timer).toContain('AccuracySec=1s\n');
    expect(timer).toContain('WantedBy=timers.target\n');
  });

  it.each([
    ['wanted by the config', 'bkt', [SERVICE, TIMER]],
    ['not wanted by the config', 'other', []],
  ])('unit files of a command %s', (_n, bucket, expected) => {
    expect(unitFiles([tick], cfg(bucket), paths).map((u) => u.path)).toEqual(expected);
  });

  it('timersOf picks the agent timers install wrote, by name', () => {
    expect(
      timersOf([SERVICE, TIMER, paths.binPath, '/etc/systemd/system/other.timer'], paths.unitDir),
    ).toEqual(['iam-authorized-keys-tick.timer']);
  });

  it('install writes and enables them after the sshd check; a second install changes nothing; uninstall disables them first', async () => {
    const h = eicHost();
    const o = { ...opts, scheduled: [tick] };
    expect((await install(o, h.sys, false)).code).toBe(0);
    expect(h.files.get(TIMER)?.text).toBe(renderTimer(tick));
    expect(h.files.get(SERVICE)?.mode).toBe(0o644);
    const commands = h.log.filter((l) => l.startsWith('systemctl') || l.startsWith(paths.sshdBinary));
    expect(commands.slice(-3)).toEqual([
      'systemctl try-reload-or-restart sshd',
      'systemctl daemon-reload',
      'systemctl enable --now iam-authorized-keys-tick.timer',
    ]);
    const again = await install(o, h.sys, false);
    expect(again.plan.steps.filter((s) => s.kind === 'write-file')).toEqual([]);
    h.log.length = 0;
    expect(await uninstall(paths, h.sys, false)).toBe(0);
    expect(h.log.slice(0, 2)).toEqual([
      'systemctl daemon-reload',
      'systemctl disable --now iam-authorized-keys-tick.timer',
    ]);
    expect(h.files.has(TIMER) || h.files.has(SERVICE)).toBe(false);
  });

  it('a failed enable fails install (exit 1), said; a failed disable stops uninstall before any change', async () => {
    const h = eicHost();
    const lines: string[] = [];
    const sys = { ...h.sys, out: (l: string) => lines.push(l) };
    h.fail.push('systemctl enable');
    expect((await install({ ...opts, scheduled: [tick] }, sys, false)).code).toBe(1);
    expect(lines).toContain('FAIL: systemctl enable --now iam-authorized-keys-tick.timer failed: failed');
    h.fail.push('systemctl disable');
    h.log.length = 0;
    expect(await uninstall(paths, sys, false)).toBe(1);
    expect(h.log.filter((l) => !l.startsWith('systemctl'))).toEqual([]);
  });

  it('without systemd running, install says so and succeeds', async () => {
    const h = eicHost();
    const lines: string[] = [];
    const sys = {
      ...h.sys,
      out: (l: string) => lines.push(l),
      dirExists: async (p: string) => p !== '/run/systemd/system',
    };
    expect((await install({ ...opts, scheduled: [tick] }, sys, false)).code).toBe(0);
    expect(lines).toContain('systemd is not running: enable iam-authorized-keys-tick.timer yourself');
    expect(h.log.filter((l) => l.startsWith('systemctl daemon-reload'))).toEqual([]);
  });
});

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childPath } from '../../../host-agent/private-dir.js';

describe('childPath', () => {
  it.each([
    ['/var/cache/iam-authorized-keys', 'o-groups%2fAdmins%2fauthorized_keys'],
    ['/var/cache/iam-authorized-keys/', 'o-x'],
    ['/', 'o-x'],
    ['relative/dir', '.o-x.123.abc'],
  ])('%s + %s is the path node:path join gives', (dir, name) => {
    expect(childPath(dir, name)).toBe(join(dir, name));
  });
});

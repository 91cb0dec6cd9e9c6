import { describe, expect, it } from 'vitest';
import { indexAge } from '../../../host-agent/index-age.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');

describe('indexAge', () => {
  it.each([
    // generatedAt, maxStaleSeconds, ageSeconds, limitSeconds, stale, future
    ['2024-05-01T11:59:00Z', 3600, 60, 3600, false, false],
    ['2024-05-01T11:00:00Z', 3600, 3600, 3600, false, false],
    ['2024-05-01T10:59:59Z', 3600, 3601, 3600, true, false],
    ['2024-05-01T10:00:00Z', 0, 7200, 86400, false, false],
    ['2024-04-30T11:59:59Z', 0, 86401, 86400, true, false],
    ['2024-05-01T12:05:00Z', 3600, -300, 3600, false, false],
    ['2024-05-01T12:05:01Z', 3600, -301, 3600, false, true],
    ['2024-05-01T13:00:00Z', 0, -3600, 86400, false, true],
  ])('%s with maxStale %d', (generatedAt, maxStale, ageSeconds, limitSeconds, stale, future) => {
    expect(indexAge(generatedAt, NOW, maxStale)).toEqual({ ageSeconds, limitSeconds, stale, future });
  });
});

// The fault and fuzz suite (issue 10): `npm run test:reliability`. Only
// test/reliability/; the main config excludes it so `npm test` does not run it
// twice. Same build step as the main suite: the fault tests run the built agent
// and CLI from dist/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/reliability/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Each fault row waits out a deadline at most; fuzz targets run 10,000 cases each.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // One file at a time: the fault tables time each run against a deadline, on 2 shared CPUs.
    fileParallelism: false,
    // The figures each file prints (cases/s, fault tables) are the point of a run: show them.
    silent: false,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});

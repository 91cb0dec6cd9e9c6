// Builds dist/ once before any test runs: integration and e2e tests execute the
// bundled programs (dist/iam-authorized-keys, dist/iam-ssh-keys), as hosts do.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: ['ignore', 'ignore', 'inherit'] });
}

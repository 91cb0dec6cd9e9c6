// cdk.json entry (`npx tsx lib/app.ts`). No lookups, no environment: synth
// needs neither network nor AWS credentials.
import { App } from 'aws-cdk-lib';
import { buildApp } from './build-app.js';
import { InvalidConfigError } from './config.js';

const app = new App();
try {
  buildApp(app);
} catch (err) {
  // A settings mistake is the operator's to fix: one line, not a stack trace.
  if (!(err instanceof InvalidConfigError)) throw err;
  console.error(`iam-ssh-keys: ${err.message}`);
  process.exit(1);
}
app.synth();

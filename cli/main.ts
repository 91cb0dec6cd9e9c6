// Entry point of dist/iam-ssh-keys: one clear line and a non-zero exit on error.
import { UsageError } from './args.js';
import { describeError, run } from './run.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
run(process.argv.slice(2), (l) => process.stdout.write(`${l}\n`)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`iam-ssh-keys: ${describeError(e)}\n`);
    if (e instanceof UsageError) process.stderr.write('run "iam-ssh-keys help" for usage\n');
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);

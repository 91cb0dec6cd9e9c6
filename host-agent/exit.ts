// How the agent ends: at once, on success and on an internal error alike. sshd
// waits for the command to exit, so a pending lookup (a broken resolver, a hung
// socket) must never keep a login waiting after the answer.
import { errorMessage } from './errors.js';

/** Exits with main's code, or with 1 after reporting an internal error; never leaves the event loop to decide. */
export function exitWhenSettled(
  main: Promise<number>,
  exit: (code: number) => void,
  report: (message: string) => void,
): Promise<void> {
  return main.then(
    (code) => exit(code),
    (e: unknown) => {
      report(`internal error: ${errorMessage(e)}`);
      exit(1);
    },
  );
}

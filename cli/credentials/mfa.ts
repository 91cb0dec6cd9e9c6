// Where an MFA code comes from: --mfa-code CODE, --mfa-code - (first line of stdin), the
// IAM_SSH_KEYS_MFA_CODE variable, else a prompt on the controlling terminal (/dev/tty,
// never stdin, so a pipe into the command is not read as a code).

export class MfaCodeNeededError extends Error {
  override name = 'MfaCodeNeededError';
}

export const MFA_CODE_ENV = 'IAM_SSH_KEYS_MFA_CODE';

/** The controlling terminal; undefined when the process has none. */
export interface Terminal {
  write(text: string): void;
  /** One line as typed, without its newline; undefined at end of input. */
  readLine(): string | undefined;
  close(): void;
}

export interface MfaDeps {
  /** The value of --mfa-code, or of IAM_SSH_KEYS_MFA_CODE. */
  readonly given?: string;
  readonly readStdin: () => string;
  readonly openTerminal: () => Terminal | undefined;
}

export type MfaCodeSource = (profile: string, serial: string) => string;

const CODE = /^\d{6}$/;

function checked(code: string, where: string): string {
  const c = code.trim();
  if (!CODE.test(c)) throw new MfaCodeNeededError(`the MFA code ${where} is not 6 digits`);
  return c;
}

export function mfaCodeSource(deps: MfaDeps): MfaCodeSource {
  return (profile, serial) => {
    if (deps.given === '-') return checked(deps.readStdin().split(/\r?\n/)[0] ?? '', 'read from stdin');
    if (deps.given !== undefined) return checked(deps.given, 'given');
    const tty = deps.openTerminal();
    if (!tty) {
      throw new MfaCodeNeededError(
        `profile ${profile} needs an MFA code (${serial}) and there is no terminal to ask on: ` +
          `pass --mfa-code CODE, --mfa-code - (read from stdin) or set ${MFA_CODE_ENV}`,
      );
    }
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        tty.write(`MFA code for ${serial} (profile ${profile}): `);
        const line = tty.readLine();
        if (line === undefined) throw new MfaCodeNeededError(`no MFA code entered for profile ${profile}`);
        if (CODE.test(line.trim())) return line.trim();
        tty.write('an MFA code is 6 digits\n');
      }
      throw new MfaCodeNeededError(`no valid MFA code entered for profile ${profile}`);
    } finally {
      tty.close();
    }
  };
}

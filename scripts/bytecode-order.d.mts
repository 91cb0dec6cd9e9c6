export function profileBytecodeOrder(executable: string, workDir: string): Promise<string[]>;
export function profilingInput(input: string, dir: string): string;
export function bytecodeOrderFor(input: string, workDir: string): Promise<string[]>;

// Types of runtimes.mjs (a build script, plain JavaScript) for the tests that read the runtimes.
export interface Runtime {
  readonly target: string;
  readonly cpu: string;
  readonly bunTarget: string;
  readonly pkg: string;
}
export declare const RUNTIMES: readonly Runtime[];
export declare function runtimeDir(r: Runtime): string;
export declare function runtimeBinary(r: Runtime): string;

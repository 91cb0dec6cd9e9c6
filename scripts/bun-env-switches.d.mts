// Types of bun-env-switches.mjs (a build script, plain JavaScript) for its unit test.
export declare const NEUTRALISED_BUN_VARIABLES: readonly string[];
export declare const NEUTRALISED_JSC_OPTIONS: readonly string[];
export declare function neutraliseBunSwitches(binary: Uint8Array): {
  binary: Buffer;
  counts: Map<string, number>;
};

// Builtins the login path needs only sometimes sit behind tiny bundled modules:
// `await import('node:http')` would stay a real ESM import in the CommonJS
// bundle and load node's ESM loader, while `await import('./lazy-http.js')` is
// inlined by esbuild as a lazily initialised module. node:http: cache misses only.
export { request as httpRequest } from 'node:http';

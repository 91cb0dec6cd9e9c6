// node:child_process (~3 ms to load) for logger and the chain only. See lazy-http.ts.
export { spawn } from 'node:child_process';

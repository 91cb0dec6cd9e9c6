// node:https (with tls) costs ~5 ms to load: only for https endpoints. See lazy-http.ts.
export { request as httpsRequest } from 'node:https';

// The agent's HTTP client for this runtime: Bun's native fetch in the
// standalone agent (fetch-http.ts), node:http(s) under node (http.ts).
import { fetchRequest } from './fetch-http.js';
import { type HttpClient, nodeRequest } from './http.js';

export const request: HttpClient = (req) =>
  (globalThis as { Bun?: unknown }).Bun ? fetchRequest(req) : nodeRequest(req);

// A simulated IAM request-rate limit for the loopback proxies: a token bucket
// of `ratePerSecond` (burst as large) that answers IAM's own throttling error
// (HTTP 400, <Code>Throttling</Code>) to every IAM request above the rate, as
// IAM does to an account that calls it too fast. Other services pass.
import { type FaultResponse, iamError, type RecordedRequest } from './aws-proxy.js';

export interface IamRateLimit {
  /** For startAwsProxy's `fault` option. */
  readonly fault: (req: RecordedRequest) => FaultResponse | undefined;
  /** IAM requests let through and throttled, by action. */
  readonly passed: Record<string, number>;
  readonly throttled: Record<string, number>;
  reset(): void;
}

export function iamRateLimit(
  ratePerSecond: number,
  burst = ratePerSecond,
  now: () => number = () => performance.now(),
): IamRateLimit {
  let tokens = burst;
  let last = now();
  const passed: Record<string, number> = {};
  const throttled: Record<string, number> = {};
  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  return {
    passed,
    throttled,
    fault(req) {
      if (req.service !== 'iam') return undefined;
      const t = now();
      tokens = Math.min(burst, tokens + ((t - last) / 1000) * ratePerSecond);
      last = t;
      if (tokens >= 1) {
        tokens -= 1;
        bump(passed, req.action);
        return undefined;
      }
      bump(throttled, req.action);
      return iamError('Throttling', 'Rate exceeded');
    },
    reset() {
      for (const m of [passed, throttled]) for (const k of Object.keys(m)) delete m[k];
      tokens = burst;
      last = now();
    },
  };
}

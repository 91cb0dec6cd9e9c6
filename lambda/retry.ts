// The publisher's SDK retry strategy: the SDK's adaptive mode (exponential
// backoff with jitter, plus a client-side rate limiter that slows down when
// IAM throttles), except that every wait ends at the run's deadline. The SDK's
// own strategy sleeps on timers nothing can cut: at 50 % throttling one call
// slept through 15 s of backoff after a 3 s budget had ended, and the timers
// it left kept the CLI's process alive just as long. Here every wait (backoff
// and rate limiter) goes through RunBudget.sleep, which a run's abort signal
// ends at once, clearing its timer; a wait that would pass the stop time does
// not start a timer at all, it ends with the abort.
import type { RetryErrorInfo, RetryErrorType, RetryStrategyV2, StandardRetryToken } from '@smithy/types';

/** The error the SDK's retry middleware recognises as "aborted by the caller's signal". */
export function abortError(): Error {
  return Object.assign(new Error('Request aborted: the run reached its deadline'), { name: 'AbortError' });
}

/**
 * The current run's limit on waits, shared by a client's retry strategy and
 * set by publish() for the IAM read (clients outlive runs in the Lambda).
 */
export class RunBudget {
  private signal: AbortSignal | undefined;
  private stopAt = Number.POSITIVE_INFINITY;
  /** Waits ended by the deadline (backoff or rate limiter), since limit(). */
  cutWaits = 0;
  /** The least by which a wanted wait would have passed the stop (ms), since limit(). */
  pastStopMs: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** From now on waits end when `signal` aborts, and one that would last past `stopAt` waits for it. */
  limit(stopAt: number, signal: AbortSignal): void {
    this.stopAt = stopAt;
    this.signal = signal;
    this.cutWaits = 0;
    this.pastStopMs = undefined;
  }

  clear(): void {
    this.stopAt = Number.POSITIVE_INFINITY;
    this.signal = undefined;
  }

  /** Sleeps `ms`; throws abortError() as soon as the run's signal aborts (the timer is cleared). */
  sleep(ms: number): Promise<void> {
    const signal = this.signal;
    if (signal?.aborted) {
      this.cutWaits++;
      return Promise.reject(abortError());
    }
    if (ms <= 0) return Promise.resolve();
    // Past the stop, the signal's abort ends the wait: no timer of ours outlives the run.
    const over = this.now() + ms - this.stopAt;
    const pastStop = signal !== undefined && over >= 0;
    if (pastStop) this.pastStopMs = Math.min(this.pastStopMs ?? over, over);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        this.cutWaits++;
        reject(abortError());
      };
      const timer = pastStop
        ? undefined
        : setTimeout(() => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** The SDK's figures (2026 retry behaviour): backoff bases and the longest single backoff. */
export const THROTTLING_BASE_MS = 1000;
export const OTHER_BASE_MS = 50;
export const MAX_BACKOFF_MS = 20_000;

/** Pure: full-jitter exponential backoff before retry `retryCount + 1`. */
export function backoffMs(retryCount: number, errorType: RetryErrorType, random: number): number {
  const base = errorType === 'THROTTLING' ? THROTTLING_BASE_MS : OTHER_BASE_MS;
  return Math.floor(random * Math.min(base * 2 ** retryCount, MAX_BACKOFF_MS));
}

/**
 * The SDK's adaptive (CUBIC) client-side rate limiter (@smithy DefaultRateLimiter,
 * Apache-2.0), with its waits through RunBudget.sleep instead of bare timers.
 */
export class AdaptiveRateLimiter {
  private readonly beta = 0.7;
  private readonly minCapacity = 1;
  private readonly minFillRate = 0.5;
  private readonly scaleConstant = 0.4;
  private readonly smooth = 0.8;
  private enabled = false;
  private availableTokens = 0;
  private lastMaxRate = 0;
  private measuredTxRate = 0;
  private requestCount = 0;
  private fillRate = this.minFillRate;
  private maxCapacity = this.minCapacity;
  private lastThrottleTime: number;
  private lastTimestamp = 0;
  private lastTxRateBucket: number;
  private timeWindow = 0;

  constructor(private readonly nowS: () => number = () => Date.now() / 1000) {
    this.lastThrottleTime = nowS();
    this.lastTxRateBucket = Math.floor(nowS());
  }

  /** Waits for a send token (only once IAM has throttled: until then the limiter is off). */
  async acquire(budget: RunBudget): Promise<void> {
    if (!this.enabled) return;
    this.refill();
    while (this.availableTokens < 1) {
      await budget.sleep(((1 - this.availableTokens) / this.fillRate) * 1000);
      this.refill();
    }
    this.availableTokens -= 1;
  }

  /** After every attempt: a throttled one cuts the rate, a successful one lets it grow back. */
  update(throttled: boolean): void {
    this.updateMeasuredRate();
    let rate: number;
    if (throttled) {
      const rateToUse = this.enabled ? Math.min(this.measuredTxRate, this.fillRate) : this.measuredTxRate;
      this.lastMaxRate = rateToUse;
      this.calculateTimeWindow();
      this.lastThrottleTime = this.nowS();
      rate = precise(rateToUse * this.beta);
      this.enabled = true;
    } else {
      this.calculateTimeWindow();
      rate = precise(
        this.scaleConstant * (this.nowS() - this.lastThrottleTime - this.timeWindow) ** 3 + this.lastMaxRate,
      );
    }
    const newRate = Math.min(rate, 2 * this.measuredTxRate);
    this.refill();
    this.fillRate = Math.max(newRate, this.minFillRate);
    this.maxCapacity = Math.max(newRate, this.minCapacity);
    this.availableTokens = Math.min(this.availableTokens, this.maxCapacity);
  }

  private refill(): void {
    const t = this.nowS();
    if (!this.lastTimestamp) {
      this.lastTimestamp = t;
      return;
    }
    this.availableTokens = Math.min(
      this.maxCapacity,
      this.availableTokens + (t - this.lastTimestamp) * this.fillRate,
    );
    this.lastTimestamp = t;
  }

  private calculateTimeWindow(): void {
    this.timeWindow = precise(((this.lastMaxRate * (1 - this.beta)) / this.scaleConstant) ** (1 / 3));
  }

  private updateMeasuredRate(): void {
    const t = this.nowS();
    const bucket = Math.floor(t * 2) / 2;
    this.requestCount++;
    if (bucket > this.lastTxRateBucket) {
      const current = this.requestCount / (bucket - this.lastTxRateBucket);
      this.measuredTxRate = precise(current * this.smooth + this.measuredTxRate * (1 - this.smooth));
      this.requestCount = 0;
      this.lastTxRateBucket = bucket;
    }
  }
}

function precise(n: number): number {
  return Number.parseFloat(n.toFixed(8));
}

class Token implements StandardRetryToken {
  constructor(private readonly count: number) {}
  getRetryCount(): number {
    return this.count;
  }
  /** The strategy has already waited: the middleware must not wait again. */
  getRetryDelay(): number {
    return 0;
  }
  getRetryCost(): number | undefined {
    return undefined;
  }
}

/** Retried like the SDK: throttling and transient errors (timeouts, resets, 500/502/503/504). */
const RETRYABLE: ReadonlySet<RetryErrorType> = new Set(['THROTTLING', 'TRANSIENT']);

/**
 * Adaptive retries whose every wait ends at the run's deadline (RunBudget).
 * Without a limit set, it behaves as the SDK's adaptive mode (less the SDK's
 * retry quota: a run's deadline bounds its retries instead).
 */
export class DeadlineRetryStrategy implements RetryStrategyV2 {
  readonly mode = 'adaptive';
  constructor(
    private readonly maxAttempts: number,
    readonly budget: RunBudget,
    private readonly limiter = new AdaptiveRateLimiter(),
    private readonly random: () => number = Math.random,
  ) {}

  async acquireInitialRetryToken(_scope: string): Promise<StandardRetryToken> {
    await this.limiter.acquire(this.budget);
    return new Token(0);
  }

  async refreshRetryTokenForRetry(
    token: StandardRetryToken,
    info: RetryErrorInfo,
  ): Promise<StandardRetryToken> {
    this.limiter.update(info.errorType === 'THROTTLING');
    const count = token.getRetryCount();
    if (!RETRYABLE.has(info.errorType) || count + 1 >= this.maxAttempts)
      throw new Error('No retry token available');
    await this.budget.sleep(backoffMs(count, info.errorType, this.random()));
    await this.limiter.acquire(this.budget);
    return new Token(count + 1);
  }

  recordSuccess(_token: StandardRetryToken): void {
    this.limiter.update(false);
  }
}

/** Where a circuit stands: passing requests, refusing them, or waiting for one probe's outcome. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** What the circuit lets a request do now. */
export type CircuitPermit =
  /** Closed: send as usual, retries included. */
  | 'pass'
  /** Half-open: this request is the single probe (one attempt); everyone else is refused. */
  | 'probe'
  /** Open, or half-open with the probe under way: send nothing. */
  | 'refuse';

/** Thresholds of a {@link CircuitBreaker}. */
export interface CircuitBreakerPolicy {
  failureThreshold: number;
  cooldownMs: number;
}

/**
 * A circuit breaker for one endpoint. Closed, it counts failures in a row; at `failureThreshold`
 * it opens for `cooldownMs` and refuses every request; then it is half-open and permits exactly
 * one probe: the probe's success closes it, its failure opens it for another cooldown. Time comes
 * from `now`, so tests can move it.
 *
 * The caller decides what a failure is: for the token endpoint, only transient ones (the endpoint
 * unreachable, slow, failing or throttling), because a refusal is an answer from a healthy service.
 */
export class CircuitBreaker {
  private failuresInARow = 0;
  private openUntil?: number;
  private probing = false;

  constructor(
    private readonly policy: CircuitBreakerPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current state. */
  get state(): CircuitState {
    if (this.openUntil === undefined) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  /** Failed requests in a row since the last success. */
  get consecutiveFailures(): number {
    return this.failuresInARow;
  }

  /** Milliseconds until a probe may go through; `0` unless the circuit is open. */
  get msUntilProbe(): number {
    return this.openUntil === undefined ? 0 : Math.max(0, this.openUntil - this.now());
  }

  /** Asks to send one request; a `'probe'` permit must be settled with one of the calls below. */
  permit(): CircuitPermit {
    switch (this.state) {
      case 'closed':
        return 'pass';
      case 'open':
        return 'refuse';
      default:
        if (this.probing) return 'refuse';
        this.probing = true;
        return 'probe';
    }
  }

  /** The endpoint answered: the circuit closes and the count starts again. */
  recordSuccess(): void {
    this.failuresInARow = 0;
    this.openUntil = undefined;
    this.probing = false;
  }

  /** The endpoint failed: at the threshold, or when the probe failed, the circuit (re)opens. */
  recordFailure(): void {
    this.failuresInARow += 1;
    if (this.probing || this.failuresInARow >= this.policy.failureThreshold) {
      this.openUntil = this.now() + this.policy.cooldownMs;
    }
    this.probing = false;
  }

  /** The request ended without reaching the endpoint (e.g. discovery failed): the next may probe. */
  recordAbandoned(): void {
    this.probing = false;
  }
}

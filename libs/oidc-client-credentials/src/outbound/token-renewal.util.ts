import type { Logger } from '@nestjs/common';
import { errorCode } from '../errors/error-code.util.js';
import type { TokenAcquisition } from './token-acquisition.util.js';
import type { TokenCacheEntry } from './token-cache.store.js';

/** First wait after a failed background renewal; doubles per failure. */
export const RENEWAL_RETRY_BASE_MS = 5_000;
/** Longest wait between background renewal attempts. */
export const RENEWAL_RETRY_MAX_MS = 60_000;
/**
 * A timer renews at a random point in the first quarter of the time between the renewal point and
 * expiry, so instances started together do not all renew at the same moment.
 */
export const TIMER_JITTER_FRACTION = 0.25;
/** Longest delay `setTimeout` takes (about 24.8 days); a later point is reached in steps. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** What the renewal needs of its client. */
export interface RenewalHost {
  /** The cached entry, if any. */
  current(): TokenCacheEntry | undefined;
  /** Whether a token request is in flight. */
  inflight(): boolean;
  /** Starts (or joins) a renewal; settles when it has ended. */
  renew(): Promise<unknown>;
}

/** The entry a timer renews, and how long this instance has held such tokens (its lifetime). */
interface Target {
  readonly entry: TokenCacheEntry;
  readonly lifetimeMs: number;
}

/**
 * When a client renews its token in the background: at most one renewal at a time, none while a
 * cooldown runs or the circuit is open, and after a failure a doubling wait (the current token is
 * still served meanwhile).
 *
 * When `proactive`, an unref'd timer renews at the renewal point even if no caller asks then, and
 * retries a failed renewal until the token expires. A token nobody read for a whole lifetime is
 * let go: its timer does not renew it, and the next caller fetches anew.
 */
export class TokenRenewal {
  private failures = 0;
  private nextAttemptAt = 0;
  private lastReadAt = -Infinity;
  private target?: Target;
  private timer?: ReturnType<typeof setTimeout>;
  private timerAt?: number;
  private stopped = false;

  constructor(
    private readonly host: RenewalHost,
    private readonly acquisition: TokenAcquisition,
    private readonly logger: Logger,
    private readonly proactive: boolean,
    private readonly random: () => number = Math.random,
  ) {}

  /** When the timer renews next (ms since the epoch), if one is set. */
  get scheduledAt(): number | undefined {
    return this.timerAt;
  }

  /** A caller asked for the token at `now`. */
  noteRead(now: number): void {
    this.lastReadAt = now;
  }

  /**
   * Sets the timer for a newly cached `entry`, at its renewal point plus a jitter when `jitter`
   * (an entry read from the shared store is already jittered for this instance).
   */
  schedule(entry: TokenCacheEntry, jitter: boolean): void {
    if (!this.proactive || this.stopped) return;
    const now = Date.now();
    this.target = { entry, lifetimeMs: Math.max(0, entry.expiresAt - now) };
    const slack = Math.max(0, entry.expiresAt - entry.renewAt);
    const spread = jitter ? Math.floor(this.random() * TIMER_JITTER_FRACTION * slack) : 0;
    this.arm(entry.renewAt + spread);
  }

  /** Clears the timer for good (the application shuts down). */
  stop(): void {
    this.stopped = true;
    this.disarm();
    this.target = undefined;
  }

  /**
   * Starts a renewal unless a request is already in flight, a previous failure's wait runs, a
   * cooldown runs or the circuit is open. Returns the renewal started, if any.
   */
  renewInBackground(now: number): Promise<void> | undefined {
    if (this.host.inflight() || now < this.nextAttemptAt) return undefined;
    const cooldownUntil = this.acquisition.cooldownUntil(now);
    if (cooldownUntil !== undefined) {
      this.nextAttemptAt = cooldownUntil;
      return undefined;
    }
    // An open circuit is not a renewal failure: the renewal waits for the probe time.
    const circuit = this.acquisition.circuit;
    if (circuit.state === 'open') {
      this.nextAttemptAt = now + circuit.msUntilProbe;
      return undefined;
    }
    return this.host.renew().then(
      () => {
        this.failures = 0;
        this.nextAttemptAt = 0;
      },
      (error: unknown) => {
        this.failures += 1;
        const wait = Math.min(
          RENEWAL_RETRY_MAX_MS,
          RENEWAL_RETRY_BASE_MS * 2 ** (this.failures - 1),
        );
        this.nextAttemptAt = Date.now() + wait;
        this.logger.warn(
          `Token renewal failed (${errorCode(error) ?? 'unexpected error'}); the current token is still served, next attempt in ${Math.round(wait / 1000)} s`,
        );
        this.retryLater(Date.now());
      },
    );
  }

  private arm(at: number): void {
    this.disarm();
    const target = this.target;
    if (target === undefined || at >= target.entry.expiresAt) return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, at - Date.now()));
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(at), delay);
    this.timer.unref?.();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }

  private onTimer(at: number): void {
    this.timer = undefined;
    this.timerAt = undefined;
    const target = this.target;
    // Replaced (a new entry has its own timer), dropped, or the application stopped.
    if (this.stopped || target === undefined || this.host.current() !== target.entry) return;
    const now = Date.now();
    if (now < at) return this.arm(at); // the clock was set back, or the delay was capped
    if (now >= target.entry.expiresAt) return;
    if (now - this.lastReadAt >= target.lifetimeMs) {
      this.logger.debug('Token not read for a whole lifetime: not renewed until asked for again');
      return;
    }
    if (this.renewInBackground(now) === undefined) this.retryLater(now);
  }

  /** Looks again when the wait after a failure, a cooldown or the circuit allows another try. */
  private retryLater(now: number): void {
    const target = this.target;
    if (!this.proactive || this.stopped || target === undefined) return;
    if (this.host.current() !== target.entry) return;
    this.arm(this.nextAttemptAt > now ? this.nextAttemptAt : now + RENEWAL_RETRY_BASE_MS);
  }
}

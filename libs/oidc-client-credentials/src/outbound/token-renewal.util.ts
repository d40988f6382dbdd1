import type { Logger } from '@nestjs/common';
import { errorCode } from '../errors/error-code.util.js';
import type { TokenAcquisition } from './token-acquisition.util.js';

/** First wait after a failed background renewal; doubles per failure. */
export const RENEWAL_RETRY_BASE_MS = 5_000;
/** Longest wait between background renewal attempts. */
export const RENEWAL_RETRY_MAX_MS = 60_000;

/**
 * When a client renews its token in the background: at most one renewal at a time, none while a
 * cooldown runs or the circuit is open, and after a failure a doubling wait (the current token is
 * still served meanwhile).
 */
export class TokenRenewal {
  private failures = 0;
  private nextAttemptAt = 0;

  constructor(
    private readonly acquisition: TokenAcquisition,
    private readonly logger: Logger,
  ) {}

  /** When the next background renewal may start (0: now). */
  get nextAttempt(): number {
    return this.nextAttemptAt;
  }

  /**
   * Starts `renew` unless a request is already `inflight`, a previous failure's wait runs, a
   * cooldown runs or the circuit is open. Returns the renewal started, if any.
   */
  renewInBackground(
    now: number,
    inflight: boolean,
    renew: () => Promise<unknown>,
  ): Promise<void> | undefined {
    if (inflight || now < this.nextAttemptAt) return undefined;
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
    return renew().then(
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
      },
    );
  }
}

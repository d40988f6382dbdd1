/** Longest `Retry-After` honoured, in seconds: a bogus header must not stop calls for a day. */
export const MAX_RETRY_AFTER_SECONDS = 300;

/**
 * Exponential backoff with full jitter: a random delay in `[0, min(maxDelayMs, initialDelayMs ×
 * 2^(attempt−1))]`, so many instances that failed together do not retry together.
 *
 * @param attempt the attempt that just failed, starting at 1.
 */
export function fullJitterDelayMs(
  attempt: number,
  policy: { initialDelayMs: number; maxDelayMs: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Parses `Retry-After` (delay seconds or an HTTP date) into whole seconds from `now`, capped at
 * {@link MAX_RETRY_AFTER_SECONDS}. `undefined` when absent or unparsable.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  let seconds: number;
  if (/^\d+$/.test(trimmed)) {
    seconds = Number(trimmed);
  } else {
    // An HTTP date names its weekday; this keeps Date.parse from reading "-5" as a year.
    const date = /^[A-Za-z]{3}, /.test(trimmed) ? Date.parse(trimmed) : NaN;
    if (Number.isNaN(date)) return undefined;
    seconds = Math.ceil((date - now) / 1000);
  }
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/** Resolves after `ms` (through the global timers, so fake timers control it in tests). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

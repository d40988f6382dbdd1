import type { Logger } from '@nestjs/common';
import type { Keyv } from 'keyv';
import { sanitizeForLog } from '../errors/sanitize.util.js';

/**
 * While a store is failing, calls skip it and answer from the in-process level at once; one call
 * per this interval probes whether it answers again.
 */
export const SHARED_CACHE_PROBE_INTERVAL_MS = 1_000;

/** What one store call gave: its value, or why there is none (for the log). */
export type StoreOutcome<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * One Keyv store of `cache.stores` as the shared cache uses it: every call bounded by
 * `cache.timeoutMs`, a timeout or an error an outcome rather than an exception. A failing store is
 * logged once, skipped except for one probe per {@link SHARED_CACHE_PROBE_INTERVAL_MS}, and
 * logged once more when it answers again. Keyv adapters report failures as `error` events and
 * answer as for a miss; such a call counts as failed too.
 */
export class GuardedKeyvStore {
  /** Errors the store emitted so far. */
  private errors = 0;
  private down = false;
  private lastAttemptAt = 0;
  /** Set when the module stops: work still in flight then no longer touches the store. */
  private closed = false;
  private readonly onError = (error: unknown) => {
    this.errors += 1;
    this.markDown(describeError(error));
  };

  constructor(
    readonly keyv: Keyv,
    /** How logs name it: `cache.stores[i]`. */
    readonly name: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {
    keyv.on('error', this.onError);
  }

  /** The raw value under `key`; a value Keyv cannot parse is a miss, not a failing store. */
  get(key: string): Promise<StoreOutcome<unknown>> {
    return this.run(() => this.keyv.get<unknown>(key).catch(unreadable));
  }

  /** Stores `value` under `key` for `ttlMs` milliseconds. */
  set(key: string, value: string, ttlMs: number): Promise<StoreOutcome<boolean>> {
    return this.run(() => this.keyv.set(key, value, ttlMs));
  }

  /** Removes `key`. */
  delete(key: string): Promise<StoreOutcome<boolean>> {
    return this.run(() => this.keyv.delete(key));
  }

  /** One call to the store (or to its client) within `cache.timeoutMs`; failures are recorded. */
  async run<T>(call: () => Promise<T>): Promise<StoreOutcome<T>> {
    if (this.closed) return { ok: false, reason: 'closed' };
    const now = Date.now();
    if (this.down && now - this.lastAttemptAt < SHARED_CACHE_PROBE_INTERVAL_MS) {
      return { ok: false, reason: 'skipped while unavailable' };
    }
    this.lastAttemptAt = now;
    const errorsBefore = this.errors;
    const outcome = await withTimeout(call, this.timeoutMs);
    if (!outcome.ok) {
      this.markDown(outcome.reason);
      return outcome;
    }
    if (this.errors !== errorsBefore) return { ok: false, reason: 'store reported an error' };
    if (this.down) {
      this.down = false;
      this.logger.log(`Shared cache ${this.name} answers again`);
    }
    return outcome;
  }

  /** Waits at most `waitMs` for `open` (a connection); a store that does not open is marked down. */
  async connect(open: () => Promise<unknown>, waitMs: number): Promise<void> {
    const connected = await withTimeout(open, waitMs);
    if (!connected.ok) this.markDown(connected.reason);
  }

  /** No more calls; the store itself stays open (the caller owns it). */
  close(): void {
    this.closed = true;
    this.keyv.off('error', this.onError);
  }

  private markDown(reason: string): void {
    this.lastAttemptAt = Date.now();
    if (this.down) return;
    this.down = true;
    this.logger.warn(
      `Shared cache ${this.name} unavailable (${reason}); using the in-process cache until it answers again`,
    );
  }
}

/** Class names of cacheable's in-memory stores, as @nestjs/cache-manager's docs configure them. */
const IN_PROCESS_STORES = new Set(['CacheableMemory', 'KeyvCacheableMemory']);

/** Keyv's default `Map` or one of cacheable's in-memory stores: nothing another process can read. */
export function heldInProcess(store: unknown): boolean {
  if (store instanceof Map) return true;
  const name = (store as { constructor?: { name?: unknown } } | undefined)?.constructor?.name;
  return typeof name === 'string' && IN_PROCESS_STORES.has(name);
}

/**
 * Keyv parses what it reads as JSON and rejects on text that is not: that is a bad value (a miss),
 * not a failing store — else one planted value would switch the shared cache off for everyone.
 */
function unreadable(error: unknown): undefined {
  if ((error as Error | undefined)?.name === 'SyntaxError') return undefined;
  throw error;
}

/** Runs `call`, settling after at most `ms`; the call itself is not cancelled. */
async function withTimeout<T>(call: () => Promise<T>, ms: number): Promise<StoreOutcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<StoreOutcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `no answer within ${ms} ms` }), ms);
    timer.unref?.();
  });
  const result = (async (): Promise<StoreOutcome<T>> => {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      return { ok: false, reason: describeError(error) };
    }
  })();
  try {
    return await Promise.race([result, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A store error for the log: its class and a sanitised, short message, never a key or value. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return sanitizeForLog(String(error), 100) ?? 'error';
  const message = sanitizeForLog(error.message, 100);
  return message ? `${error.name}: ${message}` : error.name;
}

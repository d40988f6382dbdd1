import { Injectable, Logger } from '@nestjs/common';
import type {
  OidcClientCredentialsEventListener,
  OidcClientCredentialsEventMap,
  OidcClientCredentialsEventName,
} from './oidc-client-credentials-events.interface.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';

type ListenerTable = {
  [K in OidcClientCredentialsEventName]:
    readonly OidcClientCredentialsEventListener<K>[] | undefined;
};

/**
 * What the module does, as typed events: tokens fetched, renewed and failed, token cache hits and
 * misses, the token endpoint's circuit, verifications accepted and refused (by error code),
 * verification cache hits and misses, JWKS fetches and stale-key use. Connect them to your metrics
 * (Prometheus, OpenTelemetry, logs) without the library depending on any of them.
 *
 * Payloads never contain a token, an assertion or a secret. Listeners run synchronously where the
 * event happens, so keep them to a counter increment; an exception (or a rejected promise) of a
 * listener is logged once per event and never reaches the library's callers. With no listener for
 * an event, emitting it costs one property read.
 *
 * @example
 * @Injectable()
 * class TokenMetrics {
 *   constructor(events: OidcClientCredentialsEvents) {
 *     events.on('token.failed', ({ client, code }) => failures.inc({ client, code }));
 *   }
 * }
 */
@Injectable()
export class OidcClientCredentialsEvents {
  private readonly logger = new Logger(OidcClientCredentialsEvents.name);
  private readonly reported = new Set<OidcClientCredentialsEventName>();
  // Every name present from the start keeps the object's shape stable, so a lookup stays cheap.
  private readonly listeners: ListenerTable = {
    'token.fetched': undefined,
    'token.renewed': undefined,
    'token.failed': undefined,
    'token.cache.hit': undefined,
    'token.cache.miss': undefined,
    'token.circuit.opened': undefined,
    'token.circuit.closed': undefined,
    'verification.succeeded': undefined,
    'verification.failed': undefined,
    'verification.cache.hit': undefined,
    'verification.cache.miss': undefined,
    'jwks.fetched': undefined,
    'jwks.failed': undefined,
    'jwks.stale-keys-used': undefined,
  };

  /**
   * Calls `listener` with the payload of every `event` from now on.
   *
   * @returns a function that removes this listener.
   */
  on<K extends OidcClientCredentialsEventName>(
    event: K,
    listener: OidcClientCredentialsEventListener<K>,
  ): () => void {
    if (!Object.hasOwn(this.listeners, event)) {
      throw new TypeError(`Unknown event "${sanitizeForLog(String(event), 60)}"`);
    }
    if (typeof listener !== 'function') throw new TypeError('The listener must be a function');
    const table = this.listeners as Record<
      K,
      readonly OidcClientCredentialsEventListener<K>[] | undefined
    >;
    // Copied on write: an emit in progress keeps iterating the array it started with.
    table[event] = [...(table[event] ?? []), listener];
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<K extends OidcClientCredentialsEventName>(
    event: K,
    listener: OidcClientCredentialsEventListener<K>,
  ): void {
    const table = this.listeners as Record<
      K,
      readonly OidcClientCredentialsEventListener<K>[] | undefined
    >;
    const remaining = table[event]?.filter((candidate) => candidate !== listener);
    table[event] = remaining && remaining.length > 0 ? remaining : undefined;
  }

  /** Whether `event` has a listener; the library checks it before building a payload. */
  observed(event: OidcClientCredentialsEventName): boolean {
    return this.listeners[event] !== undefined;
  }

  /** Number of listeners of `event`. */
  listenerCount(event: OidcClientCredentialsEventName): number {
    return this.listeners[event]?.length ?? 0;
  }

  /** Calls the listeners of `event` (used by the library; listeners' failures are contained). */
  emit<K extends OidcClientCredentialsEventName>(
    event: K,
    payload: OidcClientCredentialsEventMap[K],
  ): void {
    const listeners = this.listeners[event] as
      readonly OidcClientCredentialsEventListener<K>[] | undefined;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        const result: unknown = listener(payload);
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
          (result as PromiseLike<unknown>).then(undefined, (error: unknown) =>
            this.reportListenerFailure(event, error),
          );
        }
      } catch (error) {
        this.reportListenerFailure(event, error);
      }
    }
  }

  private reportListenerFailure(event: OidcClientCredentialsEventName, error: unknown): void {
    if (this.reported.has(event)) return;
    this.reported.add(event);
    const name = error instanceof Error ? sanitizeForLog(error.name, 60) : typeof error;
    this.logger.warn(
      `A listener of "${event}" failed (${name}); further failures of its listeners are not logged`,
    );
  }
}

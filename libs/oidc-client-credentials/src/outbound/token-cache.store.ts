import { createHash } from 'node:crypto';
import type { ClientCredentialsToken } from './client-credentials-token.interface.js';
import type { ResolvedOptions } from '../options/resolved-options.js';

/** A token endpoint's successful answer, validated. */
export interface IssuedToken {
  accessToken: string;
  /** `expires_in` as sent (already a number), absent when the ID service omitted it. */
  expiresIn?: number;
  /** Granted scope, or the requested one when the answer omits it. */
  scope?: string;
  /** `'dpop'` for a DPoP-bound token; absent for a bearer token. */
  tokenType?: 'dpop';
}

/** A token with the local times at which it is renewed and stops being handed out. */
export interface TokenCacheEntry {
  readonly token: ClientCredentialsToken;
  /** Local time (ms) after which callers still get this token but a background renewal starts. */
  readonly renewAt: number;
  /** Local time (ms) from which this token is never handed out. */
  readonly expiresAt: number;
  /** The access token as an already settled promise, so a cache hit allocates nothing. */
  readonly resolved: Promise<string>;
}

/**
 * Where outbound tokens are kept, by {@link tokenCacheKey}. Synchronous on purpose: a cache hit
 * must cost a map lookup, not a promise chain. A shared level (several instances, one store) is
 * consulted behind this first level on a miss, never on the hot path.
 */
export interface TokenCache {
  get(key: string): TokenCacheEntry | undefined;
  set(key: string, entry: TokenCacheEntry): void;
  delete(key: string): void;
}

/** The in-process {@link TokenCache}. */
export class MemoryTokenCache implements TokenCache {
  private readonly entries = new Map<string, TokenCacheEntry>();

  get(key: string): TokenCacheEntry | undefined {
    return this.entries.get(key);
  }

  set(key: string, entry: TokenCacheEntry): void {
    this.entries.set(key, entry);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}

/**
 * Cache key of a token request: a SHA-256 over every input that shapes the token (issuer, token
 * endpoint, client, authentication method, scope, audience, resource, extra parameters), so two
 * configurations never share a token. Credentials are left out on purpose: they identify the same
 * client, and a hash of a weak secret must not end up in a shared store. A named client's name is
 * in it too, so each name has its own entry even when two names are configured alike.
 */
export function tokenCacheKey(options: ResolvedOptions): string {
  const material = JSON.stringify([
    options.issuer,
    options.endpoints.token?.href ?? null,
    options.clientId ?? null,
    options.clientAuthMethod,
    options.clientAssertion.audience,
    options.tokenParams,
    // Absent for the root client, whose key stays what it was before named clients existed.
    ...(options.clientName === undefined ? [] : [options.clientName]),
  ]);
  return `${options.cache.keyPrefix}:token:${createHash('sha256').update(material).digest('hex')}`;
}

/**
 * Builds a cache entry. The lifetime is `expires_in` (else `defaultLifetimeSeconds`, never
 * infinite), capped at `maxLifetimeSeconds`, counted from `issuedAt` — the local time the request
 * was sent, which errs on the early side by the round trip and does not depend on the ID service's
 * clock. Renewal starts at `min(issued + fraction × lifetime, expiry − margin)`; if the margin
 * exceeds the lifetime, the fraction alone decides, so short-lived tokens are not renewed on every
 * call. A lifetime ≤ 0 gives an entry that is handed to the waiting callers once and never cached.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function createCacheEntry(
  issued: IssuedToken,
  issuedAt: number,
  renewal: Pick<
    ResolvedOptions['tokenRenewal'],
    | 'renewAfterFraction'
    | 'renewBeforeExpirySeconds'
    | 'defaultLifetimeSeconds'
    | 'maxLifetimeSeconds'
  >,
): TokenCacheEntry & { cacheable: boolean } {
  const seconds = Math.min(
    issued.expiresIn ?? renewal.defaultLifetimeSeconds,
    renewal.maxLifetimeSeconds,
  );
  const lifetimeMs = Math.max(0, seconds) * 1000;
  const expiresAt = issuedAt + lifetimeMs;
  const byFraction = issuedAt + Math.floor(renewal.renewAfterFraction * lifetimeMs);
  const byMargin = expiresAt - renewal.renewBeforeExpirySeconds * 1000;
  const renewAt = byMargin > issuedAt ? Math.min(byFraction, byMargin) : byFraction;
  const token: ClientCredentialsToken = Object.freeze({
    accessToken: issued.accessToken,
    tokenType: issued.tokenType ?? 'bearer',
    expiresAt,
    ...(issued.scope === undefined ? {} : { scope: issued.scope }),
  });
  return {
    token,
    renewAt,
    expiresAt,
    resolved: Promise.resolve(issued.accessToken),
    cacheable: lifetimeMs > 0,
  };
}

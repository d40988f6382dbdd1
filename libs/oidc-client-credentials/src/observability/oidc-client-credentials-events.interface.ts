/**
 * Payloads of {@link OidcClientCredentialsEvents}. None of them ever holds an access token, an
 * assertion, a client secret or a private key; identifiers are client ids and client names, and
 * failures are described by their stable error `code`.
 */

import type { CredentialSource } from '../idp/credential-source.util.js';

/**
 * Which credential an outbound client authenticated with (never the credential itself): its
 * source, and when a provider last gave it or its file was last read.
 */
export interface TokenCredentialEvent {
  /**
   * `secret`, `secret-provider`, `assertion-file`, `assertion-provider`, `private-key`,
   * `signer` or `certificate`.
   */
  readonly source: CredentialSource;
  /** When the provider last gave, or the file was last read into, a value (ms since the epoch). */
  readonly readAt?: number;
}

/** `client` names the outbound client: `'default'` for the root one, else its name. */
export interface TokenClientEvent {
  /** `'default'` or the name under `clients` / `forFeature`. */
  readonly client: string;
}

/** A token obtained for an outbound client (`token.fetched`, `token.renewed`). */
export interface TokenFetchedEvent extends TokenClientEvent {
  /** The client id the token was requested for. */
  readonly clientId: string;
  /** From the ID service, or written there by another instance on the shared cache. */
  readonly source: 'token-endpoint' | 'shared-cache';
  /** Seconds the token will be handed out for, from now. */
  readonly expiresInSeconds: number;
  /** Granted scope (or the requested one when the answer omits it). */
  readonly scope?: string;
  /** Duration of the acquisition, retries and shared-cache waits included. */
  readonly durationMs: number;
  /** The credential the token request authenticated with (absent for a shared-cache token). */
  readonly credential?: TokenCredentialEvent;
}

/** An acquisition that ended without a token (`token.failed`). */
export interface TokenFailedEvent extends TokenClientEvent {
  /** The client id the token was requested for (absent when none is configured). */
  readonly clientId?: string;
  /** Stable error code, e.g. `OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE`, `OIDC_CC_TOKEN_REQUEST_FAILED`. */
  readonly code: string;
  /** HTTP status of the token endpoint's last answer, when there was one. */
  readonly status?: number;
  /** The ID service's RFC 6749 §5.2 `error` (e.g. `invalid_client`), when it sent one. */
  readonly error?: string;
  /** A background renewal failed: callers keep getting the still valid current token. */
  readonly renewal: boolean;
  readonly durationMs: number;
  /** The credential the client authenticates with, once it is known. */
  readonly credential?: TokenCredentialEvent;
}

/** The token endpoint's circuit opened (`token.circuit.opened`). */
export interface TokenCircuitOpenedEvent extends TokenClientEvent {
  /** Failed acquisitions in a row. */
  readonly consecutiveFailures: number;
  /** How long token requests now fail fast before one probe goes through. */
  readonly cooldownMs: number;
}

/** A request's bearer token was accepted by the guard (`verification.succeeded`). */
export interface VerificationSucceededEvent {
  /** The calling client (`client_id`, else `sub`) of the verified token. */
  readonly clientId: string;
}

/** A request was refused by the guard (`verification.failed`). */
export interface VerificationFailedEvent {
  /**
   * Why: the error's stable code (`OIDC_CC_TOKEN_MISSING`, `OIDC_CC_TOKEN_EXPIRED`,
   * `OIDC_CC_INSUFFICIENT_SCOPE`, `OIDC_CC_JWKS_UNAVAILABLE`, …), or `UNEXPECTED_ERROR`.
   */
  readonly code: string;
  /** The HTTP status answered: 400, 401, 403 or 503. */
  readonly status: number;
}

/** A verification result answered from the in-process cache (`verification.cache.hit`). */
export interface VerificationCacheHitEvent {
  /** A cached acceptance, or a cached refusal (negative cache). */
  readonly result: 'positive' | 'negative';
}

/** Why the JWKS was fetched. */
export type JwksFetchReason = 'initial' | 'expired' | 'unknown-kid';

/** The JWKS was fetched (`jwks.fetched`). */
export interface JwksFetchedEvent {
  readonly reason: JwksFetchReason;
  /** Usable keys in the answer. */
  readonly keyCount: number;
  readonly durationMs: number;
}

/** A JWKS fetch failed (`jwks.failed`). */
export interface JwksFailedEvent {
  readonly reason: JwksFetchReason;
  /** `OIDC_CC_JWKS_UNAVAILABLE` or `OIDC_CC_DISCOVERY_FAILED`. */
  readonly code: string;
  readonly durationMs: number;
}

/** Tokens were verified with the last known keys while the JWKS endpoint fails (`jwks.stale-keys-used`). */
export interface JwksStaleKeysUsedEvent {
  /** Seconds since the keys were fetched. */
  readonly ageSeconds: number;
  /** How long after `jwksMaxAgeSeconds` stale keys are used at all (`jwksStaleWindowSeconds`). */
  readonly staleWindowSeconds: number;
}

/**
 * Every event of {@link OidcClientCredentialsEvents} by name, with its payload.
 */
export interface OidcClientCredentialsEventMap {
  /** A token was obtained because callers needed one (none cached, expired, forced or refused). */
  'token.fetched': TokenFetchedEvent;
  /** A background renewal replaced a token that was still valid. */
  'token.renewed': TokenFetchedEvent;
  /** An acquisition failed (after its retries), or was refused at once by the open circuit. */
  'token.failed': TokenFailedEvent;
  /** `getToken()` was answered from the in-process cache. */
  'token.cache.hit': TokenClientEvent;
  /** `getToken()` found no usable token in the in-process cache. */
  'token.cache.miss': TokenClientEvent;
  'token.circuit.opened': TokenCircuitOpenedEvent;
  /** The token endpoint answers again. */
  'token.circuit.closed': TokenClientEvent;
  'verification.succeeded': VerificationSucceededEvent;
  'verification.failed': VerificationFailedEvent;
  'verification.cache.hit': VerificationCacheHitEvent;
  /** A token's verification result was not cached in process (the strategy ran, or the shared cache answered). */
  'verification.cache.miss': Readonly<Record<string, never>>;
  'jwks.fetched': JwksFetchedEvent;
  'jwks.failed': JwksFailedEvent;
  'jwks.stale-keys-used': JwksStaleKeysUsedEvent;
}

/** Name of an event of {@link OidcClientCredentialsEventMap}. */
export type OidcClientCredentialsEventName = keyof OidcClientCredentialsEventMap;

/** A listener of one event. It runs synchronously on the library's path: keep it short. */
export type OidcClientCredentialsEventListener<K extends OidcClientCredentialsEventName> = (
  payload: OidcClientCredentialsEventMap[K],
) => void;

import type { CredentialStatus } from '../idp/credential-source.util.js';

/**
 * An access token obtained with the client credentials grant, as {@link TokenProvider.getTokenResponse}
 * hands it out. Times are from this host's clock, not from the token's own claims.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export interface ClientCredentialsToken {
  /** The access token. Never log it. */
  readonly accessToken: string;
  /**
   * `'bearer'`, or `'dpop'` for a client with the `dpop` option: a DPoP-bound token (RFC 9449),
   * sent as `Authorization: DPoP <token>` with a proof of the client's key. The ID service's
   * `token_type` is compared case-insensitively, and any other type is refused.
   */
  readonly tokenType: 'bearer' | 'dpop';
  /** Milliseconds since the epoch, local clock, after which the token is no longer handed out. */
  readonly expiresAt: number;
  /**
   * Scope the ID service granted: its `scope` answer, else the requested scope (RFC 6749 §5.1 lets
   * it omit an unchanged scope). May be narrower than requested.
   */
  readonly scope?: string;
}

/**
 * The headers that authorize one request, from {@link TokenProvider.getAuthorizationHeaders}:
 * set both on the request as they are. Never log them.
 */
export interface AuthorizationHeaders {
  /** `Bearer <token>`, or `DPoP <token>` for a DPoP-bound token. */
  readonly authorization: string;
  /** With DPoP: the proof for this one request (RFC 9449 §4), as the `DPoP` header. */
  readonly dpop?: string;
}

/**
 * Token request parameters of one call (`getToken({ resource })`): each one set replaces the
 * client's configured one (the others, and `extraParams`, stay). Each distinct set — normalised:
 * scope order and duplicates, audience and resource order do not matter — has its own cached
 * token, single flight and renewal, and its own shared-cache entry; at most
 * `tokenRenewal.maxParameterSets` sets per client are kept, the least recently used forgotten
 * first. A call that sets none gets the client's own token.
 */
export interface TokenRequestParameters {
  /** Scope(s) to request instead of the client's `scope`: a space-separated string or an array. */
  scope?: string | string[];
  /** RFC 8707 resource indicator(s) (absolute URIs without fragment) instead of `resource`. */
  resource?: string | string[];
  /** `audience` value(s) instead of the client's `audience`. */
  audience?: string | string[];
}

/** Options of one {@link TokenProvider.getToken} call. */
export interface GetTokenOptions extends TokenRequestParameters {
  /**
   * Ignore the cached token and obtain a new one. Joins a renewal already in flight instead of
   * starting a second one.
   */
  forceRefresh?: boolean;
  /**
   * Stop waiting when this signal aborts. Only this caller gives up: the shared token request goes
   * on for the others and still fills the cache.
   */
  signal?: AbortSignal;
}

/**
 * Where one outbound client stands, from {@link TokenProvider.status}: read from memory, nothing is
 * requested. Health checks and diagnostics use it; it holds no token.
 */
export interface TokenProviderStatus {
  /** `'default'` for the root client, else the client's name. */
  readonly client: string;
  /** The client id, when outbound credentials are configured. */
  readonly clientId?: string;
  /** Whether outbound credentials are configured (an inbound-only service has none). */
  readonly configured: boolean;
  /** When the cached token stops being handed out (ms since the epoch); absent when none is cached. */
  readonly tokenExpiresAt?: number;
  /**
   * When the renewal timer (`tokenRenewal.proactive`) renews the cached token next, ms since the
   * epoch; absent when none is set.
   */
  readonly renewsAt?: number;
  /** The token endpoint's circuit breaker. */
  readonly circuit: 'closed' | 'open' | 'half-open';
  /**
   * With the `dpop` option, once the key is made: the RFC 7638 thumbprint of the client's DPoP
   * public key, which its tokens' `cnf.jkt` names (the same on every instance of a fleet).
   */
  readonly dpopThumbprint?: string;
  /**
   * Which credential the client authenticates with and when it was last read (a provider asked,
   * a file read), never its value; absent before the first token request.
   */
  readonly credential?: CredentialStatus;
  /** The last acquisition's outcome (absent before the first one) and, if it failed, its code. */
  readonly lastAcquisition?: {
    readonly ok: boolean;
    /** When it ended, ms since the epoch. */
    readonly at: number;
    readonly code?: string;
  };
}

/**
 * An access token obtained with the client credentials grant, as {@link TokenProvider.getTokenResponse}
 * hands it out. Times are from this host's clock, not from the token's own claims.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export interface ClientCredentialsToken {
  /** The bearer token. Never log it. */
  readonly accessToken: string;
  /** Always `'bearer'` (compared case-insensitively; other types are refused). */
  readonly tokenType: 'bearer';
  /** Milliseconds since the epoch, local clock, after which the token is no longer handed out. */
  readonly expiresAt: number;
  /**
   * Scope the ID service granted: its `scope` answer, else the requested scope (RFC 6749 §5.1 lets
   * it omit an unchanged scope). May be narrower than requested.
   */
  readonly scope?: string;
}

/** Options of one {@link TokenProvider.getToken} call. */
export interface GetTokenOptions {
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
  /** The last acquisition's outcome (absent before the first one) and, if it failed, its code. */
  readonly lastAcquisition?: {
    readonly ok: boolean;
    /** When it ended, ms since the epoch. */
    readonly at: number;
    readonly code?: string;
  };
}

import type { JWK } from 'jose';

/** A client registered at the ID service. */
export interface FakeClient {
  /** Secret for `client_secret_basic`, `client_secret_post` and `client_secret_query`. */
  secret?: string;
  /** Public JWKS of a `private_key_jwt` client. */
  jwks?: { keys: JWK[] };
  /** Scope granted when the token request names none. Default: every scope of `scopes`. */
  scope?: string;
  /**
   * Scopes the client may ask for: a token request for another is refused with `invalid_scope`.
   * Default: any scope is granted as asked.
   */
  scopes?: string[];
  /**
   * `aud` of the tokens issued to this client: in its JWTs, and in introspection answers about its
   * opaque tokens. Default the client id, as the ID service article's tokens.
   */
  audience?: string | string[];
  /** Format of the tokens issued to this client. Default the service's `tokenFormat`. */
  tokenFormat?: 'jwt' | 'opaque';
  /**
   * Shape of its JWTs: `'default'` has `typ: JWT` and `iss`, `iat`, `exp`, `sub`, `aud`, `scope`
   * (plus a `jti` unless the service says otherwise); `'rfc9068'` has `typ: at+jwt`, `client_id`
   * and `jti` too. Default `'default'`.
   */
  jwtProfile?: 'default' | 'rfc9068';
  /** Lifetime of the tokens issued to this client. Default the service's `lifetimeSeconds`. */
  lifetimeSeconds?: number;
  /** Omit `expires_in` from token responses. */
  omitExpiresIn?: boolean;
  /**
   * May call the introspection endpoint. Default `true`; with `false` every answer to it is
   * `{ "active": false }`.
   */
  canIntrospect?: boolean;
}

/** What every endpoint shares: the clients, the clock, the issuer and the defaults. */
export interface IdServiceContextOptions {
  /** Registered clients by id. The object is used as is, so changes show at once. */
  clients: Record<string, FakeClient>;
  /** Issuer identifier; else set once the listening address is known. */
  issuer?: string;
  /** Format of the tokens of clients that don't say. Default `'jwt'`. */
  tokenFormat?: 'jwt' | 'opaque';
  /** Lifetime of the tokens of clients that don't say. Default `3600`. */
  lifetimeSeconds?: number;
  /**
   * Give every JWT of the `'default'` profile a unique `jti`, so that two tokens are never equal,
   * even within one second. Default `true`.
   */
  uniqueJwtIds?: boolean;
  /** Clock in epoch milliseconds. Default `Date.now()` at each call (fake timers move it). */
  clock?: () => number;
  /** Told why an answer is not what the caller may expect (e.g. a client may not introspect). */
  onWarning?: (message: string) => void;
}

/**
 * The state the ID service's parts share. The issuer is known only once the server listens
 * (port 0), so it can be set then.
 */
export class IdServiceContext {
  /** Registered clients by id (the object given in the options). */
  readonly clients: Record<string, FakeClient>;
  /** Format of the tokens of clients that don't say. */
  readonly tokenFormat: 'jwt' | 'opaque';
  /** Lifetime of the tokens of clients that don't say. */
  readonly lifetimeSeconds: number;
  /** Whether JWTs of the `'default'` profile carry a unique `jti`. */
  readonly uniqueJwtIds: boolean;
  private readonly clock: () => number;
  private readonly onWarning: (message: string) => void;
  private issuerUrl: string | undefined;

  constructor(options: IdServiceContextOptions) {
    this.clients = options.clients;
    this.tokenFormat = options.tokenFormat ?? 'jwt';
    this.lifetimeSeconds = options.lifetimeSeconds ?? 3600;
    this.uniqueJwtIds = options.uniqueJwtIds ?? true;
    this.clock = options.clock ?? (() => Date.now());
    this.onWarning = options.onWarning ?? (() => undefined);
    this.issuerUrl = options.issuer?.replace(/\/+$/, '');
  }

  /** The issuer identifier: the service's base URL, without a trailing slash. */
  get issuer(): string {
    if (!this.issuerUrl) throw new Error('the ID service is not listening yet');
    return this.issuerUrl;
  }

  /** Sets the issuer once the listening address is known, unless one was configured. */
  setIssuerIfUnset(issuer: string): void {
    this.issuerUrl ??= issuer.replace(/\/+$/, '');
  }

  /** Absolute URL of one of the service's paths. */
  url(path: string): string {
    return `${this.issuer}${path}`;
  }

  /** A registered client, or `undefined` (never a prototype key such as `constructor`). */
  client(clientId: string): FakeClient | undefined {
    return Object.hasOwn(this.clients, clientId) ? this.clients[clientId] : undefined;
  }

  /** Current time as a Date, for jose's `currentDate`. */
  now(): Date {
    return new Date(this.clock());
  }

  /** Current time in epoch seconds. */
  nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** Reports an answer that may surprise its caller. */
  warn(message: string): void {
    this.onWarning(message);
  }
}

import type { IdServiceAlgorithm, IdServiceClient, IdServiceClients } from './id-service.config.js';

/** Paths of the seed's ID service, relative to the issuer. */
export const ID_SERVICE_PATHS = {
  discovery: '/.well-known/openid-configuration',
  token: '/openid/token',
  introspection: '/openid/introspect',
  userinfo: '/openid/userinfo',
  jwks: '/openid/jwks.json',
} as const;

/**
 * What every part of the service shares: the clients, the clock and the issuer. The issuer is known
 * only once the server listens (port 0), so it is set then.
 */
export class IdServiceContext {
  private issuerUrl: string | undefined;

  constructor(
    readonly clients: IdServiceClients,
    readonly alg: IdServiceAlgorithm,
    private readonly clock: () => number,
    issuer?: string,
  ) {
    this.issuerUrl = issuer?.replace(/\/+$/, '');
  }

  /** The issuer identifier: the service's base URL, without a trailing slash. */
  get issuer(): string {
    if (!this.issuerUrl) throw new Error('the ID service is not listening yet');
    return this.issuerUrl;
  }

  /** Sets the issuer once the listening address is known, unless one was configured. */
  setIssuerIfUnset(issuer: string): void {
    this.issuerUrl ??= issuer;
  }

  /** Absolute URL of one of the service's paths. */
  url(path: string): string {
    return `${this.issuer}${path}`;
  }

  /** Current time in epoch seconds. */
  nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** Current time as a Date, for jose's `currentDate`. */
  now(): Date {
    return new Date(this.clock());
  }

  /** A registered client, or `undefined` (no prototype keys such as `constructor`). */
  client(clientId: string): IdServiceClient | undefined {
    return Object.hasOwn(this.clients, clientId) ? this.clients[clientId] : undefined;
  }
}

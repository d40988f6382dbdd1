import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK, JWSHeaderParameters, JWTPayload } from 'jose';
import {
  readRequest,
  writeResponse,
  type FakeHandler,
  type FakeResponse,
  type RecordedRequest,
} from './http-exchange.js';
import type { FakeClient } from './id-service-context.js';
import { IdServiceEndpoints } from './id-service-endpoints.js';
import { signCompact, type SigningCryptoKey } from './sign-compact.util.js';
import type { FakeDpopOptions } from './token-dpop.js';

/** Options of {@link FakeIdService.start}. */
export interface FakeIdServiceOptions {
  /** Registered clients by id. Default `{ 'test-client': { secret: 'test-secret' } }`. */
  clients?: Record<string, FakeClient>;
  /** Default for clients that don't say. Default `'jwt'`. */
  tokenFormat?: 'jwt' | 'opaque';
  /** Default token lifetime. Default `3600`. */
  lifetimeSeconds?: number;
  /** Signing algorithm of the service's keys. Default `'RS256'`. */
  alg?: 'RS256' | 'ES256' | 'PS256' | 'EdDSA';
  /**
   * DPoP mode of the token endpoint (RFC 9449): a request's proof is checked and a valid one gets
   * a token bound to its key (`token_type: DPoP`, `cnf.jkt`). Default off: a `DPoP` header is
   * ignored and every token is a bearer token.
   */
  dpop?: FakeDpopOptions;
}

/**
 * An in-process OpenID Provider for tests with the ID service article's endpoints ({@link PATHS}), on
 * 127.0.0.1 with an OS-chosen port. It answers discovery, the client credentials token endpoint,
 * introspection, userinfo and the JWKS, records every request, and lets a test override any
 * answer with `on(path, handler)`. For tests only: it keeps every token it issued in memory.
 *
 * @example
 * const idp = await FakeIdService.start({ clients: { billing: { secret: 's3cret' } } });
 * // … point the module at idp.issuer, send requests with `Authorization: await idp.bearer()` …
 * expect(idp.requestCount(PATHS.token)).toBe(1);
 * await idp.close();
 */
export class FakeIdService {
  /** Every request received, oldest first, until {@link reset}. */
  readonly requests: RecordedRequest[] = [];
  private readonly overrides = new Map<string, FakeHandler>();

  private constructor(
    private readonly server: Server,
    private readonly endpoints: IdServiceEndpoints,
  ) {}

  /** Starts a service on 127.0.0.1 with an OS-chosen port and one signing key. */
  static async start(options: FakeIdServiceOptions = {}): Promise<FakeIdService> {
    const endpoints = await IdServiceEndpoints.create({
      clients: options.clients ?? { 'test-client': { secret: 'test-secret' } },
      tokenFormat: options.tokenFormat,
      lifetimeSeconds: options.lifetimeSeconds,
      alg: options.alg,
      dpop: options.dpop,
    });
    const server = createServer();
    const service = new FakeIdService(server, endpoints);
    server.on('request', (req, res) => {
      readRequest(req)
        .then(async (request) => {
          service.requests.push(request);
          await writeResponse(res, await service.answer(request));
        })
        // A request the client aborted has no one to answer.
        .catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    endpoints.context.setIssuerIfUnset(`http://127.0.0.1:${port}`);
    return service;
  }

  /** Registered clients by id; may be changed while the service runs. */
  get clients(): Record<string, FakeClient> {
    return this.endpoints.context.clients;
  }

  /** The issuer identifier, e.g. `http://127.0.0.1:41234`. */
  get issuer(): string {
    return this.endpoints.context.issuer;
  }

  /** Absolute URL of a path on this service. */
  url(path: string): string {
    return this.endpoints.context.url(path);
  }

  /** Recorded requests to one path. */
  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** How many requests reached one path (every path when omitted) since the start or `reset()`. */
  requestCount(path?: string): number {
    return path === undefined ? this.requests.length : this.requestsTo(path).length;
  }

  /** Overrides the answer of one path until `reset()` (return `undefined` to fall through). */
  on(path: string, handler: FakeHandler): this {
    this.overrides.set(path, handler);
    return this;
  }

  /** Forgets recorded requests and overrides. */
  reset(): void {
    this.requests.length = 0;
    this.overrides.clear();
  }

  /** Adds a new signing key, publishes it and signs with it from now on. Returns its kid. */
  rotateKey(): Promise<string> {
    return this.endpoints.keys.rotate();
  }

  /** Stops publishing a key (tokens it signed can no longer be verified after a JWKS refresh). */
  unpublishKey(kid: string): void {
    this.endpoints.keys.unpublish(kid);
  }

  /** The nonce DPoP proofs must carry (DPoP mode with `requireNonce`). */
  get dpopNonce(): string | undefined {
    return this.endpoints.dpop?.nonce;
  }

  /** A new DPoP nonce: proofs with the previous one get `use_dpop_nonce` from now on. */
  rotateDpopNonce(): string {
    if (!this.endpoints.dpop) throw new Error('the DPoP mode is off (FakeIdServiceOptions.dpop)');
    return this.endpoints.dpop.rotateNonce();
  }

  /** Kid of the key new tokens are signed with. */
  get currentKid(): string {
    return this.endpoints.keys.current.kid;
  }

  /** The published JWKS. */
  jwks(): { keys: JWK[] } {
    return this.endpoints.keys.jwks();
  }

  /** Private key of a kid, to sign hostile variants in tests. */
  privateKey(kid = this.currentKid): SigningCryptoKey {
    const key = this.endpoints.keys.find(kid);
    if (!key) throw new Error(`unknown kid ${kid}`);
    return key.privateKey;
  }

  /**
   * Signs a compact JWS from raw header and payload text (or objects) with a key of this service,
   * so tests can build tokens jose would not produce: duplicate members, odd `typ`/`crit`, numbers
   * JSON.stringify cannot write (`1e400`).
   */
  signRaw(
    header: string | object,
    payload: string | object,
    kid = this.currentKid,
  ): Promise<string> {
    return signCompact(header, payload, this.privateKey(kid));
  }

  /**
   * Signs a JWT access token with the current key (or `header.kid`'s). Defaults are the ID service
   * article's payload: `iss` this service, `iat` now, `exp` in 1 h, `sub` = `aud` = `'test-client'`;
   * given claims replace them (`exp: undefined` leaves `exp` out).
   *
   * @example
   * await idp.mintJwt({ sub: 'billing', aud: 'orders-api', scope: 'orders:read' });
   */
  mintJwt(
    claims: JWTPayload & Record<string, unknown> = {},
    header: Partial<JWSHeaderParameters> = {},
  ): Promise<string> {
    return this.endpoints.tokens.mintJwt(claims, header);
  }

  /**
   * An `Authorization` header value carrying a JWT from {@link mintJwt}.
   *
   * @example
   * await request(app.getHttpServer()).get('/orders').set('Authorization', await idp.bearer());
   */
  async bearer(
    claims: JWTPayload & Record<string, unknown> = {},
    header: Partial<JWSHeaderParameters> = {},
  ): Promise<string> {
    return `Bearer ${await this.mintJwt(claims, header)}`;
  }

  /**
   * Issues an opaque token known to introspection, as the token endpoint would. Its `aud` is
   * `options.audience`, else the client's `audience`, else the client id.
   */
  mintOpaque(
    clientId = 'test-client',
    options: { scope?: string; lifetimeSeconds?: number; audience?: string | string[] } = {},
  ): string {
    return this.endpoints.tokens.mintOpaque(clientId, options);
  }

  /**
   * Revokes a token: introspection answers `active: false` and userinfo 401 from now on. A JWT
   * still verifies locally against the JWKS — that is what JWT access tokens are.
   */
  revoke(token: string): void {
    this.endpoints.tokens.revoke(token);
  }

  /**
   * The claims introspection would answer for a token (a live token this service issued, opaque or
   * JWT), else `undefined`. Lets a stub API in a test check the token its caller sent.
   */
  introspect(token: string): Promise<Record<string, unknown> | undefined> {
    return this.endpoints.tokens.inspect(token);
  }

  /** Stops the service; open connections are closed. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The override's answer, else the endpoint's; an unexpected failure is a 500. */
  private async answer(request: RecordedRequest): Promise<FakeResponse> {
    try {
      const override = this.overrides.get(request.path);
      return (override && (await override(request))) ?? (await this.endpoints.handle(request));
    } catch (error) {
      return { status: 500, body: { error: 'server_error', error_description: String(error) } };
    }
  }
}

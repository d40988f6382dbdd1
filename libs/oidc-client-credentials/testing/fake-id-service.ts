import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWSHeaderParameters,
} from 'jose';

type SigningCryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** One request as the fake ID service received it. */
export interface RecordedRequest {
  /** HTTP method, e.g. `POST`. */
  method: string;
  /** Path without the query, e.g. `/openid/token`. */
  path: string;
  /** Query parameters. */
  query: URLSearchParams;
  /** Request headers, names in lower case. */
  headers: IncomingHttpHeaders;
  /** Raw body as UTF-8 text. */
  body: string;
  /** The body parsed as `application/x-www-form-urlencoded` (empty for other content types). */
  form: URLSearchParams;
}

/** What a handler answers. An object body is sent as JSON; a string as is. */
export interface FakeResponse {
  /** HTTP status. Default `200`. */
  status?: number;
  /** Extra response headers; `content-type` defaults to JSON for objects, text for strings. */
  headers?: Record<string, string>;
  /** Response body: an object is sent as JSON, a string as is. */
  body?: unknown;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the connection is closed when the service closes). */
  hang?: boolean;
  /** Destroy the socket without answering. */
  reset?: boolean;
}

/** Returns a response, or `undefined` to fall through to the default behaviour. */
export type FakeHandler = (
  request: RecordedRequest,
) => FakeResponse | undefined | Promise<FakeResponse | undefined>;

/** A client registered at the fake ID service. */
export interface FakeClient {
  /** Secret for `client_secret_basic`, `client_secret_post` and `client_secret_query`. */
  secret?: string;
  /** Public JWKS of a `private_key_jwt` client. */
  jwks?: { keys: JWK[] };
  /** Scope granted when the token request names none. */
  scope?: string;
  /**
   * `aud` of the tokens issued to this client: in its JWTs, and in introspection answers about its
   * opaque tokens. Default the client id, as the seed's ID service.
   */
  audience?: string | string[];
  /** Format of the tokens issued to this client. Default the service's `tokenFormat`. */
  tokenFormat?: 'jwt' | 'opaque';
  /** Lifetime of the tokens issued to this client. Default the service's `lifetimeSeconds`. */
  lifetimeSeconds?: number;
  /** Omit `expires_in` from token responses. */
  omitExpiresIn?: boolean;
}

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
}

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: SigningCryptoKey;
  publicKey: SigningCryptoKey;
  publicJwk: JWK;
}

interface IssuedToken {
  clientId: string;
  scope?: string;
  exp: number;
  iat: number;
  audience: string | string[];
  revoked: boolean;
}

/** Paths of the fake ID service's endpoints: the seed ID service's. */
export const PATHS = {
  discovery: '/.well-known/openid-configuration',
  token: '/openid/token',
  introspection: '/openid/introspect',
  userinfo: '/openid/userinfo',
  jwks: '/openid/jwks.json',
} as const;

/**
 * An in-process OpenID Provider for tests, shaped like the seed's ID service, on 127.0.0.1 with an
 * OS-chosen port. It answers discovery, the client credentials token endpoint, introspection,
 * userinfo and the JWKS, records every request, and lets a test override any answer with
 * `on(path, handler)`. For tests only: it keeps every token it issued in memory.
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
  /** Registered clients by id; may be changed while the service runs. */
  readonly clients: Record<string, FakeClient>;
  private readonly overrides = new Map<string, FakeHandler>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly revokedJwts = new Set<string>();
  private keys: SigningKey[] = [];
  private publishedKids = new Set<string>();
  private issuerUrl = '';

  private constructor(
    private readonly server: Server,
    private readonly options: Required<Omit<FakeIdServiceOptions, 'clients'>>,
    clients: Record<string, FakeClient>,
  ) {
    this.clients = clients;
  }

  /** Starts a service on 127.0.0.1 with an OS-chosen port and one signing key. */
  static async start(options: FakeIdServiceOptions = {}): Promise<FakeIdService> {
    const server = createServer();
    const service = new FakeIdService(
      server,
      {
        tokenFormat: options.tokenFormat ?? 'jwt',
        lifetimeSeconds: options.lifetimeSeconds ?? 3600,
        alg: options.alg ?? 'RS256',
      },
      options.clients ?? { 'test-client': { secret: 'test-secret' } },
    );
    await service.rotateKey();
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const body = Buffer.concat(chunks).toString('utf8');
        const recorded: RecordedRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body,
          form: String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
            ? new URLSearchParams(body)
            : new URLSearchParams(),
        };
        service.requests.push(recorded);
        void service.handle(recorded, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    service.issuerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return service;
  }

  /** The issuer identifier, e.g. `http://127.0.0.1:41234`. */
  get issuer(): string {
    return this.issuerUrl;
  }

  /** Absolute URL of a path on this service. */
  url(path: string): string {
    return `${this.issuerUrl}${path}`;
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
  async rotateKey(): Promise<string> {
    const { alg } = this.options;
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `key-${this.keys.length + 1}-${randomBytes(4).toString('hex')}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    this.keys.push({ kid, alg, privateKey, publicKey, publicJwk });
    this.publishedKids.add(kid);
    return kid;
  }

  /** Stops publishing a key (tokens it signed can no longer be verified after a JWKS refresh). */
  unpublishKey(kid: string): void {
    this.publishedKids.delete(kid);
  }

  /** Kid of the key new tokens are signed with. */
  get currentKid(): string {
    return this.keys[this.keys.length - 1].kid;
  }

  /** The published JWKS. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.filter((k) => this.publishedKids.has(k.kid)).map((k) => k.publicJwk) };
  }

  /** Private key of a kid, to sign hostile variants in tests. */
  privateKey(kid = this.currentKid): SigningCryptoKey {
    const key = this.keys.find((k) => k.kid === kid);
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
   * Signs a JWT access token with the current key (or `header.kid`'s). Defaults are the seed's
   * payload: `iss` this service, `iat` now, `exp` in 1 h, `sub` = `aud` = `'test-client'`; given
   * claims replace them (`exp: undefined` leaves `exp` out).
   *
   * @example
   * await idp.mintJwt({ sub: 'billing', aud: 'orders-api', scope: 'orders:read' });
   */
  async mintJwt(
    claims: JWTPayload & Record<string, unknown> = {},
    header: Partial<JWSHeaderParameters> = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const clientId = (claims.sub as string | undefined) ?? 'test-client';
    const payload = {
      iss: this.issuer,
      iat: now,
      exp: now + 3600,
      sub: clientId,
      aud: clientId,
      ...claims,
    };
    const key =
      this.keys.find((k) => k.kid === (header.kid ?? this.currentKid)) ?? this.keys.at(-1)!;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header } as JWSHeaderParameters & {
        alg: string;
      })
      .sign(key.privateKey);
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
    const token = randomBytes(24).toString('base64url');
    const iat = Math.floor(Date.now() / 1000);
    this.tokens.set(token, {
      clientId,
      scope: options.scope,
      audience: options.audience ?? this.clients[clientId]?.audience ?? clientId,
      iat,
      exp: iat + (options.lifetimeSeconds ?? this.options.lifetimeSeconds),
      revoked: false,
    });
    return token;
  }

  /**
   * Revokes a token: introspection answers `active: false` and userinfo 401 from now on. A JWT
   * still verifies locally against the JWKS — that is what JWT access tokens are.
   */
  revoke(token: string): void {
    const issued = this.tokens.get(token);
    if (issued) issued.revoked = true;
    else this.revokedJwts.add(token);
  }

  /**
   * The claims introspection would answer for a token (a live token this service issued, opaque or
   * JWT), else `undefined`. Lets a stub API in a test check the token its caller sent.
   */
  introspect(token: string): Promise<Record<string, unknown> | undefined> {
    return this.activeClaims(token);
  }

  /** Stops the service; open connections are closed. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: RecordedRequest, res: ServerResponse): Promise<void> {
    try {
      const override = this.overrides.get(request.path);
      const answer = (override && (await override(request))) ?? (await this.defaultAnswer(request));
      await send(res, answer);
    } catch (error) {
      await send(res, {
        status: 500,
        body: { error: 'server_error', error_description: String(error) },
      });
    }
  }

  private async defaultAnswer(request: RecordedRequest): Promise<FakeResponse> {
    switch (request.path) {
      case PATHS.discovery:
        return { body: this.metadata() };
      case PATHS.jwks:
        return { body: this.jwks() };
      case PATHS.token:
        return this.tokenEndpoint(request);
      case PATHS.introspection:
        return this.introspectionEndpoint(request);
      case PATHS.userinfo:
        return this.userinfoEndpoint(request);
      default:
        return { status: 404, body: { error: 'not_found' } };
    }
  }

  private metadata(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      token_endpoint: this.url(PATHS.token),
      introspection_endpoint: this.url(PATHS.introspection),
      userinfo_endpoint: this.url(PATHS.userinfo),
      jwks_uri: this.url(PATHS.jwks),
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: [
        'client_secret_basic',
        'client_secret_post',
        'private_key_jwt',
      ],
      id_token_signing_alg_values_supported: [this.options.alg],
    };
  }

  /** Authenticates the caller by exactly one method; returns its client id or `undefined`. */
  private async authenticate(request: RecordedRequest): Promise<string | undefined> {
    const methods: string[] = [];
    const authorization = request.headers.authorization;
    if (authorization?.startsWith('Basic ')) methods.push('basic');
    if (request.form.has('client_secret')) methods.push('post');
    if (request.query.has('client_secret')) methods.push('query');
    if (request.form.has('client_assertion')) methods.push('jwt');
    if (methods.length !== 1) return undefined;
    switch (methods[0]) {
      case 'basic': {
        const decoded = Buffer.from(authorization!.slice(6), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) return undefined;
        const id = formDecode(decoded.slice(0, colon));
        const secret = formDecode(decoded.slice(colon + 1));
        return this.clients[id]?.secret === secret ? id : undefined;
      }
      case 'post': {
        const id = request.form.get('client_id') ?? '';
        return this.clients[id]?.secret === request.form.get('client_secret') ? id : undefined;
      }
      case 'query': {
        const id = request.query.get('client_id') ?? '';
        return this.clients[id]?.secret === request.query.get('client_secret') ? id : undefined;
      }
      default: {
        const assertion = request.form.get('client_assertion') ?? '';
        const id = String(decodeJwt(assertion).sub ?? '');
        const client = this.clients[id];
        if (!client?.jwks) return undefined;
        try {
          const jwk = client.jwks.keys[0];
          await jwtVerify(assertion, await importJWK(jwk, jwk.alg), {
            issuer: id,
            subject: id,
            audience: this.issuer,
            requiredClaims: ['exp', 'jti'],
          });
          return id;
        } catch {
          return undefined;
        }
      }
    }
  }

  private async tokenEndpoint(request: RecordedRequest): Promise<FakeResponse> {
    const params = new URLSearchParams([...request.query, ...request.form]);
    if (params.get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type' } };
    }
    const clientId = await this.authenticate(request);
    if (!clientId) {
      return {
        status: 401,
        headers: { 'www-authenticate': 'Basic realm="id-service"' },
        body: { error: 'invalid_client' },
      };
    }
    const client = this.clients[clientId];
    const lifetime = client.lifetimeSeconds ?? this.options.lifetimeSeconds;
    const scope = params.get('scope') ?? client.scope;
    const format = client.tokenFormat ?? this.options.tokenFormat;
    const now = Math.floor(Date.now() / 1000);
    const accessToken =
      format === 'jwt'
        ? await this.mintJwt({
            sub: clientId,
            aud: client.audience ?? clientId,
            exp: now + lifetime,
            // Each token issued is a new one, even within the same second.
            jti: randomBytes(12).toString('base64url'),
            ...(scope ? { scope } : {}),
          })
        : this.mintOpaque(clientId, { scope: scope ?? undefined, lifetimeSeconds: lifetime });
    return {
      headers: { 'cache-control': 'no-store' },
      body: {
        access_token: accessToken,
        token_type: 'Bearer',
        ...(client.omitExpiresIn ? {} : { expires_in: lifetime }),
        ...(scope ? { scope } : {}),
      },
    };
  }

  private async introspectionEndpoint(request: RecordedRequest): Promise<FakeResponse> {
    if (!(await this.authenticate(request))) {
      return {
        status: 401,
        headers: { 'www-authenticate': 'Basic' },
        body: { error: 'invalid_client' },
      };
    }
    const claims = await this.activeClaims(request.form.get('token') ?? '');
    return { body: claims ? { active: true, ...claims } : { active: false } };
  }

  private async userinfoEndpoint(request: RecordedRequest): Promise<FakeResponse> {
    const header = request.headers.authorization ?? '';
    const token = /^Bearer (.+)$/i.exec(header)?.[1] ?? request.form.get('access_token') ?? '';
    const claims = await this.activeClaims(token);
    if (!claims) {
      return {
        status: 401,
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        body: '',
      };
    }
    return { body: { sub: claims.sub } };
  }

  /** Claims of a live token this service issued (opaque or JWT), else `undefined`. */
  private async activeClaims(token: string): Promise<Record<string, unknown> | undefined> {
    const now = Math.floor(Date.now() / 1000);
    const opaque = this.tokens.get(token);
    if (opaque) {
      if (opaque.revoked || opaque.exp <= now) return undefined;
      return {
        sub: opaque.clientId,
        client_id: opaque.clientId,
        clientId: opaque.clientId,
        exp: opaque.exp,
        iat: opaque.iat,
        aud: opaque.audience,
        iss: this.issuer,
        token_type: 'Bearer',
        ...(opaque.scope ? { scope: opaque.scope } : {}),
      };
    }
    for (const key of this.keys) {
      try {
        const { payload } = await jwtVerify(token, key.publicKey, { issuer: this.issuer });
        if (this.revokedJwts.has(token)) return undefined;
        return { ...payload, client_id: payload.sub, clientId: payload.sub, token_type: 'Bearer' };
      } catch {
        // try the next key
      }
    }
    return undefined;
  }
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

async function send(res: ServerResponse, answer: FakeResponse): Promise<void> {
  if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
  if (answer.hang) return;
  if (answer.reset) {
    res.socket?.destroy();
    return;
  }
  const isString = typeof answer.body === 'string';
  const payload =
    answer.body === undefined
      ? ''
      : isString
        ? (answer.body as string)
        : JSON.stringify(answer.body);
  res.writeHead(answer.status ?? 200, {
    'content-type': isString ? 'text/plain' : 'application/json',
    ...answer.headers,
  });
  res.end(payload);
}

/**
 * Signs a compact JWS over raw header and payload text (objects are JSON-encoded) with a WebCrypto
 * private key (RSASSA-PKCS1-v1_5, RSA-PSS, ECDSA or Ed25519); the header's `alg` is not checked.
 */
export async function signCompact(
  header: string | object | Uint8Array,
  payload: string | object | Uint8Array,
  key: SigningCryptoKey,
): Promise<string> {
  const encode = (part: string | object | Uint8Array) =>
    Buffer.from(
      part instanceof Uint8Array ? part : typeof part === 'string' ? part : JSON.stringify(part),
    ).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const curveHash: Record<string, string> = {
    'P-256': 'SHA-256',
    'P-384': 'SHA-384',
    'P-521': 'SHA-512',
  };
  const params =
    algorithm.name === 'RSA-PSS'
      ? { name: 'RSA-PSS', saltLength: Number(algorithm.hash!.name.slice(4)) / 8 }
      : algorithm.name === 'ECDSA'
        ? { name: 'ECDSA', hash: curveHash[algorithm.namedCurve!] }
        : { name: algorithm.name };
  const signature = await crypto.subtle.sign(params, key, Buffer.from(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

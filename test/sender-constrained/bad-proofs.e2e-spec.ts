import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, type JWK } from 'jose';
import type { Keyv } from 'keyv';
import type {
  OidcClientCredentialsModuleOptions,
  VerificationOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import {
  CapturingLogger,
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { freePort } from '../utils/ports.js';
import { closeStores, redisStore, uniquePrefix } from '../utils/redis.js';
import { createCertificateAuthority, type CertificateAndKey } from '../utils/tls-certificates.js';
import {
  API_CLIENT,
  AUDIENCE,
  rawHttpsRequest,
  senderConstrainedAppModule,
  startHttpsApp,
} from './app.module.js';
import { ath, b64u, DpopKey, flipSignature, unsignedProof } from './dpop-proofs.js';

/** The apps a row runs against: one setup each. */
type AppKind =
  | 'allowed'
  | 'nonce'
  | 'fleet-a'
  | 'fleet-b'
  | 'redis-down'
  | 'dpop-required'
  | 'introspection'
  | 'mtls'
  | 'mtls-required'
  | 'client-cert';

const ALGS = 'ES256 ES384 ES512 PS256 RS256 EdDSA Ed25519';
const CACHE_KEY = randomBytes(32).toString('base64');

/** `WWW-Authenticate` of a refusal answered in the DPoP challenge while bearer tokens are accepted. */
const dpopChallenge = (error: string, description: string) =>
  `Bearer realm="api", DPoP realm="api", algs="${ALGS}", error="${error}", error_description="${description}"`;
const invalidProof = (description: string) => dpopChallenge('invalid_dpop_proof', description);
const bearerInvalid = (description: string) =>
  `Bearer realm="api", error="invalid_token", error_description="${description}"`;

/** What a row's request may use. */
interface Context {
  app: RunningApp;
  /** The other instance on the same Redis (fleet rows). */
  other?: RunningApp;
  idp: FakeIdService;
  key: DpopKey;
  /** A JWT bound to {@link key}. */
  token: string;
  /** `htu` of `GET /orders` on {@link app}. */
  htu: string;
  certificates: { ca: CertificateAndKey; client: CertificateAndKey; other: CertificateAndKey };
}

interface Row {
  name: string;
  app: AppKind;
  send(ctx: Context): Promise<RawResponse>;
  status: number;
  /** Exact `WWW-Authenticate`; `undefined`: none. */
  challenge?: string;
  /** A `DPoP-Nonce` header is expected. */
  nonce?: boolean;
  retryAfter?: boolean;
}

/** `GET path` on the row's app with `Authorization` and the DPoP headers given. */
function send(
  ctx: Context,
  options: { authorization?: string; proofs?: string[]; path?: string; app?: RunningApp },
): Promise<RawResponse> {
  const headers: [string, string][] = [];
  if (options.authorization !== undefined) headers.push(['Authorization', options.authorization]);
  for (const proof of options.proofs ?? []) headers.push(['DPoP', proof]);
  return rawRequest((options.app ?? ctx.app).url, { path: options.path ?? '/orders', headers });
}

/** `Authorization: DPoP <token>` with one proof, made by `make`. */
async function withProof(
  ctx: Context,
  make: (ctx: Context) => Promise<string>,
  path?: string,
): Promise<RawResponse> {
  return send(ctx, { authorization: `DPoP ${ctx.token}`, proofs: [await make(ctx)], path });
}

const get = (ctx: Context) => ({ htm: 'GET', htu: ctx.htu, token: ctx.token });

const rows: Row[] = [
  {
    name: 'a valid proof of the bound key is accepted',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c))),
    status: 200,
  },
  {
    name: 'a plain bearer token is still accepted',
    app: 'allowed',
    send: async (ctx) =>
      send(ctx, { authorization: `Bearer ${await ctx.idp.mintJwt({ aud: AUDIENCE })}` }),
    status: 200,
  },
  {
    name: 'a DPoP-bound token sent with the Bearer scheme (downgrade)',
    app: 'allowed',
    send: async (ctx) =>
      send(ctx, { authorization: `Bearer ${ctx.token}`, proofs: [await ctx.key.proof(get(ctx))] }),
    status: 401,
    challenge: dpopChallenge(
      'invalid_token',
      'The access token is bound to a DPoP key: send it with the DPoP scheme and a proof',
    ),
  },
  {
    name: 'the DPoP scheme without a DPoP header',
    app: 'allowed',
    send: (ctx) => send(ctx, { authorization: `DPoP ${ctx.token}` }),
    status: 401,
    challenge: invalidProof('A DPoP proof is required'),
  },
  {
    name: 'two DPoP headers',
    app: 'allowed',
    send: async (ctx) =>
      send(ctx, {
        authorization: `DPoP ${ctx.token}`,
        proofs: [await ctx.key.proof(get(ctx)), await ctx.key.proof(get(ctx))],
      }),
    status: 401,
    challenge: invalidProof('More than one DPoP header'),
  },
  {
    name: 'an oversized proof (over 8 KiB)',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), { pad: 'x'.repeat(9000) })),
    status: 401,
    challenge: invalidProof('The DPoP proof is too long'),
  },
  {
    name: 'a proof that is not a JWS',
    app: 'allowed',
    send: (ctx) => withProof(ctx, async () => 'not-a-proof'),
    status: 401,
    challenge: invalidProof('The DPoP proof is not a compact JWS'),
  },
  {
    name: 'a proof whose header is not JSON',
    app: 'allowed',
    send: (ctx) => withProof(ctx, async () => `${b64u('{typ:')}.${b64u('{}')}.c2ln`),
    status: 401,
    challenge: invalidProof('The DPoP proof header is not a JSON object'),
  },
  {
    name: 'typ JWT instead of dpop+jwt',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), {}, { typ: 'JWT' })),
    status: 401,
    challenge: invalidProof('The DPoP proof typ is not dpop+jwt'),
  },
  {
    name: 'typ missing',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), {}, { typ: undefined })),
    status: 401,
    challenge: invalidProof('The DPoP proof typ is not dpop+jwt'),
  },
  {
    name: 'alg none, unsigned',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, async (c) =>
        unsignedProof(
          { typ: 'dpop+jwt', alg: 'none', jwk: c.key.publicJwk },
          {
            jti: 'j-none',
            htm: 'GET',
            htu: c.htu,
            iat: Math.floor(Date.now() / 1000),
            ath: ath(c.token),
          },
        ),
      ),
    status: 401,
    challenge: invalidProof('The DPoP proof alg is not accepted'),
  },
  {
    name: 'alg HS256 with a symmetric key',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) => {
        const secret = randomBytes(32);
        return new SignJWT({ jti: 'j-hs', htm: 'GET', htu: c.htu, ath: ath(c.token) })
          .setProtectedHeader({
            typ: 'dpop+jwt',
            alg: 'HS256',
            // A symmetric "key" in the header: what a confused client might send.
            jwk: { kty: 'oct', k: b64u(secret) } as unknown as JWK,
          })
          .setIssuedAt()
          .sign(secret);
      }),
    status: 401,
    challenge: invalidProof('The DPoP proof alg is not accepted'),
  },
  {
    name: 'a private key in the jwk header',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), {}, { jwk: c.key.privateJwk })),
    status: 401,
    challenge: invalidProof('The DPoP proof jwk is not a public key'),
  },
  {
    name: 'a kid instead of a jwk',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) => c.key.proof(get(c), {}, { jwk: undefined, kid: c.key.jkt })),
    status: 401,
    challenge: invalidProof('The DPoP proof carries no public jwk'),
  },
  {
    name: 'a bad signature',
    app: 'allowed',
    send: (ctx) => withProof(ctx, async (c) => flipSignature(await c.key.proof(get(c)))),
    status: 401,
    challenge: invalidProof('The DPoP proof signature or claims do not verify'),
  },
  {
    name: 'a valid proof by another key than cnf.jkt',
    app: 'allowed',
    send: (ctx) => withProof(ctx, async (c) => (await DpopKey.generate()).proof(get(c))),
    status: 401,
    challenge: invalidProof('The DPoP proof is signed by another key than the token is bound to'),
  },
  {
    name: 'htm POST for a GET',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof({ ...get(c), htm: 'POST' })),
    status: 401,
    challenge: invalidProof('The DPoP proof htm is not the request method'),
  },
  {
    name: 'htm in lower case (methods are case-sensitive)',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof({ ...get(c), htm: 'get' })),
    status: 401,
    challenge: invalidProof('The DPoP proof htm is not the request method'),
  },
  {
    name: 'htu of another path',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) => c.key.proof({ ...get(c), htu: `${c.app.url}/orders/read` })),
    status: 401,
    challenge: invalidProof('The DPoP proof htu is not the request URL'),
  },
  {
    name: 'htu of another host',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) =>
        c.key.proof({ ...get(c), htu: c.htu.replace('127.0.0.1', 'localhost') }),
      ),
    status: 401,
    challenge: invalidProof('The DPoP proof htu is not the request URL'),
  },
  {
    name: 'htu https for an http request',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) => c.key.proof({ ...get(c), htu: c.htu.replace('http:', 'https:') })),
    status: 401,
    challenge: invalidProof('The DPoP proof htu is not the request URL'),
  },
  {
    name: 'htu that is not a URL',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof({ ...get(c), htu: '/orders' })),
    status: 401,
    challenge: invalidProof('The DPoP proof htu is not the request URL'),
  },
  {
    name: 'htu with a query and fragment, and a request with a query: both ignored',
    app: 'allowed',
    send: (ctx) =>
      withProof(
        ctx,
        (c) => c.key.proof({ ...get(c), htu: `${c.htu}?page=2#top` }),
        '/orders?page=3',
      ),
    status: 200,
  },
  {
    name: 'htu normalised: scheme and host in upper case, percent-encoded unreserved characters',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) =>
        c.key.proof({
          ...get(c),
          htu: c.htu.replace('http://', 'HTTP://').replace('/orders', '/%6Frders'),
        }),
      ),
    status: 200,
  },
  {
    name: 'iat too old',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) => c.key.proof(get(c), { iat: Math.floor(Date.now() / 1000) - 120 })),
    status: 401,
    challenge: invalidProof('The DPoP proof is too old'),
  },
  {
    name: 'iat in the future',
    app: 'allowed',
    send: (ctx) =>
      withProof(ctx, (c) => c.key.proof(get(c), { iat: Math.floor(Date.now() / 1000) + 120 })),
    status: 401,
    challenge: invalidProof('The DPoP proof iat is in the future'),
  },
  {
    name: 'iat missing',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), { iat: undefined })),
    status: 401,
    challenge: invalidProof('The DPoP proof iat is missing'),
  },
  {
    name: 'jti missing',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), { jti: undefined })),
    status: 401,
    challenge: invalidProof('The DPoP proof jti is missing or too long'),
  },
  {
    name: 'ath missing',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof({ ...get(c), token: undefined })),
    status: 401,
    challenge: invalidProof('The DPoP proof has no ath'),
  },
  {
    name: 'ath of another token',
    app: 'allowed',
    send: (ctx) => withProof(ctx, (c) => c.key.proof({ ...get(c), token: 'another-token' })),
    status: 401,
    challenge: invalidProof('The DPoP proof ath is not the hash of the access token'),
  },
  {
    name: 'the same proof twice on one instance (replay)',
    app: 'allowed',
    send: async (ctx) => {
      const proof = await ctx.key.proof(get(ctx));
      const first = await send(ctx, { authorization: `DPoP ${ctx.token}`, proofs: [proof] });
      expect(first.status).toBe(200);
      return send(ctx, { authorization: `DPoP ${ctx.token}`, proofs: [proof] });
    },
    status: 401,
    challenge: invalidProof('The DPoP proof was used before'),
  },
  {
    name: 'a proof accepted by one instance, replayed at a second one sharing the Redis',
    app: 'fleet-a',
    send: async (ctx) => {
      const other = ctx.other!;
      const proof = await ctx.key.proof(get(ctx));
      const first = await send(ctx, { authorization: `DPoP ${ctx.token}`, proofs: [proof] });
      expect(first.status).toBe(200);
      // The same URL reaches the other instance only through a proxy; here its htu differs, so the
      // proof is made for it and sent to both.
      const forOther = await ctx.key.proof(
        { ...get(ctx), htu: `${other.url}/orders` },
        { jti: 'shared-jti-1' },
      );
      const atOther = await send(ctx, {
        app: other,
        authorization: `DPoP ${ctx.token}`,
        proofs: [forOther],
      });
      expect(atOther.status).toBe(200);
      return send(ctx, { app: other, authorization: `DPoP ${ctx.token}`, proofs: [forOther] });
    },
    status: 401,
    challenge: invalidProof('The DPoP proof was used before'),
  },
  {
    name: 'the replay store (Redis) down: 503, never a possible replay accepted',
    app: 'redis-down',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c))),
    status: 503,
    retryAfter: true,
  },
  {
    name: 'nonce required and missing',
    app: 'nonce',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c))),
    status: 401,
    challenge: dpopChallenge('use_dpop_nonce', 'The DPoP proof must carry the server nonce'),
    nonce: true,
  },
  {
    name: 'nonce required and stale or unknown',
    app: 'nonce',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c), { nonce: b64u(randomBytes(22)) })),
    status: 401,
    challenge: dpopChallenge('use_dpop_nonce', 'The DPoP proof carries a stale or unknown nonce'),
    nonce: true,
  },
  {
    name: 'nonce required: the retry with the nonce given is accepted',
    app: 'nonce',
    send: async (ctx) => {
      const first = await withProof(ctx, (c) => c.key.proof(get(c)));
      const nonce = first.headers['dpop-nonce'] as string;
      return withProof(ctx, (c) => c.key.proof(get(c), { nonce }));
    },
    status: 200,
  },
  {
    name: 'the DPoP scheme with a token bound to no key',
    app: 'allowed',
    send: async (ctx) => {
      const token = await ctx.idp.mintJwt({ aud: AUDIENCE });
      return send(ctx, {
        authorization: `DPoP ${token}`,
        proofs: [await ctx.key.proof({ ...get(ctx), token })],
      });
    },
    status: 401,
    challenge: dpopChallenge('invalid_token', 'The access token is not bound to a DPoP key'),
  },
  {
    name: 'dpop required: a bearer token is refused, DPoP challenge only',
    app: 'dpop-required',
    send: async (ctx) =>
      send(ctx, { authorization: `Bearer ${await ctx.idp.mintJwt({ aud: AUDIENCE })}` }),
    status: 401,
    challenge: `DPoP realm="api", algs="${ALGS}", error="invalid_token", error_description="The access token must be DPoP-bound"`,
  },
  {
    name: 'dpop required: no credentials at all',
    app: 'dpop-required',
    send: (ctx) => send(ctx, {}),
    status: 401,
    challenge: `DPoP realm="api", algs="${ALGS}"`,
  },
  {
    name: 'an introspected (opaque) DPoP-bound token with a valid proof',
    app: 'introspection',
    send: (ctx) => withProof(ctx, (c) => c.key.proof(get(c))),
    status: 200,
  },
  {
    name: 'an introspected (opaque) DPoP-bound token sent with Bearer',
    app: 'introspection',
    send: (ctx) => send(ctx, { authorization: `Bearer ${ctx.token}` }),
    status: 401,
    challenge: dpopChallenge(
      'invalid_token',
      'The access token is bound to a DPoP key: send it with the DPoP scheme and a proof',
    ),
  },
  {
    name: 'mTLS: the certificate the token is bound to',
    app: 'mtls',
    send: (ctx) => mtlsRequest(ctx, ctx.certificates.client),
    status: 200,
  },
  {
    name: 'mTLS: another certificate',
    app: 'mtls',
    send: (ctx) => mtlsRequest(ctx, ctx.certificates.other),
    status: 401,
    challenge: bearerInvalid('The client certificate is not the one the access token is bound to'),
  },
  {
    name: 'mTLS: no certificate',
    app: 'mtls',
    send: (ctx) => mtlsRequest(ctx, undefined),
    status: 401,
    challenge: bearerInvalid(
      'The access token is bound to a client certificate, and none was presented',
    ),
  },
  {
    name: 'mTLS required: a token bound to no certificate',
    app: 'mtls-required',
    send: (ctx) => mtlsRequest(ctx, ctx.certificates.client, 'unbound'),
    status: 401,
    challenge: bearerInvalid('The access token is not bound to a client certificate'),
  },
  {
    name: 'Client-Cert header mode: the bound certificate from the proxy',
    app: 'client-cert',
    send: (ctx) => clientCertRequest(ctx, `:${derBase64(ctx.certificates.client.cert)}:`),
    status: 200,
  },
  {
    name: 'Client-Cert header mode: another certificate',
    app: 'client-cert',
    send: (ctx) => clientCertRequest(ctx, `:${derBase64(ctx.certificates.other.cert)}:`),
    status: 401,
    challenge: bearerInvalid('The client certificate is not the one the access token is bound to'),
  },
  {
    name: 'Client-Cert header mode: no header',
    app: 'client-cert',
    send: (ctx) => clientCertRequest(ctx, undefined),
    status: 401,
    challenge: bearerInvalid(
      'The access token is bound to a client certificate, and none was presented',
    ),
  },
  {
    name: 'Client-Cert header mode: not a byte sequence',
    app: 'client-cert',
    send: (ctx) => clientCertRequest(ctx, derBase64(ctx.certificates.client.cert)),
    status: 401,
    challenge: bearerInvalid('The Client-Cert header is not a byte sequence'),
  },
  {
    name: 'Client-Cert header mode: bytes that are no certificate',
    app: 'client-cert',
    send: (ctx) => clientCertRequest(ctx, `:${b64(randomBytes(64))}:`),
    status: 401,
    challenge: bearerInvalid('The Client-Cert header is not a certificate'),
  },
];

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const derBase64 = (pem: string) =>
  pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');

/** An https request with a certificate-bound token (or one bound to nothing). */
async function mtlsRequest(
  ctx: Context,
  client: CertificateAndKey | undefined,
  token: 'bound' | 'unbound' = 'bound',
): Promise<RawResponse> {
  const cnf = token === 'bound' ? { 'x5t#S256': ctx.certificates.client.thumbprint } : undefined;
  const jwt = await ctx.idp.mintJwt({ aud: AUDIENCE, cnf });
  return rawHttpsRequest(ctx.app.url, {
    path: '/orders',
    headers: [['Authorization', `Bearer ${jwt}`]],
    ca: ctx.certificates.ca.cert,
    client,
  });
}

/** An http request as a TLS-terminating proxy forwards it, with `Client-Cert` if given. */
async function clientCertRequest(ctx: Context, header: string | undefined): Promise<RawResponse> {
  const jwt = await ctx.idp.mintJwt({
    aud: AUDIENCE,
    cnf: { 'x5t#S256': ctx.certificates.client.thumbprint },
  });
  const headers: [string, string][] = [['Authorization', `Bearer ${jwt}`]];
  if (header !== undefined) headers.push(['Client-Cert', header]);
  return rawRequest(ctx.app.url, { path: '/orders', headers });
}

describe.each(HTTP_PLATFORMS)('DPoP and mTLS bad input on %s', (platform) => {
  const logger = new CapturingLogger();
  const apps = new Map<AppKind, RunningApp>();
  const stores: Keyv[] = [];
  let idp: FakeIdService;
  let key: DpopKey;
  let certificates: Context['certificates'];
  let serverCertificate: CertificateAndKey;
  /** Opaque tokens the introspection endpoint answers as bound to {@link key}. */
  const opaque = new Set<string>();
  let downPort: number;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { [API_CLIENT.id]: { secret: API_CLIENT.secret, canIntrospect: true } },
    });
    key = await DpopKey.generate();
    const ca = createCertificateAuthority();
    certificates = {
      ca,
      client: ca.issue({ commonName: 'billing', usage: 'client' }),
      other: ca.issue({ commonName: 'intruder', usage: 'client' }),
    };
    serverCertificate = ca.issue({ commonName: 'orders-api' });
    downPort = await freePort();
    idp.on(PATHS.introspection, (request) => {
      const token = request.form.get('token') ?? '';
      if (!opaque.has(token)) return undefined;
      return {
        status: 200,
        body: {
          active: true,
          client_id: 'billing',
          sub: 'billing',
          aud: AUDIENCE,
          token_type: 'DPoP',
          exp: Math.floor(Date.now() / 1000) + 600,
          cnf: { jkt: key.jkt },
        },
      };
    });
  });

  afterAll(async () => {
    await Promise.all([...apps.values()].map((app) => app.close()));
    await closeStores(stores);
    await idp?.close();
  });

  const store = (url?: string) => {
    const created = redisStore(url);
    stores.push(created);
    return created;
  };

  async function appOf(kind: AppKind): Promise<RunningApp> {
    const running = apps.get(kind);
    if (running) return running;
    const start = (
      verification: VerificationOptions,
      options: Partial<OidcClientCredentialsModuleOptions> = {},
    ) =>
      startHttpApp(platform, senderConstrainedAppModule(idp.issuer, verification, options), logger);
    let app: RunningApp;
    switch (kind) {
      case 'allowed':
        app = await start({});
        break;
      case 'nonce':
        app = await start({ dpopNonce: true });
        break;
      case 'fleet-a':
      case 'fleet-b': {
        const prefix = uniquePrefix();
        const cache = { keyPrefix: prefix, encryptionKey: CACHE_KEY, timeoutMs: 1000 };
        const a = await start({}, { cache: { ...cache, stores: [store()] } });
        const b = await start({}, { cache: { ...cache, stores: [store()] } });
        apps.set('fleet-a', a);
        apps.set('fleet-b', b);
        return kind === 'fleet-a' ? a : b;
      }
      case 'redis-down':
        app = await start(
          {},
          {
            cache: {
              stores: [store(`redis://127.0.0.1:${downPort}`)],
              encryptionKey: CACHE_KEY,
              timeoutMs: 200,
            },
          },
        );
        break;
      case 'dpop-required':
        app = await start({ dpop: 'required' });
        break;
      case 'introspection':
        app = await start({ strategy: 'introspection' });
        break;
      case 'mtls':
      case 'mtls-required':
        app = await startHttpsApp(
          platform,
          senderConstrainedAppModule(idp.issuer, kind === 'mtls' ? {} : { mtls: 'required' }),
          { key: serverCertificate.key, cert: serverCertificate.cert, ca: certificates.ca.cert },
          logger,
        );
        break;
      case 'client-cert':
        app = await start({ clientCertificateHeader: 'client-cert' });
        break;
    }
    apps.set(kind, app);
    return app;
  }

  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const app = await appOf(row.app);
    let token = await idp.mintJwt({ aud: AUDIENCE, sub: 'billing', cnf: { jkt: key.jkt } });
    if (row.app === 'introspection') {
      token = `opaque-${randomBytes(16).toString('base64url')}`;
      opaque.add(token);
    }
    const ctx: Context = {
      app,
      other: row.app === 'fleet-a' ? await appOf('fleet-b') : undefined,
      idp,
      key,
      token,
      htu: `${app.url}/orders`,
      certificates,
    };
    const response = await row.send(ctx);
    expect({ status: response.status, challenge: response.headers['www-authenticate'] }).toEqual({
      status: row.status,
      challenge: row.challenge,
    });
    if (row.nonce) expect(response.headers['dpop-nonce']).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    else expect(response.headers['dpop-nonce']).toBeUndefined();
    if (row.retryAfter) expect(response.headers['retry-after']).toMatch(/^\d+$/);
    // Never the token or the proof in the answer or the logs.
    expect(response.body).not.toContain(token);
    expect(logger.text()).not.toContain(token);
  });

  it('has at least 25 rows of refusals', () => {
    expect(rows.filter((row) => row.status !== 200).length).toBeGreaterThanOrEqual(25);
  });
});

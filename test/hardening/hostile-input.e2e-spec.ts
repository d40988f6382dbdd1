import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { ForbiddenException } from '@nestjs/common';
import { ExternalContextCreator } from '@nestjs/core';
import { RpcException } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { ConfigurationError, OidcClientCredentialsModule } from 'nest-oidc-client-credentials';
import {
  FakeIdService,
  PATHS,
  signCompact,
  type FakeResponse,
} from 'nest-oidc-client-credentials/testing';
import {
  rawRequest,
  startHttpApp,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import {
  API_CLIENT,
  AUDIENCE,
  baseOptions,
  globalGuardAppModule,
  hardeningAppModule,
  MessageHandler,
  type WhoAmI,
} from './app.module.js';

// Hostile input at the HTTP edge: the security cases (docs/security-cases.md §4) and variants that
// test/bad-tokens does not drive through an app. Every row asserts the status, the exact
// challenge, how many requests reached the fake ID service per endpoint, and that neither the
// response nor the captured log lines contain the token.

type Pair = Awaited<ReturnType<typeof generateKeyPair>>;
type Endpoint = keyof typeof PATHS;
type Calls = Partial<Record<Endpoint, number>>;

const challenge = (error: string, description: string, scope?: string) =>
  `Bearer realm="api", error="${error}", error_description="${description}"${scope ? `, scope="${scope}"` : ''}`;
const BARE = 'Bearer realm="api"';
const INVALID = challenge('invalid_token', 'The access token is invalid');
const MALFORMED = challenge('invalid_token', 'The access token is malformed');
const INSUFFICIENT = challenge(
  'insufficient_scope',
  'The access token lacks a required scope',
  'orders:read',
);
/** 503: no challenge, `Retry-After` instead. */
const UNAVAILABLE = undefined;

const b64 = (part: string | object | Uint8Array) =>
  Buffer.from(
    part instanceof Uint8Array ? part : typeof part === 'string' ? part : JSON.stringify(part),
  ).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

let idp: FakeIdService;
let running: RunningApp;
/** Keys published beside the ID service's own (see `extraJwks`). */
let spare: Pair;
let ec: Pair;
let small: { privateKey: KeyObject; jwk: JWK };
let extraJwks: JWK[];

/** The seed's claims plus our audience, valid for ten minutes. */
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: idp.issuer,
  sub: 'test-client',
  aud: AUDIENCE,
  iat: now(),
  exp: now() + 600,
  ...extra,
});
/** Claims of the RFC 9068 profile. */
const strictClaims = (extra: Record<string, unknown> = {}) =>
  claims({ client_id: 'test-client', jti: randomUUID(), ...extra });
/** A JWS with random signature bytes: for checks that must refuse before any signature check. */
const unsignedJws = (header: object, payload: object = claims()) =>
  `${b64(header)}.${b64(payload)}.${b64(randomBytes(64))}`;
/** RS256 with a node KeyObject (jose refuses to sign with RSA keys under 2048 bits). */
const nodeRs256 = (header: object, payload: object, key: KeyObject) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
};

/** One hostile request and everything its answer must show. */
interface Row {
  path: string;
  token: () => string | Promise<string>;
  status: number;
  /** Exact `WWW-Authenticate`; `undefined` for 200 and 503. */
  challenge?: string;
  /** Requests the ID service receives per endpoint (all others: none). */
  calls?: Calls;
  /** Overrides of ID service answers for this row. */
  answers?: Partial<Record<Endpoint, () => FakeResponse>>;
  /** Further checks of the answer (200 rows). */
  body?: (body: WhoAmI) => void;
}

const publicJwk = async (pair: Pair, extra: Partial<JWK>) => ({
  ...(await exportJWK(pair.publicKey)),
  use: 'sig',
  ...extra,
});

beforeAll(async () => {
  idp = await FakeIdService.start({
    clients: {
      'test-client': { secret: 'test-secret', audience: AUDIENCE },
      [API_CLIENT.id]: { secret: API_CLIENT.secret },
    },
  });
  [spare, ec] = await Promise.all([
    generateKeyPair('RS256', { extractable: true }),
    generateKeyPair('ES256', { extractable: true }),
  ]);
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  small = {
    privateKey: weak.privateKey,
    jwk: { ...(weak.publicKey.export({ format: 'jwk' }) as JWK), kid: 'small', alg: 'RS256' },
  };
  const spareJwk = await exportJWK(spare.publicKey);
  extraJwks = [
    await publicJwk(spare, { kid: 'spare', alg: 'RS256' }),
    { ...spareJwk, kid: 'enc-key', alg: 'RS256', use: 'enc' },
    { ...spareJwk, kid: 'ops-key', alg: 'RS256', key_ops: ['encrypt'] },
    { ...spareJwk, kid: 'twin', alg: 'RS256' },
    { ...spareJwk, kid: 'twin', alg: 'RS256' },
    // The only P-256 key: a token without kid may use it (S25).
    await publicJwk(ec, { kid: 'ec-only', alg: 'ES256' }),
    small.jwk,
    // Not a point on the curve: import fails inside verification (S12).
    { kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'broken', use: 'sig' },
  ];
  publishExtraKeys();
  running = await startHttpApp('express', hardeningAppModule(idp.issuer));
  // Warm-up: discovery and JWKS are fetched once, so each row's counts are its own.
  const jwt = await idp.mintJwt(claims());
  const strict = await idp.mintJwt(strictClaims(), { typ: 'at+jwt' });
  const opaque = idp.mintOpaque('test-client');
  for (const [path, token] of [
    ['/jwt/whoami', jwt],
    ['/strict/whoami', strict],
    ['/introspection/whoami', opaque],
    ['/userinfo/whoami', opaque],
  ]) {
    expect((await get(path, token)).status).toBe(200);
  }
});

afterAll(async () => {
  await running?.close();
  await idp?.close();
});

function publishExtraKeys(): void {
  idp.on(PATHS.jwks, () => ({ body: { keys: [...idp.jwks().keys, ...extraJwks] } }));
}

function get(path: string, token: string): Promise<RawResponse> {
  return rawRequest(running.url, { path, headers: [['Authorization', `Bearer ${token}`]] });
}

/** Requests per endpoint since `from`; anything to another path counts as `other`. */
function callsSince(from: number): Record<Endpoint | 'other', number> {
  const counts = { discovery: 0, token: 0, introspection: 0, userinfo: 0, jwks: 0, other: 0 };
  const byPath = new Map<string, Endpoint>(
    Object.entries(PATHS).map(([name, path]) => [path, name as Endpoint]),
  );
  for (const request of idp.requests.slice(from)) {
    counts[byPath.get(request.path) ?? 'other'] += 1;
  }
  return counts;
}

async function expectRow(row: Row): Promise<RawResponse> {
  idp.reset();
  publishExtraKeys();
  for (const [endpoint, answer] of Object.entries(row.answers ?? {})) {
    idp.on(PATHS[endpoint as Endpoint], answer);
  }
  const token = await row.token();
  const logsBefore = running.logger.lines.length;
  const response = await get(row.path, token);

  expect(response.status).toBe(row.status);
  expect(response.headers['www-authenticate']).toBe(row.challenge);
  expect(response.headers['retry-after']).toBe(row.status === 503 ? '5' : undefined);
  expect(callsSince(0)).toEqual({
    discovery: 0,
    token: 0,
    introspection: 0,
    userinfo: 0,
    jwks: 0,
    other: 0,
    ...row.calls,
  });
  expect(response.body).not.toContain(token);
  expect(JSON.stringify(response.headers)).not.toContain(token);
  const logged = running.logger.lines.slice(logsBefore);
  expect(logged.map((l) => l.text).join('\n')).not.toContain(token);
  if (row.status >= 400) expect(response.body).not.toMatch(/\bat .+:\d+:\d+|stack/i);
  if (row.body) row.body(JSON.parse(response.body) as WhoAmI);
  return response;
}

describe('hostile input through a guarded app (JWT, introspection and userinfo routes)', () => {
  const rows: [string, Row][] = [
    // §4.1: validation failing inside, on a key we publish.
    [
      'S12 a JWKS entry that cannot be imported (Ed25519 point of 3 bytes)',
      {
        path: '/jwt/whoami',
        token: () => unsignedJws({ alg: 'EdDSA', kid: 'broken' }),
        status: 401,
        challenge: INVALID,
      },
    ],
    [
      'S12 a kid published twice',
      {
        path: '/jwt/whoami',
        token: () => signCompact({ alg: 'RS256', kid: 'twin' }, claims(), spare.privateKey),
        status: 401,
        challenge: INVALID,
      },
    ],
    // §4.2: algorithms and keys.
    [
      'S19 kid of a JWK with use enc',
      {
        path: '/jwt/whoami',
        token: () => signCompact({ alg: 'RS256', kid: 'enc-key' }, claims(), spare.privateKey),
        status: 401,
        challenge: INVALID,
      },
    ],
    [
      'S19 kid of a JWK whose key_ops lack verify',
      {
        path: '/jwt/whoami',
        token: () => signCompact({ alg: 'RS256', kid: 'ops-key' }, claims(), spare.privateKey),
        status: 401,
        challenge: INVALID,
      },
    ],
    [
      'S24 no kid, several RSA keys published',
      {
        path: '/jwt/whoami',
        token: () => signCompact({ alg: 'RS256' }, claims(), idp.privateKey()),
        status: 401,
        challenge: INVALID,
      },
    ],
    [
      'S25 no kid, exactly one P-256 key published: accepted',
      {
        path: '/jwt/whoami',
        token: () => signCompact({ alg: 'ES256' }, claims(), ec.privateKey),
        status: 200,
        body: (body) => expect(body.clientId).toBe('test-client'),
      },
    ],
    [
      'S34 a 1024-bit RSA key',
      {
        path: '/jwt/whoami',
        token: () => nodeRs256({ alg: 'RS256', kid: 'small' }, claims(), small.privateKey),
        status: 401,
        challenge: INVALID,
      },
    ],
    ...(
      [
        ['invalid UTF-8', () => Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
        ['a UTF-16 BOM', () => Buffer.from(`\ufeff${JSON.stringify(claims())}`, 'utf16le')],
        ['a UTF-8 BOM', () => Buffer.from(`\ufeff${JSON.stringify(claims())}`, 'utf8')],
      ] as const
    ).map(([name, payload]): [string, Row] => [
      `S36 payload with ${name}`,
      {
        path: '/jwt/whoami',
        token: () =>
          signCompact({ alg: 'RS256', kid: idp.currentKid }, payload(), idp.privateKey()),
        status: 401,
        challenge: MALFORMED,
      },
    ]),
    [
      'S38 __proto__ and constructor claims: accepted as plain data, no pollution',
      {
        path: '/jwt/whoami',
        token: () =>
          idp.signRaw(
            { alg: 'RS256', kid: idp.currentKid },
            `${JSON.stringify(claims()).slice(0, -1)},"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}`,
          ),
        status: 200,
        body: (body) => {
          expect(body).toMatchObject({ claimsHaveNoPrototype: true, prototypePolluted: false });
          expect(({} as Record<string, unknown>).admin).toBeUndefined();
        },
      },
    ],
    // §4.3: claims and profiles.
    ...(['/strict/whoami', '/jwt/whoami'] as const).map((path): [string, Row] => [
      `S41 an ID token of the same issuer at ${path}`,
      {
        path,
        token: () =>
          idp.mintJwt(
            { sub: 'user-7', aud: 'some-web-app', nonce: 'n-0S6', auth_time: now() },
            { typ: 'JWT' },
          ),
        status: 401,
        challenge: INVALID,
      },
    ]),
    ...(
      [
        ['scope as an array', { scope: ['orders:read'] }],
        ['only an scp claim', { scp: 'orders:read' }],
        ['scp as an array', { scp: ['orders:read'] }],
      ] as const
    ).map(([name, extra]): [string, Row] => [
      `S54 ${name} grants no scope`,
      {
        path: '/jwt/orders',
        token: () => idp.mintJwt(claims(extra)),
        status: 403,
        challenge: INSUFFICIENT,
      },
    ]),
    [
      'S55 sub of a user with another client_id: the client is client_id, sub stays apart',
      {
        path: '/jwt/whoami',
        token: () => idp.mintJwt(claims({ sub: 'user-42', client_id: 'billing' })),
        status: 200,
        body: (body) => expect(body).toMatchObject({ clientId: 'billing', subject: 'user-42' }),
      },
    ],
    [
      'S55 sub of a user where the subject must be the client: refused',
      {
        path: '/strict/whoami',
        token: () => idp.mintJwt(strictClaims({ sub: 'user-42', client_id: 'billing' })),
        status: 401,
        challenge: INVALID,
      },
    ],
    // §4.4: introspection and userinfo.
    [
      'S57 an opaque token is introspected once, by POST',
      {
        path: '/introspection/whoami',
        token: () => idp.mintOpaque('test-client', { scope: 'orders:read' }),
        status: 200,
        calls: { introspection: 1 },
        body: (body) => expect(body).toMatchObject({ clientId: 'test-client' }),
      },
    ],
    ...([403] as const).map((status): [string, Row] => [
      `S62 introspection answering ${status} (our credentials): 503, not invalid_token`,
      {
        path: '/introspection/whoami',
        token: () => idp.mintOpaque(),
        status: 503,
        challenge: UNAVAILABLE,
        calls: { introspection: 1 },
        answers: { introspection: () => ({ status, body: { error: 'invalid_client' } }) },
      },
    ]),
    ...(
      [
        [
          '200 with a JSON content type and an HTML body',
          { headers: { 'content-type': 'application/json' }, body: '<html>login</html>' },
        ],
        ['200 over the size cap', { body: { active: true, sub: 'x', pad: 'x'.repeat(70_000) } }],
      ] as [string, FakeResponse][]
    ).map(([name, answer]): [string, Row] => [
      `S63 introspection answering ${name}: 503`,
      {
        path: '/introspection/whoami',
        token: () => idp.mintOpaque(),
        status: 503,
        challenge: UNAVAILABLE,
        calls: { introspection: 1 },
        answers: { introspection: () => answer },
      },
    ]),
    ...([302, 307] as const).map((status): [string, Row] => [
      `S64 introspection redirecting (${status}): not followed, 503`,
      {
        path: '/introspection/whoami',
        token: () => idp.mintOpaque(),
        status: 503,
        challenge: UNAVAILABLE,
        calls: { introspection: 1 },
        answers: {
          introspection: () => ({ status, headers: { location: idp.url('/elsewhere') } }),
        },
      },
    ]),
    [
      'S66 userinfo answering application/jwt: refused, never decoded',
      {
        path: '/userinfo/whoami',
        token: () => idp.mintOpaque(),
        status: 401,
        challenge: INVALID,
        calls: { userinfo: 1 },
        answers: {
          userinfo: () => ({
            headers: { 'content-type': 'application/jwt' },
            body: unsignedJws({ alg: 'RS256' }, { sub: 'test-client' }),
          }),
        },
      },
    ],
    ...(
      [
        [
          '403 insufficient_scope',
          {
            status: 403,
            headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="openid"' },
          },
        ],
      ] as [string, FakeResponse][]
    ).map(([name, answer]): [string, Row] => [
      `S67 userinfo answering ${name}: invalid_token`,
      {
        path: '/userinfo/whoami',
        token: () => idp.mintOpaque(),
        status: 401,
        challenge: INVALID,
        calls: { userinfo: 1 },
        answers: { userinfo: () => ({ body: '', ...answer }) },
      },
    ]),
  ];

  it.each(rows)('%s', async (_name, row) => {
    await expectRow(row);
  });

  it('S17 in a cold app: an algorithm outside the allowlist fetches neither metadata nor JWKS', async () => {
    const cold = await startHttpApp('express', hardeningAppModule(idp.issuer));
    try {
      idp.reset();
      const token = unsignedJws({ alg: 'PS512', kid: idp.currentKid });
      const response = await rawRequest(cold.url, {
        path: '/jwt/whoami',
        headers: [['Authorization', `Bearer ${token}`]],
      });
      expect(response.status).toBe(401);
      expect(response.headers['www-authenticate']).toBe(INVALID);
      expect(idp.requests).toHaveLength(0);
      expect(cold.logger.text()).not.toContain(token);
    } finally {
      await cold.close();
    }
  });

  it('S57 the introspection request carries the token in the form body only, with Basic auth', async () => {
    const token = idp.mintOpaque();
    await expectRow({
      path: '/introspection/whoami',
      token: () => token,
      status: 200,
      calls: { introspection: 1 },
    });
    const [request] = idp.requestsTo(PATHS.introspection);
    expect(request.method).toBe('POST');
    expect(request.form.get('token')).toBe(token);
    expect(request.form.get('token_type_hint')).toBe('access_token');
    expect([...request.query.keys()]).toEqual([]);
    expect(request.headers.authorization).toMatch(/^Basic /);
  });

  it('S62 a refusal of our credentials is not cached and is logged as a misconfiguration', async () => {
    const token = idp.mintOpaque();
    const row: Row = {
      path: '/introspection/whoami',
      token: () => token,
      status: 503,
      calls: { introspection: 1 },
      answers: { introspection: () => ({ status: 401, body: { error: 'invalid_client' } }) },
    };
    await expectRow(row);
    await expectRow(row);
    expect(running.logger.text()).toMatch(
      /introspection endpoint refused this service's credentials/,
    );
  });

  it('S64 the redirect target is never requested', async () => {
    await expectRow({
      path: '/introspection/whoami',
      token: () => idp.mintOpaque(),
      status: 503,
      calls: { introspection: 1 },
      answers: {
        introspection: () => ({ status: 307, headers: { location: idp.url('/elsewhere') } }),
      },
    });
    expect(idp.requestsTo('/elsewhere')).toHaveLength(0);
  });

  it('S64 an http:// introspection endpoint on another host is refused at startup', async () => {
    await expect(
      Test.createTestingModule({
        imports: [
          OidcClientCredentialsModule.forRoot({
            ...baseOptions(idp.issuer, { strategy: 'introspection' }),
            endpoints: { introspection: 'http://id.example.com/openid/introspect' },
          }),
        ],
      })
        .setLogger({ log: () => 0, error: () => 0, warn: () => 0 })
        .compile(),
    ).rejects.toThrow(ConfigurationError);
  });

  it('S67 logs a hint that userinfo mode cannot validate machine-to-machine tokens', () => {
    expect(running.logger.at('warn').join('\n')).toMatch(/cannot validate machine-to-machine/);
  });

  it('no log line of the whole run holds a stack trace', () => {
    expect(running.logger.text()).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});

describe('hostile input through an app-wide guard', () => {
  let app: RunningApp;

  beforeAll(async () => {
    app = await startHttpApp('express', globalGuardAppModule(idp.issuer));
  });
  afterAll(async () => {
    await app?.close();
  });
  beforeEach(() => idp.reset());

  it.each([
    ['S10 an undecorated route without a token', undefined, BARE],
    [
      'S10 an undecorated route with alg none',
      `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`,
      MALFORMED,
    ],
  ])('%s is protected', async (_name, token, expected) => {
    const response = await rawRequest(app.url, {
      path: '/global/undecorated',
      headers: token === undefined ? [] : [['Authorization', `Bearer ${token}`]],
    });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe(expected);
    expect(idp.requests).toHaveLength(0);
    if (token) {
      expect(response.body).not.toContain(token);
      expect(app.logger.text()).not.toContain(token);
    }
  });

  it('S10 only @Public() opens a route', async () => {
    const response = await rawRequest(app.url, { path: '/global/health' });
    expect(response.status).toBe(200);
    expect(response.headers['www-authenticate']).toBeUndefined();
  });

  /** Calls the guarded message handler as Nest would for a request of this context type. */
  function callAs(type: string) {
    const handler = app.app.get(MessageHandler);
    const call = app.app
      .get(ExternalContextCreator)
      .create(
        handler,
        handler.onMessage,
        'onMessage',
        undefined,
        undefined,
        undefined,
        undefined,
        { guards: true, interceptors: false, filters: false },
        type,
      );
    return { handler, call };
  }

  it('S11 an RPC message with its token where the convention does not look: refused before the handler, without I/O', async () => {
    const token = await idp.mintJwt(claims());
    const { handler, call } = callAs('rpc');
    const refusal = await call({ headers: { authorization: `Bearer ${token}` } }).catch(
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(RpcException);
    expect((refusal as RpcException).getError()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(handler.handled).toBe(0);
    expect(idp.requests).toHaveLength(0);
    expect(app.logger.text()).not.toContain(token);
  });

  it('S11 a call of a context type the guard cannot read is denied before the handler, without I/O', async () => {
    const token = await idp.mintJwt(claims());
    const { handler, call } = callAs('kafka-stream');
    await expect(call({ authorization: `Bearer ${token}` })).rejects.toBeInstanceOf(
      ForbiddenException,
    );
    expect(handler.handled).toBe(0);
    expect(idp.requests).toHaveLength(0);
    expect(app.logger.at('warn').join('\n')).toMatch(/denies "kafka-stream" requests/);
    expect(app.logger.text()).not.toContain(token);
  });
});

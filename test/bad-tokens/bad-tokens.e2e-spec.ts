import { CompactEncrypt, importJWK, type JWK } from 'jose';
import type { VerificationOptions } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeHandler } from 'nest-oidc-client-credentials/testing';
import {
  CapturingLogger,
  HTTP_PLATFORMS,
  rawRequest,
  startHttpApp,
  type HttpPlatform,
  type RawResponse,
  type RunningApp,
} from '../utils/nest-http-app.js';
import { API_CLIENT, AUDIENCE, badTokensAppModule } from './app.module.js';
import { b64u, flipBit, hs256, publicKeyForms, unsigned, withSegment } from './hostile-tokens.js';

/** The apps a row can run against: one verification setup each. */
type AppKind =
  | 'auto'
  | 'query'
  | 'jwt'
  | 'rfc9068'
  | 'es256'
  | 'introspection'
  | 'userinfo'
  | 'seed'
  | 'jwks-down'
  | 'unreachable';

const APPS: Record<
  AppKind,
  { verification: VerificationOptions; idp?: 'es'; warm: boolean; issuer?: string }
> = {
  auto: { verification: { strategy: 'auto' }, warm: true },
  query: { verification: { strategy: 'auto', tokenLocations: ['header', 'query'] }, warm: true },
  jwt: { verification: { strategy: 'jwt' }, warm: true },
  rfc9068: { verification: { strategy: 'jwt', profile: 'rfc9068' }, warm: true },
  es256: { verification: { strategy: 'jwt' }, idp: 'es', warm: true },
  introspection: { verification: { strategy: 'introspection' }, warm: true },
  userinfo: { verification: { strategy: 'userinfo' }, warm: true },
  // The seed's own tokens: aud is the client id, so no audience is configured.
  seed: { verification: { strategy: 'auto', audience: undefined }, warm: false },
  'jwks-down': { verification: { strategy: 'jwt' }, warm: false },
  unreachable: { verification: { strategy: 'auto' }, warm: false, issuer: 'http://127.0.0.1:9' },
};

/** Library codes, and the exact challenge the guard answers for each. */
type Code =
  | 'OIDC_CC_TOKEN_MISSING'
  | 'OIDC_CC_BEARER_REQUEST_INVALID'
  | 'OIDC_CC_TOKEN_MALFORMED'
  | 'OIDC_CC_TOKEN_INVALID'
  | 'OIDC_CC_TOKEN_EXPIRED'
  | 'OIDC_CC_TOKEN_INACTIVE'
  | 'OIDC_CC_INSUFFICIENT_SCOPE';

const CHALLENGES: Record<Code, { status: number; error: string; header: string }> = {
  OIDC_CC_TOKEN_MISSING: { status: 401, error: 'Unauthorized', header: 'Bearer realm="api"' },
  OIDC_CC_BEARER_REQUEST_INVALID: {
    status: 400,
    error: 'invalid_request',
    header:
      'Bearer realm="api", error="invalid_request", error_description="Malformed bearer token request"',
  },
  OIDC_CC_TOKEN_MALFORMED: {
    status: 401,
    error: 'invalid_token',
    header:
      'Bearer realm="api", error="invalid_token", error_description="The access token is malformed"',
  },
  OIDC_CC_TOKEN_INVALID: {
    status: 401,
    error: 'invalid_token',
    header:
      'Bearer realm="api", error="invalid_token", error_description="The access token is invalid"',
  },
  OIDC_CC_TOKEN_EXPIRED: {
    status: 401,
    error: 'invalid_token',
    header:
      'Bearer realm="api", error="invalid_token", error_description="The access token expired"',
  },
  OIDC_CC_TOKEN_INACTIVE: {
    status: 401,
    error: 'invalid_token',
    header:
      'Bearer realm="api", error="invalid_token", error_description="The access token is not active"',
  },
  OIDC_CC_INSUFFICIENT_SCOPE: {
    status: 403,
    error: 'insufficient_scope',
    header:
      'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read"',
  },
};

/** What a row's token builder can use. */
interface Kit {
  idp: FakeIdService;
  es: FakeIdService;
  attacker: FakeIdService;
  /** Seed-shaped claims for client "billing" and our audience; `undefined` values are dropped. */
  claims(extra?: Record<string, unknown>): Record<string, unknown>;
  /** RFC 9068 claims on top of the seed's. */
  atClaims(extra?: Record<string, unknown>): Record<string, unknown>;
  /** The header the ID service signs with: alg and kid of its current key, plus `extra`. */
  header(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Signs with the ID service's current key whatever header and payload (text or object). */
  sign(header: string | object, payload: string | object): Promise<string>;
}

type Io = Partial<Record<keyof typeof PATHS, number>>;

/**
 * A kid the ID service never published is refused only after a fresh JWKS fetch lacks it (R20):
 * one fetch (the app has no cooldown), then 401.
 */
const UNKNOWN_KID_IO: Io = { jwks: 1 };

interface Row {
  /** Security-case id and a few words. */
  id: string;
  app: AppKind;
  token(kit: Kit): string | Promise<string>;
  /** Request headers; by default `Authorization: Bearer <token>`. */
  headers?(token: string): [string, string][];
  path?(token: string): string;
  /** Answers of the fake ID service for this row. */
  setup?: Partial<Record<keyof typeof PATHS, FakeHandler>>;
  /** The refusal, or 200/503. */
  expect: Code | 200 | 503;
  /** Requests the fake ID service must receive (every other count is 0). */
  io?: Io;
}

const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string): [string, string][] => [['Authorization', `Bearer ${token}`]];
const dropUndefined = (claims: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
const answer =
  (body: unknown, status = 200, headers?: Record<string, string>): FakeHandler =>
  () => ({ status, body, headers });
const introspected = (kit: Kit, extra: Record<string, unknown>) =>
  answer({
    active: true,
    sub: 'billing',
    client_id: 'billing',
    iss: kit.idp.issuer,
    exp: now() + 3600,
    ...extra,
  });

const ROWS: Row[] = [
  // 4.1 Transport and header parsing: refused by the guard, before any I/O.
  {
    id: 'S01 no Authorization header',
    app: 'auto',
    token: () => '',
    headers: () => [],
    expect: 'OIDC_CC_TOKEN_MISSING',
  },
  {
    id: 'S02 Basic scheme',
    app: 'auto',
    token: () => '',
    headers: () => [['Authorization', 'Basic dXNlcjpwYXNz']],
    expect: 'OIDC_CC_TOKEN_MISSING',
  },
  {
    id: 'S03 Bearer without a token',
    app: 'auto',
    token: () => '',
    headers: () => [['Authorization', 'Bearer']],
    expect: 'OIDC_CC_BEARER_REQUEST_INVALID',
  },
  {
    id: 'S04 lower-case scheme',
    app: 'auto',
    token: (k) => k.sign(k.header(), k.claims()),
    headers: (t) => [['authorization', `bearer  ${t}`]],
    expect: 200,
  },
  {
    id: 'S05 quote and brace in the token',
    app: 'auto',
    token: () => 'abc"{}',
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S05 percent in the token',
    app: 'auto',
    token: () => 'abc%2Edef',
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S05 comma in the token',
    app: 'auto',
    token: () => 'abc,def',
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S06 header and query together',
    app: 'query',
    token: (k) => k.sign(k.header(), k.claims()),
    path: (t) => `/orders?access_token=${t}`,
    expect: 'OIDC_CC_BEARER_REQUEST_INVALID',
  },
  {
    id: 'S07 query only, query method disabled',
    app: 'auto',
    token: (k) => k.sign(k.header(), k.claims()),
    headers: () => [],
    path: (t) => `/orders?access_token=${t}`,
    expect: 'OIDC_CC_TOKEN_MISSING',
  },
  {
    id: 'S08 two Authorization headers',
    app: 'auto',
    token: (k) => k.sign(k.header(), k.claims()),
    headers: (t) => [...bearer(t), ...bearer(t)],
    expect: 'OIDC_CC_BEARER_REQUEST_INVALID',
  },
  {
    id: 'S09 9 KB token',
    app: 'auto',
    token: () => 'a'.repeat(9 * 1024),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S09 9 000 dots',
    app: 'auto',
    token: () => '.'.repeat(9000),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },

  // 4.2 JWT structure and algorithms: refused without any request (keys already cached).
  ...['none', 'None', 'NONE', 'nOnE'].map((alg): Row => ({
    id: `S13 alg ${alg}`,
    app: 'jwt',
    token: (k) => unsigned({ alg, typ: 'JWT' }, k.claims(), 'sig'),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  {
    id: 'S13 alg none with an empty signature',
    app: 'jwt',
    token: (k) => unsigned({ alg: 'none' }, k.claims()),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S14 RS256 with a null signature',
    app: 'jwt',
    token: async (k) => withSegment(await k.sign(k.header(), k.claims()), 2, ''),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  ...['pem', 'pem-pkcs1', 'der', 'jwk-json', 'pem-leading-newline'].map((form): Row => ({
    id: `S15 HS256 keyed with the RSA public key (${form})`,
    app: 'jwt',
    token: (k) =>
      hs256(
        { alg: 'HS256', kid: k.idp.currentKid },
        k.claims(),
        publicKeyForms(k.idp.jwks().keys[0])[form],
      ),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  {
    id: 'S16 HS256 with an empty secret',
    app: 'jwt',
    token: (k) => hs256({ alg: 'HS256' }, k.claims(), ''),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...['ES512', 'RS384', 'PS512'].map((alg): Row => ({
    id: `S17 alg ${alg} outside the allowlist`,
    app: 'jwt',
    token: (k) => k.sign(k.header({ alg }), k.claims()),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  {
    id: 'S18 ES256 with the kid of an RSA key',
    app: 'jwt',
    token: (k) => k.sign(k.header({ alg: 'ES256' }), k.claims()),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S18 PS256 for a JWK whose alg is RS256',
    app: 'jwt',
    token: (k) => k.sign(k.header({ alg: 'PS256' }), k.claims()),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: "S20 embedded jwk with the attacker's kid",
    app: 'jwt',
    token: (k) =>
      k.attacker.signRaw(
        { alg: 'RS256', kid: k.attacker.currentKid, jwk: k.attacker.jwks().keys[0] },
        k.claims(),
      ),
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: UNKNOWN_KID_IO,
  },
  {
    id: 'S20 embedded jwk without kid',
    app: 'jwt',
    token: (k) => k.attacker.signRaw({ alg: 'RS256', jwk: k.attacker.jwks().keys[0] }, k.claims()),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...(['jku', 'x5u'] as const).map((param): Row => ({
    id: `S21 ${param} pointing at an attacker URL on loopback (never fetched)`,
    app: 'jwt',
    token: (k) =>
      k.attacker.signRaw(
        { alg: 'RS256', kid: k.attacker.currentKid, [param]: k.idp.url('/attacker/jwks.json') },
        k.claims(),
      ),
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: UNKNOWN_KID_IO,
  })),
  {
    id: 'S22 x5c with an attacker certificate',
    app: 'jwt',
    token: (k) => k.attacker.signRaw({ alg: 'RS256', x5c: ['MIIBszCCAVmgAwIBAgIJAO'] }, k.claims()),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...['../../../../dev/null', "x' UNION SELECT '1';--", '|sleep 10'].map((kid): Row => ({
    id: `S23 kid ${kid}`,
    app: 'jwt',
    token: (k) => k.sign(k.header({ kid }), k.claims()),
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: UNKNOWN_KID_IO,
  })),
  ...[123, { a: 1 }].map((kid): Row => ({
    id: `S23 kid ${JSON.stringify(kid)}`,
    app: 'jwt',
    token: (k) => k.sign(k.header({ kid }), k.claims()),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  })),
  {
    id: 'S23 10 KB kid',
    app: 'jwt',
    token: (k) => k.sign(k.header({ kid: 'k'.repeat(10 * 1024) }), k.claims()),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  ...(
    [
      ['unknown extension', { crit: ['x-ext'], 'x-ext': 1 }, 'OIDC_CC_TOKEN_INVALID'],
      ['empty list', { crit: [] }, 'OIDC_CC_TOKEN_MALFORMED'],
      ['naming alg', { crit: ['alg'] }, 'OIDC_CC_TOKEN_INVALID'],
      ['naming an absent parameter', { crit: ['x-absent'] }, 'OIDC_CC_TOKEN_INVALID'],
    ] as const
  ).map(([name, extra, code]): Row => ({
    id: `S26 crit ${name}`,
    app: 'jwt',
    token: (k) => k.sign(k.header(extra), k.claims()),
    expect: code,
  })),
  {
    id: 'S27 b64 false with crit b64',
    app: 'jwt',
    token: (k) => k.sign(k.header({ b64: false, crit: ['b64'] }), k.claims()),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S28 five-segment JWE encrypted to our published key',
    app: 'jwt',
    token: async (k) => {
      const { alg: _alg, use: _use, ...jwk } = k.idp.jwks().keys[0];
      const key = await importJWK(jwk as JWK, 'RSA-OAEP-256');
      return new CompactEncrypt(Buffer.from(JSON.stringify(k.claims())))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: k.idp.currentKid })
        .encrypt(key);
    },
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S29 JWS JSON serialisation as the bearer value',
    app: 'jwt',
    token: async (k) => {
      const [h, p, s] = (await k.sign(k.header(), k.claims())).split('.');
      return JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
    },
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  ...[
    ['two segments', (t: string) => t.split('.').slice(0, 2).join('.')],
    ['four segments', (t: string) => `${t}.${t.split('.')[2]}`],
    ['empty header', (t: string) => withSegment(t, 0, '')],
    ['empty payload', (t: string) => withSegment(t, 1, '')],
  ].map(([name, mutate]): Row => ({
    id: `S30 ${name as string}`,
    app: 'jwt',
    token: async (k) => (mutate as (t: string) => string)(await k.sign(k.header(), k.claims())),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  })),
  ...[
    ['+ and / (standard base64)', (s: string) => s.replace(/-/g, '+').replace(/_/g, '/') + '+/'],
    ['= padding', (s: string) => `${s}==`],
  ].map(([name, mutate]): Row => ({
    id: `S31 signature with ${name as string}`,
    app: 'jwt',
    token: async (k) => {
      const token = await k.sign(k.header(), k.claims());
      return withSegment(token, 2, (mutate as (s: string) => string)(token.split('.')[2]));
    },
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  })),
  {
    id: 'S31 tab inside a segment',
    app: 'jwt',
    token: async (k) => (await k.sign(k.header(), k.claims())).replace('.', '.\t'),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S32 header changed after signing (typ added)',
    app: 'jwt',
    token: async (k) =>
      withSegment(
        await k.sign(k.header(), k.claims()),
        0,
        b64u(JSON.stringify(k.header({ typ: 'JWT' }))),
      ),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S32 payload changed after signing (sub)',
    app: 'jwt',
    token: async (k) =>
      withSegment(
        await k.sign(k.header(), k.claims()),
        1,
        b64u(JSON.stringify(k.claims({ sub: 'admin' }))),
      ),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S32 one flipped bit in the signature',
    app: 'jwt',
    token: async (k) => flipBit(await k.sign(k.header(), k.claims()), 2, 100),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...[
    ['DER r=s=0 (MAYCAQACAQA)', Buffer.from('MAYCAQACAQA', 'base64')],
    ['64 zero bytes', Buffer.alloc(64)],
  ].map(([name, signature]): Row => ({
    id: `S33 ES256 signature ${name as string}`,
    app: 'es256',
    token: (k) =>
      unsigned(
        { alg: 'ES256', kid: k.es.currentKid },
        k.claims({ iss: k.es.issuer }),
        signature as Buffer,
      ),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  {
    id: 'S33 ES256 signature DER-encoded instead of raw r||s',
    app: 'es256',
    token: async (k) => {
      const token = await k.es.mintJwt(k.claims({ iss: k.es.issuer }));
      const raw = Buffer.from(token.split('.')[2], 'base64url');
      return withSegment(token, 2, b64u(derSignature(raw)));
    },
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...['[]', '"str"', '123', 'null'].map((payload): Row => ({
    id: `S35 payload ${payload}`,
    app: 'jwt',
    token: (k) => k.sign(k.header(), payload),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  })),
  {
    id: 'S35 header not an object',
    app: 'jwt',
    token: (k) => k.sign('["RS256"]', k.claims()),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S37 duplicate alg in the header',
    app: 'jwt',
    token: (k) => k.sign(`{"alg":"RS256","kid":"${k.idp.currentKid}","alg":"none"}`, k.claims()),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },
  {
    id: 'S37 duplicate sub in the payload',
    app: 'jwt',
    token: (k) => k.sign(k.header(), JSON.stringify(k.claims()).replace(/^\{/, '{"sub":"admin",')),
    expect: 'OIDC_CC_TOKEN_MALFORMED',
  },

  // 4.3 Claims.
  ...[undefined, 'JWT', 'application/jwt', 'dpop+jwt', 'client-authentication+jwt'].map(
    (typ): Row => ({
      id: `S39 rfc9068 profile refuses typ ${typ ?? 'missing'}`,
      app: 'rfc9068',
      token: (k) => k.sign(k.header({ typ }), k.atClaims()),
      expect: 'OIDC_CC_TOKEN_INVALID',
    }),
  ),
  ...['at+jwt', 'application/at+jwt', 'at+JWT', 'Application/AT+JWT'].map((typ): Row => ({
    id: `S40 rfc9068 profile accepts typ ${typ}`,
    app: 'rfc9068',
    token: (k) => k.sign(k.header({ typ }), k.atClaims()),
    expect: 200,
  })),
  ...[
    ['trailing slash', (iss: string) => `${iss}/`],
    ['upper case', (iss: string) => iss.toUpperCase()],
    ['https scheme', (iss: string) => iss.replace('http:', 'https:')],
    ['other port', (iss: string) => iss.replace(/:\d+$/, ':1')],
  ].map(([name, mutate]): Row => ({
    id: `S42 iss differing by ${name as string}`,
    app: 'jwt',
    token: (k) =>
      k.sign(k.header(), k.claims({ iss: (mutate as (s: string) => string)(k.idp.issuer) })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  ...[
    ['an array', (iss: string) => ['https://evil.example', iss]],
    ['a substring', (iss: string) => iss.slice(0, -1)],
    ['a superstring', (iss: string) => `${iss}.evil.example`],
    ['a number', () => 42],
  ].map(([name, mutate]): Row => ({
    id: `S43 iss as ${name as string}`,
    app: 'jwt',
    token: (k) =>
      k.sign(k.header(), k.claims({ iss: (mutate as (s: string) => unknown)(k.idp.issuer) })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  {
    id: "S44 another issuer's token signed with its own key",
    app: 'jwt',
    token: (k) => k.attacker.mintJwt(k.claims({ iss: k.attacker.issuer })),
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: UNKNOWN_KID_IO,
  },
  {
    id: "S44 our key but another issuer's iss",
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ iss: k.attacker.issuer })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...[
    ['missing', undefined],
    ['another API', 'urn:billing-api'],
    ['an empty list', []],
    ['a number in a list', [123]],
    ['a superstring of ours', `${AUDIENCE}.evil`],
  ].map(([name, aud]): Row => ({
    id: `S45 aud ${name as string}`,
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ aud })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  {
    id: 'S46 aud listing another API and ours',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ aud: ['urn:billing-api', AUDIENCE] })),
    expect: 200,
  },
  {
    id: 'S47 exp missing',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ exp: undefined })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S48 exp one second beyond the 30 s leeway',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ exp: now() - 31 })),
    expect: 'OIDC_CC_TOKEN_EXPIRED',
  },
  {
    id: 'S49 exp as a string',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ exp: '9999999999' })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S49 exp 1e400',
    app: 'jwt',
    token: (k) =>
      k.sign(k.header(), JSON.stringify(k.claims({ exp: 0 })).replace('"exp":0', '"exp":1e400')),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S50 nbf an hour ahead',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ nbf: now() + 3600 })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S50 nbf as a string',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ nbf: String(now()) })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S51 iat an hour ahead',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ iat: now() + 3600 })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S51 rfc9068 profile: iat missing',
    app: 'rfc9068',
    token: (k) => k.sign(k.header({ typ: 'at+jwt' }), k.atClaims({ iat: undefined })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S52 sub missing',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ sub: undefined })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'S52 sub a number',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ sub: 42 })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  ...['client_id', 'jti'].map((claim): Row => ({
    id: `S52 rfc9068 profile: ${claim} missing`,
    app: 'rfc9068',
    token: (k) => k.sign(k.header({ typ: 'at+jwt' }), k.atClaims({ [claim]: undefined })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  })),
  ...['orders:read:all write', 'orders:reader', 'Orders:Read'].map((scope): Row => ({
    id: `S53 scope "${scope}" does not grant orders:read`,
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ scope })),
    path: () => '/orders/read',
    expect: 'OIDC_CC_INSUFFICIENT_SCOPE',
  })),
  {
    id: 'S53 scope "write orders:read" grants orders:read',
    app: 'jwt',
    token: (k) => k.sign(k.header(), k.claims({ scope: 'write orders:read' })),
    path: () => '/orders/read',
    expect: 200,
  },
  {
    id: 'S56 quotes, backslash and CR/LF in the claims never reach the challenge',
    app: 'jwt',
    token: (k) =>
      k.sign(k.header(), k.claims({ iss: 'x"\\\r\nWWW-Authenticate: Basic', sub: '"\r\n' })),
    expect: 'OIDC_CC_TOKEN_INVALID',
  },
  {
    id: 'valid seed-shaped JWT from the token endpoint',
    app: 'seed',
    token: async (k) => {
      const response = await fetch(k.idp.url(PATHS.token), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=billing&client_secret=billing-secret',
      });
      return ((await response.json()) as { access_token: string }).access_token;
    },
    expect: 200,
    // The token request itself, then discovery and the JWKS once.
    io: { token: 1, discovery: 1, jwks: 1 },
  },

  // 4.4 Introspection and userinfo.
  {
    id: 'valid opaque token by introspection',
    app: 'introspection',
    token: (k) => k.idp.mintOpaque('billing', { scope: 'orders:read' }),
    path: () => '/orders/read',
    expect: 200,
    io: { introspection: 1 },
  },
  {
    id: 'valid opaque token through auto (introspected)',
    app: 'auto',
    token: (k) => k.idp.mintOpaque('billing'),
    expect: 200,
    io: { introspection: 1 },
  },
  {
    id: 'S30 two segments through auto: not a JWS, introspected, inactive',
    app: 'auto',
    token: () => 'aGVhZGVy.cGF5bG9hZA',
    expect: 'OIDC_CC_TOKEN_INACTIVE',
    io: { introspection: 1 },
  },
  {
    id: 'S58 introspection answers active false',
    app: 'introspection',
    token: () => 'unknown-opaque-token',
    expect: 'OIDC_CC_TOKEN_INACTIVE',
    io: { introspection: 1 },
  },
  ...[
    ['"true"', { active: 'true' }],
    ['1', { active: 1 }],
    ['null', { active: null }],
    ['missing', { sub: 'billing' }],
  ].map(([name, body]): Row => ({
    id: `S59 introspection active ${name as string}`,
    app: 'introspection',
    token: () => `opaque-s59-${name as string}`.replace(/\W/g, ''),
    setup: { introspection: answer(body) },
    expect: 'OIDC_CC_TOKEN_INACTIVE',
    io: { introspection: 1 },
  })),
  {
    id: 'S60 introspection active with exp in the past',
    app: 'introspection',
    token: () => 'opaque-s60-exp',
    setup: {},
    expect: 'OIDC_CC_TOKEN_EXPIRED',
    io: { introspection: 1 },
  },
  {
    id: 'S60 introspection active with nbf in the future',
    app: 'introspection',
    token: () => 'opaque-s60-nbf',
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: { introspection: 1 },
  },
  {
    id: 'S61 introspection active with another iss',
    app: 'introspection',
    token: () => 'opaque-s61-iss',
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: { introspection: 1 },
  },
  {
    id: 'S61 introspection active with another aud',
    app: 'introspection',
    token: () => 'opaque-s61-aud',
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: { introspection: 1 },
  },
  {
    id: 'S61 introspection active for a refresh token',
    app: 'introspection',
    token: () => 'opaque-s61-refresh',
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: { introspection: 1 },
  },
  {
    id: 'S62 introspection refuses our credentials (401): 503, not invalid_token',
    app: 'introspection',
    token: () => 'opaque-s62',
    setup: { introspection: answer({ error: 'invalid_client' }, 401) },
    expect: 503,
    io: { introspection: 1 },
  },
  ...[
    ['HTML', answer('<html>oops</html>', 200, { 'content-type': 'text/html' })],
    ['invalid JSON', answer('{"active": tru', 200, { 'content-type': 'application/json' })],
    ['a JSON array', answer([{ active: true }])],
    ['500', answer({ error: 'server_error' }, 500)],
    ['a reset connection', () => ({ reset: true })],
  ].map(([name, handler]): Row => ({
    id: `S63 introspection answers ${name as string}: 503`,
    app: 'introspection',
    token: () => `opaque-s63-${name as string}`.replace(/\W/g, ''),
    setup: { introspection: handler as FakeHandler },
    expect: 503,
    io: { introspection: 1 },
  })),
  {
    id: 'valid opaque token by userinfo',
    app: 'userinfo',
    token: (k) => k.idp.mintOpaque('billing'),
    expect: 200,
    io: { userinfo: 1 },
  },
  {
    id: 'S65 userinfo answers without sub',
    app: 'userinfo',
    token: () => 'opaque-s65',
    setup: { userinfo: answer({ name: 'billing' }) },
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: { userinfo: 1 },
  },
  {
    id: 'S67 userinfo refuses the token (401)',
    app: 'userinfo',
    token: () => 'opaque-s67',
    expect: 'OIDC_CC_TOKEN_INVALID',
    io: { userinfo: 1 },
  },
  {
    id: 'R23 userinfo answers 502: 503',
    app: 'userinfo',
    token: () => 'opaque-r23-userinfo',
    setup: { userinfo: answer('bad gateway', 502) },
    expect: 503,
    io: { userinfo: 1 },
  },

  // 5. The ID service unavailable, with nothing cached: 503 with Retry-After, never 401 or 500.
  {
    id: 'R17 JWKS answers 500 before any key is known',
    app: 'jwks-down',
    token: (k) => k.sign(k.header(), k.claims()),
    setup: { jwks: answer({ error: 'server_error' }, 500) },
    expect: 503,
    io: { discovery: 1, jwks: 1 },
  },
  {
    id: 'R17 ID service unreachable',
    app: 'unreachable',
    token: (k) => k.sign(k.header(), k.claims()),
    expect: 503,
  },
];

// Rows whose introspection answer depends on the fake's issuer are completed here.
const INTROSPECTION_ANSWERS: Record<string, (kit: Kit) => FakeHandler> = {
  'opaque-s60-exp': (k) => introspected(k, { exp: now() - 3600 }),
  'opaque-s60-nbf': (k) => introspected(k, { nbf: now() + 3600 }),
  'opaque-s61-iss': (k) => introspected(k, { iss: k.attacker.issuer }),
  'opaque-s61-aud': (k) => introspected(k, { aud: 'urn:billing-api' }),
  'opaque-s61-refresh': (k) => introspected(k, { token_type: 'refresh_token' }),
};

/** A raw ECDSA r||s signature re-encoded as ASN.1 DER (what a naive signer would send). */
function derSignature(raw: Buffer): Buffer {
  const integer = (bytes: Buffer) => {
    let b = bytes;
    while (b.length > 1 && b[0] === 0 && b[1] < 0x80) b = b.subarray(1);
    if (b[0] >= 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const body = Buffer.concat([integer(raw.subarray(0, 32)), integer(raw.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

describe('bad tokens through ClientTokenGuard and the built-in strategies', () => {
  let idp: FakeIdService;
  let es: FakeIdService;
  let attacker: FakeIdService;
  let kit: Kit;

  beforeAll(async () => {
    const clients = {
      // Opaque tokens of billing are introspected with aud = the API's audience.
      billing: { secret: 'billing-secret', audience: AUDIENCE },
      [API_CLIENT.id]: { secret: API_CLIENT.secret },
    };
    [idp, es, attacker] = await Promise.all([
      FakeIdService.start({ clients }),
      FakeIdService.start({ clients, alg: 'ES256' }),
      FakeIdService.start({ clients }),
    ]);
    const claims = (extra: Record<string, unknown> = {}) =>
      dropUndefined({
        iss: idp.issuer,
        iat: now(),
        exp: now() + 3600,
        sub: 'billing',
        aud: AUDIENCE,
        ...extra,
      });
    kit = {
      idp,
      es,
      attacker,
      claims,
      atClaims: (extra = {}) => claims({ client_id: 'billing', jti: 'jti-1', ...extra }),
      header: (extra = {}) => dropUndefined({ alg: 'RS256', kid: idp.currentKid, ...extra }),
      sign: (header, payload) => idp.signRaw(header, payload),
    };
  });
  afterAll(() => Promise.all([idp, es, attacker].map((s) => s.close())));

  it('has at least 60 S-row cases, each row named after its security case', () => {
    for (const row of ROWS) expect(row.id).toMatch(/^(S\d\d|R\d\d|valid) /);
    expect(ROWS.filter((row) => row.id.startsWith('S')).length).toBeGreaterThanOrEqual(60);
  });

  describe.each(HTTP_PLATFORMS)('on %s', (platform: HttpPlatform) => {
    const apps = new Map<AppKind, RunningApp>();
    const logger = new CapturingLogger();

    afterAll(async () => {
      await Promise.all([...apps.values()].map((app) => app.close()));
    });

    async function app(kind: AppKind): Promise<RunningApp> {
      let running = apps.get(kind);
      if (!running) {
        const config = APPS[kind];
        const service = config.idp === 'es' ? es : idp;
        running = await startHttpApp(
          platform,
          badTokensAppModule(config.issuer ?? service.issuer, config.verification),
          logger,
        );
        apps.set(kind, running);
        if (config.warm) await warmUp(kind, running, service);
      }
      return running;
    }

    /** One valid request, so discovery and the JWKS are cached before the row is counted. */
    async function warmUp(kind: AppKind, running: RunningApp, service: FakeIdService) {
      const token =
        kind === 'introspection' || kind === 'userinfo'
          ? service.mintOpaque('billing')
          : kind === 'rfc9068'
            ? await service.mintJwt(kit.atClaims(), { typ: 'at+jwt' })
            : await service.mintJwt(kit.claims({ iss: service.issuer }));
      const response = await rawRequest(running.url, { path: '/orders', headers: bearer(token) });
      expect(response.status).toBe(200);
    }

    it.each(ROWS.map((row) => [row.id, row] as const))('%s', async (_id, row) => {
      const running = await app(row.app);
      for (const service of [idp, es, attacker]) service.reset();
      const token = await row.token(kit);
      const setup = { ...row.setup };
      if (INTROSPECTION_ANSWERS[token]) setup.introspection = INTROSPECTION_ANSWERS[token](kit);
      for (const [name, handler] of Object.entries(setup)) {
        idp.on(PATHS[name as keyof typeof PATHS], handler);
      }
      const logLines = running.logger.lines.length;

      const response: RawResponse = await rawRequest(running.url, {
        path: row.path?.(token) ?? '/orders',
        headers: row.headers ? row.headers(token) : bearer(token),
      });

      if (row.expect === 200) {
        expect(response.status).toBe(200);
        expect(JSON.parse(response.body)).toEqual({ clientId: 'billing' });
      } else if (row.expect === 503) {
        expect(response.status).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(response.headers['www-authenticate']).toBeUndefined();
        expect(JSON.parse(response.body)).toEqual({
          statusCode: 503,
          error: 'Service Unavailable',
          message: 'Token verification is temporarily unavailable',
        });
      } else {
        const expected = CHALLENGES[row.expect];
        expect(response.status).toBe(expected.status);
        expect(response.headers['www-authenticate']).toBe(expected.header);
        expect(JSON.parse(response.body)).toMatchObject({
          statusCode: expected.status,
          error: expected.error,
        });
        const logged = running.logger.lines.slice(logLines).map((l) => l.text);
        expect(logged).toContain(
          `Bearer token refused with ${expected.status}: ${row.expect} ClientTokenGuard`,
        );
      }

      // Neither the answer nor any log line carries the token (or its signature).
      const secrets = token.length >= 8 ? [token, token.split('.')[2] ?? token] : [];
      for (const secret of secrets.filter((s) => s && s.length >= 8)) {
        expect(response.body).not.toContain(secret);
        expect(running.logger.text()).not.toContain(secret);
      }
      expect(running.logger.text()).not.toMatch(/\n\s+at /);

      // Only the expected requests reached the ID services (none at all by default).
      const counts = Object.fromEntries(
        Object.entries(PATHS).map(([name, path]) => [name, idp.requestsTo(path).length]),
      );
      const expectedCounts = Object.fromEntries(
        Object.keys(PATHS).map((name) => [name, row.io?.[name as keyof Io] ?? 0]),
      );
      expect(counts).toEqual(expectedCounts);
      expect(idp.requests).toHaveLength(Object.values(expectedCounts).reduce((a, b) => a + b, 0));
      expect(es.requests).toHaveLength(0);
      expect(attacker.requests).toHaveLength(0);
    });
  });
});

import { Keyv } from 'keyv';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { assertOutboundCredentials } from './identity-options.util.js';
import { resolveOptions } from './resolve-options.util.js';

// Credential material passed in the rows; no error message may repeat any of it.
const SECRET = 'root-S3CRET-value';
const NAMED_SECRET = 'named-S3CRET-value';
const KEY_MATERIAL = 'PRIVATE-key-material-d';
const HEX_CACHE_KEY = 'ab'.repeat(32);
const SHORT_CACHE_KEY = Buffer.alloc(16, 7).toString('base64');
const SECRETS = [SECRET, NAMED_SECRET, KEY_MATERIAL, HEX_CACHE_KEY, SHORT_CACHE_KEY];

const ISSUER = 'https://id.example.com';
const base = { issuer: ISSUER, clientId: 'orders', clientSecret: SECRET };
/** The base options with some replaced; `undefined` removes one. */
const w = (overrides: Record<string, unknown>) => ({ ...base, ...overrides });
/** A private EC JWK shape; resolveOptions checks its shape, the key is imported later. */
const ecKey = (overrides: Record<string, unknown> = {}) => ({
  kty: 'EC',
  crv: 'P-256',
  x: 'public-x',
  y: 'public-y',
  d: KEY_MATERIAL,
  kid: 'k1',
  alg: 'ES256',
  ...overrides,
});
/** The same key as an exported public JWK: no `d` at all. */
const publicKey = () => {
  const { d: _d, ...rest } = ecKey();
  return rest;
};
const jwt = (privateKey: unknown) =>
  w({ clientSecret: undefined, clientAuthMethod: 'private_key_jwt', privateKey });
const verification = (v: Record<string, unknown>) => w({ verification: v });
const named = (clients: unknown, root: Record<string, unknown> = {}) => w({ clients, ...root });
const fakeStore = () => ({
  get: () => undefined,
  set: () => true,
  delete: () => true,
  on: () => undefined,
  off: () => undefined,
});

const resolve = (options: unknown) => resolveOptions(options as OidcClientCredentialsModuleOptions);

function refusal(run: () => unknown): ConfigurationError {
  try {
    run();
  } catch (error) {
    return error as ConfigurationError;
  }
  throw new Error('the options were accepted');
}

function expectRefusal(run: () => unknown, option: string) {
  const error = refusal(run);
  expect(error).toBeInstanceOf(ConfigurationError);
  expect(error).toMatchObject({ code: 'OIDC_CC_CONFIGURATION_INVALID', option });
  expect(error.message).toContain(`Invalid option "${option}"`);
  for (const secret of SECRETS) expect(error.message).not.toContain(secret);
}

describe('resolveOptions', () => {
  it.each<[string, unknown, string]>([
    ['options not an object', null, 'options'],
    // issuer
    ['issuer missing', w({ issuer: undefined }), 'issuer'],
    ['issuer empty', w({ issuer: '' }), 'issuer'],
    ['issuer not a URL', w({ issuer: 'id.example.com' }), 'issuer'],
    ['issuer not a string', w({ issuer: new URL(ISSUER) }), 'issuer'],
    ['issuer with another scheme', w({ issuer: 'ftp://id.example.com' }), 'issuer'],
    ['issuer with user info', w({ issuer: `https://orders:${SECRET}@id.example.com` }), 'issuer'],
    ['issuer with a query', w({ issuer: `${ISSUER}/?tenant=blue` }), 'issuer'],
    ['issuer with an empty query', w({ issuer: `${ISSUER}/?` }), 'issuer'],
    ['issuer with a fragment', w({ issuer: `${ISSUER}/#top` }), 'issuer'],
    ['issuer with an empty fragment', w({ issuer: `${ISSUER}#` }), 'issuer'],
    // endpoints
    ['endpoints.token not a URL', w({ endpoints: { token: '/token' } }), 'endpoints.token'],
    [
      'endpoints.introspection not a URL',
      w({ endpoints: { introspection: 'introspect' } }),
      'endpoints.introspection',
    ],
    ['endpoints.userinfo empty', w({ endpoints: { userinfo: '' } }), 'endpoints.userinfo'],
    ['endpoints.jwks a file URL', w({ endpoints: { jwks: 'file:///etc/jwks' } }), 'endpoints.jwks'],
    [
      'endpoints.token with user info',
      w({ endpoints: { token: `https://orders:${SECRET}@id.example.com/token` } }),
      'endpoints.token',
    ],
    [
      'endpoints.token with a fragment',
      w({ endpoints: { token: `${ISSUER}/token#x` } }),
      'endpoints.token',
    ],
    // client authentication
    ['clientAuthMethod unknown', w({ clientAuthMethod: 'client_secret_jws' }), 'clientAuthMethod'],
    ['clientAuthMethod none', w({ clientAuthMethod: 'none' }), 'clientAuthMethod'],
    ['clientId empty', w({ clientId: '' }), 'clientId'],
    ['clientId not a string', w({ clientId: 42 }), 'clientId'],
    ['clientSecret empty', w({ clientSecret: '' }), 'clientSecret'],
    ['clientSecret not a string', w({ clientSecret: 42 }), 'clientSecret'],
    [
      'clientSecret with private_key_jwt',
      w({ clientAuthMethod: 'private_key_jwt', privateKey: ecKey() }),
      'clientSecret',
    ],
    ['privateKey a string', jwt(KEY_MATERIAL), 'privateKey'],
    ['privateKey null', jwt(null), 'privateKey'],
    ['privateKey without kty', jwt({ d: KEY_MATERIAL, alg: 'ES256', kid: 'k1' }), 'privateKey'],
    [
      'privateKey symmetric',
      jwt({ kty: 'oct', k: KEY_MATERIAL, alg: 'HS256', kid: 'k1' }),
      'privateKey',
    ],
    ['privateKey public only (no d)', jwt(publicKey()), 'privateKey'],
    ['privateKey without alg', jwt(ecKey({ alg: undefined })), 'privateKey'],
    ['privateKey without kid', jwt(ecKey({ kid: undefined })), 'privateKey'],
    ['privateKey with an empty kid', jwt(ecKey({ kid: '' })), 'privateKey'],
    ['privateKey with d undefined', jwt(ecKey({ d: undefined })), 'privateKey'],
    [
      'clientAssertion.audience unknown',
      w({ clientAssertion: { audience: 'token-endpoint' } }),
      'clientAssertion.audience',
    ],
    // token request parameters
    ['scope empty list', w({ scope: [] }), 'scope'],
    ['scope empty string', w({ scope: '' }), 'scope'],
    ['audience with an empty item', w({ audience: ['a', ''] }), 'audience'],
    ['resource not strings', w({ resource: [42] }), 'resource'],
    [
      'extraParams.client_secret reserved',
      w({ extraParams: { client_secret: SECRET } }),
      'extraParams.client_secret',
    ],
    [
      'extraParams.grant_type reserved',
      w({ extraParams: { grant_type: 'password' } }),
      'extraParams.grant_type',
    ],
    ['extraParams value not a string', w({ extraParams: { tenant: 42 } }), 'extraParams.tenant'],
    // verifyOnStartup
    ['verifyOnStartup a string', w({ verifyOnStartup: 'true' }), 'verifyOnStartup'],
    ['verifyOnStartup null', w({ verifyOnStartup: null }), 'verifyOnStartup'],
    ['verifyOnStartup a list', w({ verifyOnStartup: [true] }), 'verifyOnStartup'],
    [
      'verifyOnStartup.outbound a string',
      w({ verifyOnStartup: { outbound: 'yes' } }),
      'verifyOnStartup.outbound',
    ],
    [
      'verifyOnStartup.inbound 1',
      w({ verifyOnStartup: { inbound: 1 } }),
      'verifyOnStartup.inbound',
    ],
    // tokenRenewal
    [
      'tokenRenewal.proactive a string',
      w({ tokenRenewal: { proactive: 'yes' } }),
      'tokenRenewal.proactive',
    ],
    ['tokenRenewal.prefetch 1', w({ tokenRenewal: { prefetch: 1 } }), 'tokenRenewal.prefetch'],
    [
      'tokenRenewal.renewAfterFraction 0',
      w({ tokenRenewal: { renewAfterFraction: 0 } }),
      'tokenRenewal.renewAfterFraction',
    ],
    [
      'tokenRenewal.renewAfterFraction above 1',
      w({ tokenRenewal: { renewAfterFraction: 1.5 } }),
      'tokenRenewal.renewAfterFraction',
    ],
    [
      'tokenRenewal.renewAfterFraction NaN',
      w({ tokenRenewal: { renewAfterFraction: NaN } }),
      'tokenRenewal.renewAfterFraction',
    ],
    [
      'tokenRenewal.renewAfterFraction a string',
      w({ tokenRenewal: { renewAfterFraction: '0.5' } }),
      'tokenRenewal.renewAfterFraction',
    ],
    [
      'tokenRenewal.renewAfterFraction true',
      w({ tokenRenewal: { renewAfterFraction: true } }),
      'tokenRenewal.renewAfterFraction',
    ],
    [
      'tokenRenewal.renewBeforeExpirySeconds negative',
      w({ tokenRenewal: { renewBeforeExpirySeconds: -1 } }),
      'tokenRenewal.renewBeforeExpirySeconds',
    ],
    [
      'tokenRenewal.defaultLifetimeSeconds 0',
      w({ tokenRenewal: { defaultLifetimeSeconds: 0 } }),
      'tokenRenewal.defaultLifetimeSeconds',
    ],
    [
      'tokenRenewal.defaultLifetimeSeconds infinite',
      w({ tokenRenewal: { defaultLifetimeSeconds: Infinity } }),
      'tokenRenewal.defaultLifetimeSeconds',
    ],
    [
      'tokenRenewal.maxLifetimeSeconds 0',
      w({ tokenRenewal: { maxLifetimeSeconds: 0 } }),
      'tokenRenewal.maxLifetimeSeconds',
    ],
    // retry, circuitBreaker, http, authorizedHttp
    ['retry.maxAttempts 0', w({ retry: { maxAttempts: 0 } }), 'retry.maxAttempts'],
    ['retry.initialDelayMs negative', w({ retry: { initialDelayMs: -1 } }), 'retry.initialDelayMs'],
    ['retry.maxDelayMs a string', w({ retry: { maxDelayMs: '5000' } }), 'retry.maxDelayMs'],
    ['retry.deadlineMs 0', w({ retry: { deadlineMs: 0 } }), 'retry.deadlineMs'],
    [
      'circuitBreaker.failureThreshold 0',
      w({ circuitBreaker: { failureThreshold: 0 } }),
      'circuitBreaker.failureThreshold',
    ],
    [
      'circuitBreaker.failureThreshold not an integer',
      w({ circuitBreaker: { failureThreshold: 2.5 } }),
      'circuitBreaker.failureThreshold',
    ],
    [
      'circuitBreaker.cooldownMs 0',
      w({ circuitBreaker: { cooldownMs: 0 } }),
      'circuitBreaker.cooldownMs',
    ],
    ['http.timeoutMs 0', w({ http: { timeoutMs: 0 } }), 'http.timeoutMs'],
    [
      'http.maxResponseBytes negative',
      w({ http: { maxResponseBytes: -1 } }),
      'http.maxResponseBytes',
    ],
    [
      'authorizedHttp.retryOnUnauthorized unknown',
      w({ authorizedHttp: { retryOnUnauthorized: 'Never' } }),
      'authorizedHttp.retryOnUnauthorized',
    ],
    // verification
    ['verification.audience empty list', verification({ audience: [] }), 'verification.audience'],
    ['verification.audience empty string', verification({ audience: '' }), 'verification.audience'],
    [
      'verification.allowedClientIds with an empty id',
      verification({ allowedClientIds: ['orders', ''] }),
      'verification.allowedClientIds',
    ],
    [
      'verification.allowedClientIds not strings',
      verification({ allowedClientIds: [42] }),
      'verification.allowedClientIds',
    ],
    [
      'verification.clockToleranceSeconds negative',
      verification({ clockToleranceSeconds: -1 }),
      'verification.clockToleranceSeconds',
    ],
    [
      'verification.clockToleranceSeconds a string',
      verification({ clockToleranceSeconds: '30' }),
      'verification.clockToleranceSeconds',
    ],
    [
      'verification.maxTokenLength 0',
      verification({ maxTokenLength: 0 }),
      'verification.maxTokenLength',
    ],
    [
      'verification.maxTokenLength infinite',
      verification({ maxTokenLength: Infinity }),
      'verification.maxTokenLength',
    ],
    [
      'verification.cacheTtlSeconds negative',
      verification({ cacheTtlSeconds: -1 }),
      'verification.cacheTtlSeconds',
    ],
    [
      'verification.negativeCacheTtlSeconds NaN',
      verification({ negativeCacheTtlSeconds: NaN }),
      'verification.negativeCacheTtlSeconds',
    ],
    [
      'verification.cacheMaxEntries 0',
      verification({ cacheMaxEntries: 0 }),
      'verification.cacheMaxEntries',
    ],
    [
      'verification.jwksCooldownSeconds negative',
      verification({ jwksCooldownSeconds: -5 }),
      'verification.jwksCooldownSeconds',
    ],
    [
      'verification.jwksMaxAgeSeconds 0',
      verification({ jwksMaxAgeSeconds: 0 }),
      'verification.jwksMaxAgeSeconds',
    ],
    [
      'verification.jwksStaleWindowSeconds negative',
      verification({ jwksStaleWindowSeconds: -1 }),
      'verification.jwksStaleWindowSeconds',
    ],
    [
      'verification.retryAfterSeconds 0',
      verification({ retryAfterSeconds: 0 }),
      'verification.retryAfterSeconds',
    ],
    ['verification.profile unknown', verification({ profile: 'strict' }), 'verification.profile'],
    [
      'verification.tokenLocations not a list',
      verification({ tokenLocations: 'header' }),
      'verification.tokenLocations',
    ],
    [
      'verification.tokenLocations empty',
      verification({ tokenLocations: [] }),
      'verification.tokenLocations',
    ],
    [
      'verification.tokenLocations with a cookie',
      verification({ tokenLocations: ['header', 'cookie'] }),
      'verification.tokenLocations',
    ],
    ['verification.algorithms empty', verification({ algorithms: [] }), 'verification.algorithms'],
    [
      'verification.algorithms with none',
      verification({ algorithms: ['RS256', 'none'] }),
      'verification.algorithms',
    ],
    [
      'verification.algorithms with NONE',
      verification({ algorithms: ['NONE'] }),
      'verification.algorithms',
    ],
    [
      'verification.algorithms with HS256',
      verification({ algorithms: ['HS256'] }),
      'verification.algorithms',
    ],
    [
      'verification.algorithms with hs512',
      verification({ algorithms: ['ES256', 'hs512'] }),
      'verification.algorithms',
    ],
    [
      'verification.algorithms not a list',
      verification({ algorithms: 'RS256' }),
      'verification.algorithms',
    ],
    [
      'verification.algorithms with an empty name',
      verification({ algorithms: ['RS256', ''] }),
      'verification.algorithms',
    ],
    [
      'verification.algorithms not strings',
      verification({ algorithms: [256] }),
      'verification.algorithms',
    ],
    // cache
    ['cache.stores a single store', w({ cache: { stores: fakeStore() } }), 'cache.stores'],
    ['cache.stores with a plain object', w({ cache: { stores: [{}] } }), 'cache.stores'],
    ['cache.stores with a Map (no on/off)', w({ cache: { stores: [new Map()] } }), 'cache.stores'],
    ['cache.stores with a URL', w({ cache: { stores: ['redis://127.0.0.1'] } }), 'cache.stores'],
    ['cache.keyPrefix empty', w({ cache: { keyPrefix: '' } }), 'cache.keyPrefix'],
    ['cache.keyPrefix with a space', w({ cache: { keyPrefix: 'my app' } }), 'cache.keyPrefix'],
    [
      'cache.keyPrefix of 65 characters',
      w({ cache: { keyPrefix: 'p'.repeat(65) } }),
      'cache.keyPrefix',
    ],
    ['cache.keyPrefix not ASCII', w({ cache: { keyPrefix: 'préfixe' } }), 'cache.keyPrefix'],
    ['cache.keyPrefix not a string', w({ cache: { keyPrefix: 42 } }), 'cache.keyPrefix'],
    [
      'cache.encryptionKey of 16 bytes (base64)',
      w({ cache: { encryptionKey: SHORT_CACHE_KEY } }),
      'cache.encryptionKey',
    ],
    [
      'cache.encryptionKey of 32 bytes hex-encoded',
      w({ cache: { encryptionKey: HEX_CACHE_KEY } }),
      'cache.encryptionKey',
    ],
    [
      'cache.encryptionKey a 31-byte Buffer',
      w({ cache: { encryptionKey: Buffer.alloc(31) } }),
      'cache.encryptionKey',
    ],
    ['cache.encryptionKey a number', w({ cache: { encryptionKey: 32 } }), 'cache.encryptionKey'],
    ['cache.timeoutMs 0', w({ cache: { timeoutMs: 0 } }), 'cache.timeoutMs'],
    // named clients
    ['clients a list', named([{ clientId: 'billing' }]), 'clients'],
    ['clients a string', named('billing'), 'clients'],
    ['client named default', named({ default: { scope: 'a' } }), 'clients'],
    ['client name with a space', named({ 'my client': { scope: 'a' } }), 'clients'],
    ['client name starting with a dash', named({ '-billing': { scope: 'a' } }), 'clients'],
    ['client name of 65 characters', named({ ['c'.repeat(65)]: { scope: 'a' } }), 'clients'],
    ['client entry null', named({ billing: null }), 'clients.billing'],
    ['client entry a string', named({ billing: 'billing' }), 'clients.billing'],
    [
      'client setting a root-only option',
      named({ billing: { scope: 'a', tokenRenewal: { renewAfterFraction: 0.5 } } }),
      'clients.billing.tokenRenewal',
    ],
    [
      'client setting an unknown option',
      named({ billing: { scopes: 'a' } }),
      'clients.billing.scopes',
    ],
    ['client clientId empty', named({ billing: { clientId: '' } }), 'clients.billing.clientId'],
    [
      'client clientSecret empty',
      named({ billing: { clientId: 'billing', clientSecret: '' } }),
      'clients.billing.clientSecret',
    ],
    [
      'client clientAuthMethod unknown',
      named({
        billing: { clientId: 'billing', clientSecret: NAMED_SECRET, clientAuthMethod: 'tls' },
      }),
      'clients.billing.clientAuthMethod',
    ],
    [
      'client clientSecret with private_key_jwt',
      named({
        billing: {
          clientId: 'billing',
          clientSecret: NAMED_SECRET,
          clientAuthMethod: 'private_key_jwt',
          privateKey: ecKey(),
        },
      }),
      'clients.billing.clientSecret',
    ],
    [
      'client privateKey symmetric',
      named({
        billing: {
          clientId: 'billing',
          clientAuthMethod: 'private_key_jwt',
          privateKey: { kty: 'oct', k: KEY_MATERIAL, alg: 'HS256', kid: 'k1' },
        },
      }),
      'clients.billing.privateKey',
    ],
    [
      'client privateKey without alg',
      named({
        billing: {
          clientId: 'billing',
          clientAuthMethod: 'private_key_jwt',
          privateKey: ecKey({ alg: undefined }),
        },
      }),
      'clients.billing.privateKey',
    ],
    [
      'client clientAssertion.audience unknown',
      named({
        billing: {
          clientId: 'billing',
          clientAuthMethod: 'private_key_jwt',
          privateKey: ecKey(),
          clientAssertion: { audience: 'api' },
        },
      }),
      'clients.billing.clientAssertion.audience',
    ],
    [
      'client clientSecret without its own clientId',
      named({ billing: { clientSecret: NAMED_SECRET } }),
      'clients.billing.clientId',
    ],
    [
      'client privateKey without its own clientId',
      named({ billing: { privateKey: ecKey() } }),
      'clients.billing.clientId',
    ],
    [
      'client without clientId when the root has none',
      named(
        { reports: { scope: 'reports:read' } },
        { clientId: undefined, clientSecret: undefined },
      ),
      'clients.reports.clientId',
    ],
    ['client scope empty', named({ reports: { scope: [] } }), 'clients.reports.scope'],
    [
      'client extraParams.client_id reserved',
      named({ reports: { extraParams: { client_id: 'other' } } }),
      'clients.reports.extraParams.client_id',
    ],
    [
      'client with its own clientId but no secret',
      named({ billing: { clientId: 'billing' } }),
      'clients.billing.clientSecret',
    ],
    [
      'client with private_key_jwt but no key',
      named({ billing: { clientId: 'billing', clientAuthMethod: 'private_key_jwt' } }),
      'clients.billing.privateKey',
    ],
  ])('refuses %s, naming the option', (_case, options, option) => {
    expectRefusal(() => resolve(options), option);
  });

  describe('outbound credentials, checked when the token provider starts', () => {
    it.each<[string, Record<string, unknown>, string]>([
      ['clientId missing', { clientId: undefined }, 'clientId'],
      ['client_secret_basic without a secret', { clientSecret: undefined }, 'clientSecret'],
      [
        'client_secret_post without a secret',
        { clientSecret: undefined, clientAuthMethod: 'client_secret_post' },
        'clientSecret',
      ],
      [
        'client_secret_query without a secret',
        { clientSecret: undefined, clientAuthMethod: 'client_secret_query' },
        'clientSecret',
      ],
      [
        'private_key_jwt without a key',
        { clientSecret: undefined, clientAuthMethod: 'private_key_jwt' },
        'privateKey',
      ],
    ])('refuses %s, naming the option', (_case, overrides, option) => {
      const resolved = resolve(w(overrides));
      expectRefusal(() => assertOutboundCredentials(resolved), option);
    });

    it.each<[string, Record<string, unknown>]>([
      ['a secret', {}],
      [
        'a private key',
        { clientSecret: undefined, clientAuthMethod: 'private_key_jwt', privateKey: ecKey() },
      ],
    ])('accepts a client id with %s', (_case, overrides) => {
      expect(() => assertOutboundCredentials(resolve(w(overrides)))).not.toThrow();
    });
  });

  describe('http://', () => {
    it.each<[string, Record<string, unknown>, string]>([
      ['issuer on a public host', { issuer: 'http://id.example.com' }, 'issuer'],
      ['issuer on a private address', { issuer: 'http://10.0.0.5:8080' }, 'issuer'],
      ['issuer on localhost.example.com', { issuer: 'http://localhost.example.com' }, 'issuer'],
      ['issuer on 127.0.0.1.nip.io', { issuer: 'http://127.0.0.1.nip.io' }, 'issuer'],
      [
        'token endpoint on a public host',
        { endpoints: { token: 'http://id.example.com/token' } },
        'endpoints.token',
      ],
      [
        'issuer with allowInsecureHttp as the string "true"',
        { issuer: 'http://id.example.com', allowInsecureHttp: 'true' },
        'issuer',
      ],
      [
        'another scheme with allowInsecureHttp',
        { endpoints: { token: 'ftp://id.example.com/token' }, allowInsecureHttp: true },
        'endpoints.token',
      ],
      [
        'user info with allowInsecureHttp',
        { issuer: `http://orders:${SECRET}@id.example.com`, allowInsecureHttp: true },
        'issuer',
      ],
    ])('refuses the %s, naming the option', (_case, overrides, option) => {
      expectRefusal(() => resolve(w(overrides)), option);
    });

    it.each<[string, string, boolean]>([
      ['127.0.0.1', 'http://127.0.0.1:8080', false],
      ['another 127/8 address', 'http://127.5.6.7', false],
      ['localhost', 'http://localhost:8080', false],
      ['[::1]', 'http://[::1]:8080', false],
      ['a public host with allowInsecureHttp', 'http://id.example.com', true],
      ['a private address with allowInsecureHttp', 'http://10.0.0.5:8080', true],
    ])('accepts the issuer and token endpoint on %s', (_case, origin, allowInsecureHttp) => {
      const resolved = resolve(
        w({ issuer: origin, endpoints: { token: `${origin}/token` }, allowInsecureHttp }),
      );
      expect(resolved.issuer).toBe(origin);
      expect(resolved.endpoints.token?.href).toBe(new URL(`${origin}/token`).href);
      expect(resolved.allowInsecureHttp).toBe(allowInsecureHttp);
    });
  });

  it('applies the documented defaults', () => {
    expect(resolve({ issuer: ISSUER })).toStrictEqual({
      issuer: ISSUER,
      endpoints: {},
      clientId: undefined,
      clientSecret: undefined,
      clientAuthMethod: 'client_secret_basic',
      privateKey: undefined,
      clientAssertion: { audience: 'issuer', explicitType: false },
      tokenParams: [],
      tokenRenewal: {
        renewAfterFraction: 0.8,
        renewBeforeExpirySeconds: 60,
        defaultLifetimeSeconds: 300,
        maxLifetimeSeconds: 86_400,
        proactive: true,
        prefetch: false,
        maxParameterSets: 32,
      },
      retry: { maxAttempts: 3, initialDelayMs: 200, maxDelayMs: 5000, deadlineMs: 15_000 },
      circuitBreaker: { failureThreshold: 5, cooldownMs: 30_000 },
      http: { timeoutMs: 5000, maxResponseBytes: 65_536 },
      authorizedHttp: { retryOnUnauthorized: 'idempotent' },
      verification: {
        strategy: 'auto',
        audience: undefined,
        warnOnMissingAudience: true,
        allowedClientIds: undefined,
        requireSubjectIsClient: false,
        algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
        clockToleranceSeconds: 30,
        profile: 'default',
        maxTokenLength: 8192,
        tokenLocations: ['header'],
        // Left unset here: ClientTokenGuard checks it and falls back to 'api'.
        realm: undefined,
        cacheTtlSeconds: 300,
        negativeCacheTtlSeconds: 10,
        cacheMaxEntries: 10_000,
        jwksCooldownSeconds: 30,
        jwksMaxAgeSeconds: 600,
        jwksStaleWindowSeconds: 3600,
        retryAfterSeconds: 5,
        dpop: 'allowed',
        dpopAlgorithms: ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
        dpopProofMaxAgeSeconds: 60,
        dpopNonce: false,
        trustForwardedHeaders: false,
        mtls: 'allowed',
        clientCertificateHeader: undefined,
        introspection: { signedResponse: false },
      },
      cache: { stores: [], keyPrefix: 'oidc-cc', encryptionKey: undefined, timeoutMs: 50 },
      allowInsecureHttp: false,
      verifyOnStartup: { outbound: false, inbound: false },
      clients: {},
    });
  });

  it.each<
    [string, Record<string, unknown>, (r: ReturnType<typeof resolveOptions>) => unknown, unknown]
  >([
    [
      'renewAfterFraction 1',
      { tokenRenewal: { renewAfterFraction: 1 } },
      (r) => r.tokenRenewal.renewAfterFraction,
      1,
    ],
    [
      'renewBeforeExpirySeconds 0',
      { tokenRenewal: { renewBeforeExpirySeconds: 0 } },
      (r) => r.tokenRenewal.renewBeforeExpirySeconds,
      0,
    ],
    [
      'cacheTtlSeconds 0 (cache off)',
      { verification: { cacheTtlSeconds: 0 } },
      (r) => r.verification.cacheTtlSeconds,
      0,
    ],
    [
      'clockToleranceSeconds 0',
      { verification: { clockToleranceSeconds: 0 } },
      (r) => r.verification.clockToleranceSeconds,
      0,
    ],
    [
      'a keyPrefix of 64 characters',
      { cache: { keyPrefix: 'p'.repeat(64) } },
      (r) => r.cache.keyPrefix,
      'p'.repeat(64),
    ],
    [
      'a base64 encryptionKey',
      { cache: { encryptionKey: Buffer.alloc(32, 1).toString('base64') } },
      (r) => r.cache.encryptionKey,
      Buffer.alloc(32, 1),
    ],
    [
      'a Buffer encryptionKey',
      { cache: { encryptionKey: Buffer.alloc(32, 2) } },
      (r) => r.cache.encryptionKey,
      Buffer.alloc(32, 2),
    ],
    ['a Keyv store', { cache: { stores: [new Keyv()] } }, (r) => r.cache.stores.length, 1],
    [
      'one audience string',
      { verification: { audience: 'urn:orders' } },
      (r) => r.verification.audience,
      ['urn:orders'],
    ],
    ['a scope list, joined', { scope: ['a', 'b'] }, (r) => r.tokenParams, [['scope', 'a b']]],
    [
      'clientAssertion to the token endpoint',
      { clientAssertion: { audience: 'token_endpoint' } },
      (r) => r.clientAssertion.audience,
      'token_endpoint',
    ],
    [
      "retryOnUnauthorized 'never'",
      { authorizedHttp: { retryOnUnauthorized: 'never' } },
      (r) => r.authorizedHttp.retryOnUnauthorized,
      'never',
    ],
    [
      'a custom JWS algorithm list',
      { verification: { algorithms: ['RS512', 'ES384'] } },
      (r) => r.verification.algorithms,
      ['RS512', 'ES384'],
    ],
    [
      'verifyOnStartup true',
      { verifyOnStartup: true },
      (r) => r.verifyOnStartup,
      { outbound: true, inbound: true },
    ],
    [
      'verifyOnStartup false',
      { verifyOnStartup: false },
      (r) => r.verifyOnStartup,
      { outbound: false, inbound: false },
    ],
    [
      'verifyOnStartup for one side',
      { verifyOnStartup: { inbound: true } },
      (r) => r.verifyOnStartup,
      { outbound: false, inbound: true },
    ],
    [
      'verifyOnStartup, inherited by a named client',
      { verifyOnStartup: true, clients: { billing: { scope: 'b' } } },
      (r) => r.clients.billing.verifyOnStartup,
      { outbound: true, inbound: true },
    ],
    [
      'all token locations',
      { verification: { tokenLocations: ['header', 'query', 'body'] } },
      (r) => r.verification.tokenLocations,
      ['header', 'query', 'body'],
    ],
  ])('accepts %s', (_case, overrides, pick, expected) => {
    expect(pick(resolve(w(overrides)))).toEqual(expected);
  });
});

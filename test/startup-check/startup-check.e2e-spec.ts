import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  DiscoveryError,
  OidcClientCredentialsHealthIndicator,
  TokenProvider,
  TokenRequestError,
  TokenVerificationStrategy,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { freePort } from '../utils/ports.js';
import { StartupCheckAppModule } from './app.module.js';

// verifyOnStartup: a bad deploy (the ID service unreachable, the credentials refused, what
// verification needs missing) stops at app.init(); without it the app boots, and the health
// indicator reports the same failure.

const SECRET = 'orders-secret-7f3a9c1d';
const WRONG = 'wrong-secret-52b8e0aa';

type Options = Partial<OidcClientCredentialsModuleOptions>;
type Setup = (idp: FakeIdService, discovery: Record<string, unknown>) => Promise<Options> | Options;

class OwnStrategy extends TokenVerificationStrategy {
  async verify(): Promise<VerifiedToken> {
    return { clientId: 'own', scopes: [], claims: {} };
  }
}

describe('verifyOnStartup (e2e)', () => {
  let idp: FakeIdService;
  let discovery: Record<string, unknown>;
  let app: INestApplication | undefined;
  let logger: CapturingLogger;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      clients: { orders: { secret: SECRET }, billing: { secret: 'billing-secret' } },
    });
    discovery = (await (await fetch(idp.url(PATHS.discovery))).json()) as Record<string, unknown>;
  });
  afterAll(async () => {
    await idp.close();
  });
  beforeEach(() => {
    idp.reset();
    logger = new CapturingLogger();
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** Compiles and initialises the app; resolves with it, or rejects with the startup error. */
  async function boot(options: Options): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        StartupCheckAppModule.register({
          issuer: idp.issuer,
          clientId: 'orders',
          clientSecret: SECRET,
          retry: { maxAttempts: 1 },
          verification: { strategy: 'jwt', warnOnMissingAudience: false },
          ...options,
        }),
      ],
    })
      .setLogger(logger)
      .compile();
    const created = moduleRef.createNestApplication({ logger });
    try {
      await created.init();
    } catch (error) {
      await created.close().catch(() => undefined);
      throw error;
    }
    app = created;
    return created;
  }

  const answer = (path: string, response: FakeResponse) => idp.on(path, () => response);
  const withoutMember = (member: string) => {
    const { [member]: _left, ...rest } = discovery;
    answer(PATHS.discovery, { body: rest });
  };

  /** No rendering of the error, and no log line, holds a secret or a token. */
  function expectNoSecret(error: unknown) {
    const texts = [
      String(error),
      (error as Error).stack ?? '',
      JSON.stringify(error),
      logger.text(),
    ];
    for (const text of texts) {
      for (const secret of [SECRET, WRONG, 'billing-secret']) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/eyJ[\w-]+\./);
    }
  }

  const cases: [
    string,
    Setup,
    abstract new (...args: never[]) => Error,
    Record<string, unknown>,
    RegExp,
    Record<string, unknown>,
  ][] = [
    [
      'outbound: the secret is refused',
      () => ({ clientSecret: WRONG, verifyOnStartup: true }),
      TokenRequestError,
      { code: 'OIDC_CC_TOKEN_REQUEST_FAILED', error: 'invalid_client', status: 401 },
      /^Startup check \(verifyOnStartup\): client "default" got no token: Token request refused by the ID service \(HTTP 401\): invalid_client: client authentication failed \[POST http:\/\/127\.0\.0\.1:\d+\/openid\/token\]$/,
      {
        clients: {
          default: { status: 'down', circuit: 'closed', error: 'OIDC_CC_TOKEN_REQUEST_FAILED' },
        },
      },
    ],
    [
      "outbound: a named client's secret is refused",
      () => ({
        clients: { billing: { clientId: 'billing', clientSecret: WRONG } },
        verifyOnStartup: { outbound: true },
      }),
      TokenRequestError,
      { code: 'OIDC_CC_TOKEN_REQUEST_FAILED', error: 'invalid_client', status: 401 },
      /^Startup check \(verifyOnStartup\): client "billing" got no token: Token request refused .* \[POST http:\/\/127\.0\.0\.1:\d+\/openid\/token\]$/,
      {
        clients: {
          billing: { status: 'down', circuit: 'closed', error: 'OIDC_CC_TOKEN_REQUEST_FAILED' },
        },
      },
    ],
    [
      'outbound: the token endpoint fails',
      () => {
        answer(PATHS.token, { status: 503 });
        return { verifyOnStartup: { outbound: true } };
      },
      TokenRequestError,
      { code: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE', status: 503 },
      /^Startup check \(verifyOnStartup\): client "default" got no token: Token endpoint failed \(HTTP 503\) \[POST http:\/\/127\.0\.0\.1:\d+\/openid\/token\]$/,
      { clients: { default: { status: 'down', error: 'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE' } } },
    ],
    [
      'outbound: the ID service is unreachable',
      async () => ({
        issuer: `http://127.0.0.1:${await freePort()}`,
        verifyOnStartup: { outbound: true },
      }),
      TokenRequestError,
      { code: 'OIDC_CC_DISCOVERY_FAILED' },
      /^Startup check \(verifyOnStartup\): client "default" got no token: Discovery failed: .*http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration.*ECONNREFUSED/,
      {
        discovery: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' },
        clients: { default: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' } },
      },
    ],
    [
      'inbound (jwt): the JWKS endpoint fails',
      () => {
        answer(PATHS.jwks, { status: 500 });
        return { verifyOnStartup: { inbound: true } };
      },
      ValidatorUnavailableError,
      { code: 'OIDC_CC_JWKS_UNAVAILABLE' },
      /^Startup check \(verifyOnStartup\): .*http:\/\/127\.0\.0\.1:\d+\/openid\/jwks\.json.* HTTP 500/,
      { jwks: { status: 'down', error: 'OIDC_CC_JWKS_UNAVAILABLE' } },
    ],
    [
      'inbound (jwt): the JWKS holds no keys',
      () => {
        answer(PATHS.jwks, { body: { keys: [] } });
        return { verifyOnStartup: { inbound: true } };
      },
      ValidatorUnavailableError,
      { code: 'OIDC_CC_JWKS_UNAVAILABLE' },
      /^Startup check \(verifyOnStartup\): the JWKS at http:\/\/127\.0\.0\.1:\d+\/openid\/jwks\.json holds no keys$/,
      { jwks: { status: 'down', keys: 0, error: 'OIDC_CC_JWKS_UNAVAILABLE' } },
    ],
    [
      'inbound (jwt): discovery fails',
      () => {
        answer(PATHS.discovery, { status: 500 });
        return { verifyOnStartup: { inbound: true } };
      },
      DiscoveryError,
      { code: 'OIDC_CC_DISCOVERY_FAILED' },
      /^Startup check \(verifyOnStartup\): Discovery failed: .*http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration.* HTTP 500/,
      { discovery: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' } },
    ],
    [
      'inbound (auto): the JWKS is unreachable',
      () => {
        answer(PATHS.jwks, { reset: true });
        return {
          verification: { strategy: 'auto', warnOnMissingAudience: false },
          verifyOnStartup: { inbound: true },
        };
      },
      ValidatorUnavailableError,
      { code: 'OIDC_CC_JWKS_UNAVAILABLE' },
      /^Startup check \(verifyOnStartup\): .*http:\/\/127\.0\.0\.1:\d+\/openid\/jwks\.json/,
      { jwks: { status: 'down', error: 'OIDC_CC_JWKS_UNAVAILABLE' } },
    ],
    [
      'inbound (auto): no JWKS published, and no introspection endpoint either',
      () => {
        const { jwks_uri: _jwks, introspection_endpoint: _introspection, ...rest } = discovery;
        answer(PATHS.discovery, { body: rest });
        return {
          verification: { strategy: 'auto', warnOnMissingAudience: false },
          verifyOnStartup: { inbound: true },
        };
      },
      DiscoveryError,
      { code: 'OIDC_CC_DISCOVERY_FAILED' },
      /^Startup check \(verifyOnStartup\): The ID service publishes no introspection_endpoint; set endpoints\.introspection$/,
      { jwks: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' } },
    ],
    [
      'inbound (introspection): the ID service publishes no introspection endpoint',
      () => {
        withoutMember('introspection_endpoint');
        return {
          verification: { strategy: 'introspection', warnOnMissingAudience: false },
          verifyOnStartup: { inbound: true },
        };
      },
      DiscoveryError,
      { code: 'OIDC_CC_DISCOVERY_FAILED' },
      /^Startup check \(verifyOnStartup\): The ID service publishes no introspection_endpoint; set endpoints\.introspection$/,
      { discovery: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' } },
    ],
    [
      'inbound (userinfo): the ID service publishes no userinfo endpoint',
      () => {
        withoutMember('userinfo_endpoint');
        return { verification: { strategy: 'userinfo' }, verifyOnStartup: { inbound: true } };
      },
      DiscoveryError,
      { code: 'OIDC_CC_DISCOVERY_FAILED' },
      /^Startup check \(verifyOnStartup\): The ID service publishes no userinfo_endpoint; set endpoints\.userinfo$/,
      { discovery: { status: 'down', error: 'OIDC_CC_DISCOVERY_FAILED' } },
    ],
  ];

  it.each(cases)(
    '%s: the app does not start with verifyOnStartup',
    async (_case, setup, type, fields, message) => {
      const options = await setup(idp, discovery);
      const error = await boot(options).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(type);
      expect(error).toMatchObject(fields);
      expect((error as Error).message).toMatch(message);
      expectNoSecret(error);
    },
  );

  it.each(cases)(
    '%s: without verifyOnStartup the app starts, and the health check reports it',
    async (_case, setup, _type, _fields, _message, health) => {
      const { verifyOnStartup, ...options } = await setup(idp, discovery);
      expect(verifyOnStartup).toBeDefined();
      const started = await boot(options);
      const report = await started.get(OidcClientCredentialsHealthIndicator).isHealthy('oidc');
      expect(report.oidc).toMatchObject(health);
      expectNoSecret(report);
    },
  );

  it('verifyOnStartup: true with all well: the app starts with the token and the keys in hand', async () => {
    const started = await boot({ verifyOnStartup: true });
    expect(idp.requestsTo(PATHS.token)).toHaveLength(1);
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);
    await started.get(TokenProvider).getToken();
    expect(idp.requestsTo(PATHS.token)).toHaveLength(1);
  });

  it('verifyOnStartup: true checks both sides, and the named clients', async () => {
    answer(PATHS.jwks, { status: 500 });
    await expect(
      boot({ verifyOnStartup: true, verification: { strategy: 'jwt' } }),
    ).rejects.toBeInstanceOf(ValidatorUnavailableError);
    idp.reset();
    await expect(boot({ verifyOnStartup: true, clientSecret: WRONG })).rejects.toBeInstanceOf(
      TokenRequestError,
    );
    idp.reset();
    await boot({
      verifyOnStartup: true,
      clients: { billing: { clientId: 'billing', clientSecret: 'billing-secret' } },
    });
    expect(idp.requestsTo(PATHS.token).map((r) => r.headers.authorization)).toHaveLength(2);
  });

  it.each<[string, Options['verifyOnStartup'], 'jwks' | 'secret' | 'both', number, number]>([
    ['the outbound side only: a failing JWKS', { outbound: true }, 'jwks', 1, 0],
    ['the inbound side only: a refused secret', { inbound: true }, 'secret', 0, 1],
    ['neither side (false): both failing', false, 'both', 0, 0],
    ['neither side ({}): both failing', {}, 'both', 0, 0],
    ['neither side (by default): both failing', undefined, 'both', 0, 0],
  ])(
    'checks %s is left alone',
    async (_case, verifyOnStartup, broken, tokenRequests, jwksRequests) => {
      if (broken !== 'secret') answer(PATHS.jwks, { status: 500 });
      const clientSecret = broken === 'jwks' ? SECRET : WRONG;
      await expect(boot({ clientSecret, verifyOnStartup })).resolves.toBeDefined();
      expect(idp.requestsTo(PATHS.token)).toHaveLength(tokenRequests);
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(jwksRequests);
    },
  );

  it('verifyOnStartup: true without client credentials: no token is asked for', async () => {
    await boot({ clientSecret: undefined, verifyOnStartup: true });
    expect(idp.requestsTo(PATHS.token)).toHaveLength(0);
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
  });

  it("verifyOnStartup: true with a strategy of the application's own: nothing inbound is fetched", async () => {
    answer(PATHS.jwks, { status: 500 });
    await boot({
      clientSecret: undefined,
      verification: { strategy: new OwnStrategy() },
      verifyOnStartup: true,
    });
    expect(idp.requests).toHaveLength(0);
  });
});

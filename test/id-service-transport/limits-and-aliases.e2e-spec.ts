import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Agent, type Dispatcher } from 'undici';
import {
  OidcClientCredentialsModule,
  TokenProvider,
  TokenProviderRegistry,
  TokenRequestError,
  TokenVerificationStrategy,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type FakeResponse } from 'nest-oidc-client-credentials/testing';
import { createCertificateAuthority, type CertificateAndKey } from '../utils/tls-certificates.js';
import { RecordingProxy } from './recording-proxy.js';
import { silent } from '../utils/silent-apps.js';

// The limits of calls to the ID service (http.timeoutMs, http.maxResponseBytes, no redirects)
// hold whatever the transport; and with a client certificate, the token and introspection
// requests go to the discovery document's mtls_endpoint_aliases.

describe('calls to the ID service: limits per transport, mTLS aliases (e2e)', () => {
  let idp: FakeIdService;
  let aliasIdp: FakeIdService;
  let proxy: RecordingProxy;
  let certificate: CertificateAndKey;
  let moduleRef: TestingModule | undefined;
  const dispatchers: Dispatcher[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start();
    // Where the aliases point: another service that knows the same client.
    aliasIdp = await FakeIdService.start();
    proxy = await RecordingProxy.start();
    certificate = createCertificateAuthority().issue({ commonName: 'orders', usage: 'client' });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await proxy.close();
    await aliasIdp.close();
    await idp.close();
  });
  beforeEach(() => {
    idp.reset();
    aliasIdp.reset();
    proxy.reset();
  });
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    await Promise.all(dispatchers.splice(0).map((dispatcher) => dispatcher.close()));
    delete process.env.HTTP_PROXY;
  });

  async function start(options: Partial<OidcClientCredentialsModuleOptions>) {
    moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'test-client',
          clientSecret: 'test-secret',
          retry: { maxAttempts: 1 },
          verification: { strategy: 'introspection', warnOnMissingAudience: false },
          ...options,
        }),
      ],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    return moduleRef;
  }

  const TRANSPORTS: [string, () => OidcClientCredentialsModuleOptions['http']][] = [
    ['the default keep-alive Agent', () => ({})],
    [
      'http.dispatcher',
      () => {
        const agent = new Agent();
        dispatchers.push(agent);
        return { dispatcher: agent };
      },
    ],
    ['http.fetch (the global fetch)', () => ({ fetch })],
    [
      "http.proxy: 'env'",
      () => {
        process.env.HTTP_PROXY = proxy.url;
        return { proxy: 'env' };
      },
    ],
  ];

  const LIMITS: [string, FakeResponse, OidcClientCredentialsModuleOptions['http'], RegExp][] = [
    [
      'a redirect is not followed',
      { status: 302, headers: { location: 'https://elsewhere.example.com/token' } },
      {},
      /a redirect \(HTTP 302\), which is not followed/,
    ],
    [
      'a body over maxResponseBytes is refused',
      { body: { access_token: 'x'.repeat(4096), token_type: 'Bearer' } },
      { maxResponseBytes: 1024 },
      /body larger than 1024 bytes/,
    ],
    ['no answer within timeoutMs', { hang: true }, { timeoutMs: 300 }, /timed out/],
  ];

  const ROWS = TRANSPORTS.flatMap(([transport, http]) =>
    LIMITS.map(
      ([limit, answer, limits, message]) =>
        [`${transport}: ${limit}`, http, answer, limits, message] as const,
    ),
  );

  it.each(ROWS)('%s', async (_case, http, answer, limits, message) => {
    idp.on(PATHS.token, () => answer);
    const app = await start({
      endpoints: { token: idp.url(PATHS.token) },
      http: { ...http(), ...limits },
    });
    const failure = await app
      .get(TokenProvider)
      .getToken()
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(TokenRequestError);
    expect((failure as Error).message).toMatch(message);
    expect((failure as Error).message).toContain(idp.url(PATHS.token));
    expect(idp.requestsTo(PATHS.token)).toHaveLength(1);
  });

  describe('mtls_endpoint_aliases', () => {
    beforeEach(async () => {
      const discovery = (await (await fetch(idp.url(PATHS.discovery))).json()) as object;
      idp.on(PATHS.discovery, () => ({
        body: {
          ...discovery,
          mtls_endpoint_aliases: {
            token_endpoint: aliasIdp.url(PATHS.token),
            introspection_endpoint: aliasIdp.url(PATHS.introspection),
          },
        },
      }));
    });

    const mtls = () => ({ cert: certificate.cert, key: certificate.key });

    it.each<[string, () => Partial<OidcClientCredentialsModuleOptions>, 'alias' | 'main']>([
      ['with mtls: the token request goes to the alias', () => ({ mtls: mtls() }), 'alias'],
      ['without mtls: to the token_endpoint', () => ({}), 'main'],
      [
        'with mtls and endpoints.token: the explicit endpoint wins',
        () => ({ mtls: mtls(), endpoints: { token: idp.url(PATHS.token) } }),
        'main',
      ],
    ])('%s', async (_case, options, where) => {
      const app = await start(options());
      await expect(app.get(TokenProvider).getToken()).resolves.toEqual(expect.any(String));
      expect(aliasIdp.requestsTo(PATHS.token)).toHaveLength(where === 'alias' ? 1 : 0);
      expect(idp.requestsTo(PATHS.token)).toHaveLength(where === 'main' ? 1 : 0);
    });

    it('named clients: their own certificate takes the alias, their own clientId without one does not', async () => {
      const app = await start({
        clients: {
          certified: { clientId: 'test-client', clientSecret: 'test-secret', mtls: mtls() },
          plain: { clientId: 'test-client', clientSecret: 'test-secret' },
        },
      });
      const registry = app.get(TokenProviderRegistry);
      await registry.get('certified').getToken();
      expect(aliasIdp.requestsTo(PATHS.token)).toHaveLength(1);
      await registry.get('plain').getToken();
      expect(idp.requestsTo(PATHS.token)).toHaveLength(1);
    });

    it('with mtls, introspection goes to its alias', async () => {
      const app = await start({ mtls: mtls() });
      // The alias answers for the same ID service: its issuer is the configured one.
      const claims = (await idp.introspect(idp.mintOpaque())) ?? {};
      aliasIdp.on(PATHS.introspection, () => ({ body: { ...claims, active: true } }));
      await expect(
        app.get(TokenVerificationStrategy).verify('opaque-token-at-the-alias'),
      ).resolves.toMatchObject({
        clientId: 'test-client',
      });
      expect(aliasIdp.requestsTo(PATHS.introspection)).toHaveLength(1);
      expect(idp.requestsTo(PATHS.introspection)).toHaveLength(0);
    });

    it('an alias that is not an acceptable URL fails discovery, naming it', async () => {
      idp.on(PATHS.discovery, () => ({
        body: {
          issuer: idp.issuer,
          token_endpoint: idp.url(PATHS.token),
          introspection_endpoint: idp.url(PATHS.introspection),
          mtls_endpoint_aliases: { introspection_endpoint: 'http://id.example.com/introspect' },
        },
      }));
      const app = await start({ mtls: mtls() });
      const failure = await app
        .get(TokenVerificationStrategy)
        .verify(idp.mintOpaque())
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(ValidatorUnavailableError);
      expect((failure as Error).message).toContain('mtls_endpoint_aliases.introspection_endpoint');
    });
  });
});

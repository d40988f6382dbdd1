import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import {
  DiscoveryError,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenRequestError,
  TokenVerificationStrategy,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import {
  createCertificateAuthority,
  type TestCertificateAuthority,
} from '../utils/tls-certificates.js';
import { HttpsIdService } from './https-id-service.js';
import { RecordingProxy, type ProxyMode } from './recording-proxy.js';
import { silent } from '../utils/silent-apps.js';

// The transport of every call to the ID service: through a CONNECT proxy (an undici ProxyAgent
// given as http.dispatcher, or HTTPS_PROXY / HTTP_PROXY / NO_PROXY with http.proxy: 'env'), and
// to an https ID service whose certificate only a private CA vouches for.

const PROXY_VARIABLES = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
];

describe('the transport to the ID service: proxies and private CAs (e2e)', () => {
  let idp: FakeIdService;
  let proxy: RecordingProxy;
  let moduleRef: TestingModule | undefined;
  const dispatchers: Dispatcher[] = [];
  const savedEnvironment: Record<string, string | undefined> = {};

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start();
    proxy = await RecordingProxy.start();
    for (const name of PROXY_VARIABLES) savedEnvironment[name] = process.env[name];
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await proxy.close();
    await idp.close();
  });
  beforeEach(() => {
    idp.reset();
    proxy.reset();
    for (const name of PROXY_VARIABLES) delete process.env[name];
  });
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    await Promise.all(dispatchers.splice(0).map((dispatcher) => dispatcher.close()));
    for (const name of PROXY_VARIABLES) {
      if (savedEnvironment[name] === undefined) delete process.env[name];
      else process.env[name] = savedEnvironment[name];
    }
  });

  /** A dispatcher the test owns (closed after it). */
  function own<T extends Dispatcher>(dispatcher: T): T {
    dispatchers.push(dispatcher);
    return dispatcher;
  }

  async function start(options: Partial<OidcClientCredentialsModuleOptions>) {
    moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'test-client',
          clientSecret: 'test-secret',
          verification: { strategy: 'auto', warnOnMissingAudience: false },
          ...options,
        }),
      ],
    })
      .setLogger(silent)
      .compile();
    await moduleRef.init();
    return moduleRef;
  }

  /** Discovery and a token, the JWKS for a JWT, introspection for an opaque token. */
  async function callEveryEndpoint(app: TestingModule): Promise<void> {
    await expect(app.get(TokenProvider).getToken()).resolves.toEqual(expect.any(String));
    const strategy = app.get(TokenVerificationStrategy);
    await expect(strategy.verify(await idp.mintJwt())).resolves.toMatchObject({
      clientId: 'test-client',
    });
    await expect(strategy.verify(idp.mintOpaque())).resolves.toMatchObject({
      clientId: 'test-client',
    });
  }

  const EVERY_CALL = [
    `GET ${PATHS.discovery}`,
    `POST ${PATHS.token}`,
    `GET ${PATHS.jwks}`,
    `POST ${PATHS.introspection}`,
  ];

  describe('through a CONNECT proxy', () => {
    it.each<[string, () => Partial<OidcClientCredentialsModuleOptions>]>([
      [
        'http.dispatcher: an undici ProxyAgent',
        () => ({ http: { dispatcher: own(new ProxyAgent(proxy.url)) } }),
      ],
      [
        "http.proxy: 'env' with HTTP_PROXY",
        () => {
          process.env.HTTP_PROXY = proxy.url;
          return { http: { proxy: 'env' } };
        },
      ],
      [
        "http.proxy: 'env' with http_proxy (lower case)",
        () => {
          process.env.http_proxy = proxy.url;
          return { http: { proxy: 'env' } };
        },
      ],
    ])('%s: discovery, token, JWKS and introspection all go through it', async (_case, options) => {
      const app = await start(options());
      await callEveryEndpoint(app);
      expect(new Set(proxy.connects)).toEqual(new Set([new URL(idp.issuer).host]));
      expect(proxy.tunnelled).toEqual(EVERY_CALL);
      // Nothing reached the ID service but through the proxy.
      expect(idp.requests.map((r) => `${r.method} ${r.path}`)).toEqual(EVERY_CALL);
    });

    it.each<[string, () => void]>([
      ['NO_PROXY names the host and port', () => (process.env.NO_PROXY = new URL(idp.issuer).host)],
      ['NO_PROXY names the host', () => (process.env.NO_PROXY = '127.0.0.1')],
      // The environment alone changes nothing: a proxy is used only when the options say so.
      ['HTTP_PROXY without http.proxy', () => undefined],
    ])('%s: no call goes through the proxy', async (name, environment) => {
      process.env.HTTP_PROXY = proxy.url;
      environment();
      const app = await start(name.startsWith('HTTP_PROXY') ? {} : { http: { proxy: 'env' } });
      await callEveryEndpoint(app);
      expect(proxy.connects).toEqual([]);
      expect(proxy.forwarded).toEqual([]);
      expect(idp.requests.map((r) => `${r.method} ${r.path}`)).toEqual(EVERY_CALL);
    });

    /** What a direct call to a port where nothing listens gives, to compare with. */
    async function directRefusal(): Promise<{ code: string; message: string }> {
      const closed = await FakeIdService.start();
      const issuer = closed.issuer;
      await closed.close();
      const app = await start({
        issuer,
        endpoints: { token: `${issuer}${PATHS.token}` },
        retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
      });
      return app
        .get(TokenProvider)
        .getToken()
        .then(
          () => ({ code: 'none', message: '' }),
          (error: TokenRequestError) => ({ code: error.code, message: error.message }),
        );
    }

    it.each<[string, ProxyMode, RegExp]>([
      ['a proxy that refuses the CONNECT (403)', 'refuse', /unreachable \(UND_ERR_PROXY_TUNNEL\)/],
      ['a proxy that answers garbage', 'garbage', /unreachable \(UND_ERR_PROXY_TUNNEL\)/],
    ])(
      '%s: the token request fails as transiently as a direct refused connection, naming the URL once',
      async (_case, mode, cause) => {
        const direct = await directRefusal();
        await moduleRef?.close();
        proxy.mode = mode;
        const tokenUrl = idp.url(PATHS.token);
        const app = await start({
          endpoints: { token: tokenUrl },
          http: { dispatcher: own(new ProxyAgent(proxy.url)) },
          retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 2 },
        });
        const failure = await app
          .get(TokenProvider)
          .getToken()
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        expect(failure).toBeInstanceOf(TokenRequestError);
        const error = failure as TokenRequestError;
        // Transient, like the direct call: retried, then OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE.
        expect(direct.code).toBe('OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE');
        expect(error.code).toBe(direct.code);
        expect(proxy.connects).toHaveLength(2);
        expect(error.message).toMatch(cause);
        expect(error.message.split(tokenUrl)).toHaveLength(2);
        expect(idp.requestCount()).toBe(0);
      },
    );

    it.each<[string, ProxyMode]>([
      ['refuses the CONNECT', 'refuse'],
      ['answers garbage', 'garbage'],
    ])(
      'a proxy that %s: the JWKS fetch is a 503-kind failure naming the URL and the cause',
      async (_case, mode) => {
        proxy.mode = mode;
        const app = await start({
          endpoints: { jwks: idp.url(PATHS.jwks) },
          verification: { strategy: 'jwt', warnOnMissingAudience: false },
          http: { dispatcher: own(new ProxyAgent(proxy.url)) },
        });
        const failure = await app
          .get(TokenVerificationStrategy)
          .verify(await idp.mintJwt())
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        expect(failure).toBeInstanceOf(ValidatorUnavailableError);
        const message = (failure as Error).message;
        expect(message).toContain(`GET ${idp.url(PATHS.jwks)}: `);
        expect(message).toMatch(
          mode === 'refuse'
            ? /: the proxy did not open the tunnel: HTTP 403 \(UND_ERR_PROXY_TUNNEL\)$/
            : /: the proxy did not open the tunnel: not an HTTP answer \(UND_ERR_PROXY_TUNNEL\)$/,
        );
      },
    );
  });

  describe('an https ID service with a private CA', () => {
    let ca: TestCertificateAuthority;
    let secure: HttpsIdService;

    beforeAll(async () => {
      ca = createCertificateAuthority('Corporate test CA');
      secure = await HttpsIdService.start(ca.issue({ commonName: '127.0.0.1' }));
    });
    afterAll(async () => {
      await secure.close();
    });
    beforeEach(() => {
      secure.paths.length = 0;
    });

    it.each<[string, () => Partial<OidcClientCredentialsModuleOptions>]>([
      [
        'http.dispatcher: an Agent trusting the CA',
        () => ({ http: { dispatcher: own(new Agent({ connect: { ca: ca.cert } })) } }),
      ],
      [
        'http.dispatcher: a ProxyAgent trusting the CA inside the tunnel',
        () => ({
          http: {
            dispatcher: own(new ProxyAgent({ uri: proxy.url, requestTls: { ca: ca.cert } })),
          },
        }),
      ],
    ])('%s: discovery and the token request succeed', async (_case, options) => {
      const app = await start({ issuer: secure.issuer, ...options() });
      await expect(app.get(TokenProvider).getToken()).resolves.toBe('private-ca-token');
      expect(secure.paths).toEqual(['/.well-known/openid-configuration', '/token']);
    });

    it.each<[string, () => Partial<OidcClientCredentialsModuleOptions>]>([
      ['no transport option (Node trusts its own CAs only)', () => ({})],
      ["http.proxy: 'env' without the CA", () => ({ http: { proxy: 'env' } })],
      [
        'an Agent trusting another CA',
        () => ({
          http: {
            dispatcher: own(new Agent({ connect: { ca: createCertificateAuthority().cert } })),
          },
        }),
      ],
    ])('%s: refused, naming the URL and the TLS errno', async (_case, options) => {
      const app = await start({ issuer: secure.issuer, retry: { maxAttempts: 1 }, ...options() });
      const failure = await app
        .get(TokenProvider)
        .getToken()
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(TokenRequestError);
      expect((failure as TokenRequestError).code).toBe('OIDC_CC_DISCOVERY_FAILED');
      expect((failure as Error).message).toMatch(
        new RegExp(
          `GET ${secure.issuer}/\\.well-known/openid-configuration: TLS failed \\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\)`,
        ),
      );
      expect(secure.paths).toEqual([]);
    });

    it('the DiscoveryError of a refused certificate, as verification sees it, is a 503', async () => {
      const app = await start({
        issuer: secure.issuer,
        retry: { maxAttempts: 1 },
        verification: { strategy: 'jwt', warnOnMissingAudience: false },
      });
      const failure = await app
        .get(TokenVerificationStrategy)
        .verify(await idp.mintJwt())
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(ValidatorUnavailableError);
      expect(failure).not.toBeInstanceOf(DiscoveryError);
      expect((failure as Error).message).toMatch(/TLS failed \([A-Z_]+\)/);
    });
  });
});

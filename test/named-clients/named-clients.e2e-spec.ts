import { Logger, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import { Keyv } from 'keyv';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  ConfigurationError,
  OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS,
  OidcClientCredentialsModule,
  TokenProvider,
  TokenProviderRegistry,
  type AuthorizedHttpOptions,
  type NamedClientOptions,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, type RecordedRequest } from 'nest-oidc-client-credentials/testing';
import { startRecordingApi, type RecordingApi } from '../utils/recording-api.js';
import {
  AsksForUnknownClient,
  Callers,
  FeatureAppModule,
  InvoiceSender,
  NamedClientsAppModule,
  PaymentChecker,
} from './app.module.js';
import { silent } from '../utils/silent-apps.js';

/** The client id a token request authenticated as (HTTP Basic, form-encoded id). */
function clientOf(request: RecordedRequest): string {
  const basic = Buffer.from(String(request.headers.authorization).slice(6), 'base64').toString();
  return decodeURIComponent(basic.slice(0, basic.indexOf(':')));
}

describe('named clients (e2e)', () => {
  let idp: FakeIdService;
  let api: RecordingApi;
  let apiUrl: string;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start({
      clients: {
        orders: { secret: 'orders-secret' },
        billing: { secret: 'billing-secret' },
      },
    });
    api = await startRecordingApi(seen, (path) => {
      // /refused stands for an API that refuses every token.
      const status = path === '/refused' ? 401 : 200;
      return { status, body: { ok: status === 200 } };
    });
    apiUrl = `${api.url}/`;
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await api.close();
    await idp.close();
  });
  afterEach(() => {
    idp.reset();
    seen.length = 0;
  });

  const rootOptions = (): OidcClientCredentialsModuleOptions => ({
    issuer: idp.issuer,
    clientId: 'orders',
    clientSecret: 'orders-secret',
    scope: 'orders:read',
    clients: {
      billing: { clientId: 'billing', clientSecret: 'billing-secret', scope: 'invoices:write' },
      reports: { scope: 'reports:read' },
    },
  });

  async function start(metadata: ModuleMetadata): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule(metadata).setLogger(silent).compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    return app;
  }

  async function startFailure(metadata: ModuleMetadata): Promise<Error> {
    const error = await start(metadata).then(
      async (app) => {
        await app.close();
        return new Error('the app started');
      },
      (e: unknown) => e as Error,
    );
    return error;
  }

  it('R02 two names and the root: one request per client, each token with its own identity and scope', async () => {
    const app = await start({ imports: [NamedClientsAppModule.register(rootOptions())] });
    try {
      const callers = app.get(Callers);
      const clients = { root: callers.root, billing: callers.billing, reports: callers.reports };
      // 20 concurrent callers per client, all three at once.
      const tokens = await Promise.all(
        Object.entries(clients).map(async ([name, provider]) => {
          const all = await Promise.all(Array.from({ length: 20 }, () => provider.getToken()));
          expect(new Set(all).size).toBe(1);
          return [name, all[0]] as const;
        }),
      );
      const requests = idp.requestsTo(PATHS.token);
      expect(requests).toHaveLength(3);
      expect(requests.map((r) => `${clientOf(r)} ${r.form.get('scope')}`).sort()).toEqual([
        'billing invoices:write',
        'orders orders:read',
        'orders reports:read',
      ]);

      const claims = Object.fromEntries(tokens.map(([name, token]) => [name, decodeJwt(token)]));
      expect(claims.root).toMatchObject({ sub: 'orders', scope: 'orders:read' });
      expect(claims.billing).toMatchObject({ sub: 'billing', scope: 'invoices:write' });
      expect(claims.reports).toMatchObject({ sub: 'orders', scope: 'reports:read' });

      // Cached per client: no further request, and still no cross-over.
      await expect(callers.billing.getToken()).resolves.toBe(tokens[1][1]);
      await expect(callers.reports.getToken()).resolves.toBe(tokens[2][1]);
      expect(idp.requestsTo(PATHS.token)).toHaveLength(3);
      // The issuer's metadata is discovered once for every client.
      expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it('R09 a named client renews on its own: dropping its token leaves the others cached', async () => {
    const app = await start({ imports: [NamedClientsAppModule.register(rootOptions())] });
    try {
      const { root, billing } = app.get(Callers);
      const first = await billing.getToken();
      const rootToken = await root.getToken();
      expect(billing.invalidate(first)).toBe(true);
      expect(root.invalidate(first)).toBe(false);
      await billing.getToken();
      await expect(root.getToken()).resolves.toBe(rootToken);
      expect(idp.requestsTo(PATHS.token).map(clientOf)).toEqual(['billing', 'orders', 'billing']);
    } finally {
      await app.close();
    }
  });

  it('the named HttpService sends its own client’s token, the root one the root token', async () => {
    const app = await start({ imports: [NamedClientsAppModule.register(rootOptions())] });
    try {
      const callers = app.get(Callers);
      await callers.get(callers.billingHttp, apiUrl);
      await callers.get(callers.rootHttp, apiUrl);
      expect(seen).toEqual([
        `Bearer ${await callers.billing.getToken()}`,
        `Bearer ${await callers.root.getToken()}`,
      ]);
      expect(callers.billingHttp).not.toBe(callers.rootHttp);
    } finally {
      await app.close();
    }
  });

  it.each<[string, AuthorizedHttpOptions | undefined, 'get' | 'post', number]>([
    ["'never': a refused GET is not repeated", { retryOnUnauthorized: 'never' }, 'get', 1],
    ["'all': a refused POST is repeated once", { retryOnUnauthorized: 'all' }, 'post', 2],
    ['default (idempotent): a refused GET is repeated once', undefined, 'get', 2],
    ['default (idempotent): a refused POST is not repeated', undefined, 'post', 1],
  ])(
    'authorizedHttp of the module applies to the root and the named HttpService: %s',
    async (_case, authorizedHttp, method, calls) => {
      const options = { ...rootOptions(), ...(authorizedHttp ? { authorizedHttp } : {}) };
      const app = await start({ imports: [NamedClientsAppModule.register(options)] });
      try {
        const { rootHttp, billingHttp } = app.get(Callers);
        for (const http of [rootHttp, billingHttp]) {
          seen.length = 0;
          const url = `${apiUrl}refused`;
          const request = method === 'post' ? http.post(url, {}) : http.get(url);
          await expect(firstValueFrom(request)).rejects.toMatchObject({
            response: { status: 401 },
          });
          expect(seen).toHaveLength(calls);
        }
      } finally {
        await app.close();
      }
    },
  );

  it.each([
    ['refuses', false, 'OIDC_CC_INSECURE_REQUEST'],
    ['lets through', true, undefined],
  ])(
    'the module’s allowInsecureHttp reaches its HttpServices: plain http off loopback %s',
    async (_case, allowInsecureHttp, code) => {
      const app = await start({
        imports: [NamedClientsAppModule.register({ ...rootOptions(), allowInsecureHttp })],
      });
      try {
        const { rootHttp, billingHttp } = app.get(Callers);
        // 0.0.0.0 reaches this machine on Linux, yet is not a loopback name.
        const url = apiUrl.replace('127.0.0.1', '0.0.0.0');
        for (const http of [rootHttp, billingHttp]) {
          const outcome = await firstValueFrom(http.get(url)).then(
            (response) => response.status,
            (error: { code?: string }) => error.code,
          );
          expect(outcome).toBe(code ?? 200);
        }
      } finally {
        await app.close();
      }
    },
  );

  it('the registry hands out the same clients by name, and names the unknown one', async () => {
    const app = await start({ imports: [NamedClientsAppModule.register(rootOptions())] });
    try {
      const registry = app.get(TokenProviderRegistry);
      const callers = app.get(Callers);
      expect(registry.get('billing')).toBe(callers.billing);
      expect(registry.get()).toBe(app.get(TokenProvider));
      expect(registry.httpService()).toBe(app.get(ClientCredentialsHttpService));
      expect(registry.httpService('billing')).toBe(callers.billingHttp);
      expect(registry.names()).toEqual(['default', 'billing', 'reports']);
      expect(() => registry.get('payroll')).toThrow(
        'Invalid option "clients.payroll": no client "payroll" is configured (configured: billing, reports)',
      );
    } finally {
      await app.close();
    }
  });

  it('two names configured alike keep their own cache entries, in process and in the shared store', async () => {
    const store = new Keyv();
    const app = await start({
      imports: [
        OidcClientCredentialsModule.forRoot({
          ...rootOptions(),
          cache: { stores: [store] },
          clients: { a: { scope: 'x' }, b: { scope: 'x' } },
        }),
      ],
    });
    try {
      const registry = app.get(TokenProviderRegistry);
      await Promise.all([registry.get('a').getToken(), registry.get('b').getToken()]);
      expect(idp.requestsTo(PATHS.token)).toHaveLength(2);
      const keys: string[] = [];
      for await (const [key] of store.iterator!(undefined)) keys.push(String(key));
      expect(keys.filter((key) => /:token:[0-9a-f]{64}$/.test(key))).toHaveLength(2);
    } finally {
      await app.close();
    }
  });

  describe('forRootAsync with clientNames', () => {
    const asyncRoot = (clientNames: string[]) =>
      OidcClientCredentialsModule.forRootAsync({
        useFactory: async () => rootOptions(),
        clientNames,
      });

    it('makes the listed clients injectable by name, each with its own identity and scope', async () => {
      const app = await start({
        imports: [asyncRoot(['billing', 'reports'])],
        providers: [Callers],
      });
      try {
        const callers = app.get(Callers);
        const [billing, reports] = await Promise.all([
          callers.billing.getToken(),
          callers.reports.getToken(),
        ]);
        expect(decodeJwt(billing)).toMatchObject({ sub: 'billing', scope: 'invoices:write' });
        expect(decodeJwt(reports)).toMatchObject({ sub: 'orders', scope: 'reports:read' });
        expect(await callers.get(callers.billingHttp, apiUrl)).toEqual({ ok: true });
        expect(seen).toEqual([`Bearer ${billing}`]);
      } finally {
        await app.close();
      }
    });

    it('extras stay out of the options the module resolves', async () => {
      const app = await start({
        imports: [
          OidcClientCredentialsModule.forRoot({ ...rootOptions(), clientNames: ['billing'] }),
        ],
      });
      try {
        const options = app.get(OIDC_CLIENT_CREDENTIALS_MODULE_OPTIONS, { strict: false });
        expect(options).not.toHaveProperty('clientNames');
        expect(options).toMatchObject({ clientId: 'orders' });
      } finally {
        await app.close();
      }
    });

    it('a listed name the resolved options do not configure fails at startup with its name', async () => {
      const error = await startFailure({ imports: [asyncRoot(['billing', 'payroll'])] });
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error.message).toMatch(/^Invalid option "clients\.payroll": no client "payroll"/);
    });
  });

  describe('forRootAsync (global) and forFeature', () => {
    const asyncRoot = (): OidcClientCredentialsModuleOptions => ({
      ...rootOptions(),
      clients: { billing: { clientId: 'billing', clientSecret: 'billing-secret' } },
    });

    it('forFeature adds the scope; features importing the same definition share one client', async () => {
      const app = await start({
        imports: [FeatureAppModule.register(asyncRoot(), { scope: 'invoices:write' })],
      });
      try {
        const invoices = app.get(InvoiceSender);
        const payments = app.get(PaymentChecker);
        expect(invoices.tokens).toBe(payments.tokens);
        await Promise.all([invoices.tokens.getToken(), payments.tokens.getToken()]);
        const requests = idp.requestsTo(PATHS.token);
        expect(requests.map((r) => `${clientOf(r)} ${r.form.get('scope')}`)).toEqual([
          'billing invoices:write',
        ]);
      } finally {
        await app.close();
      }
    });

    it('forFeature without options uses clients.<name> of the async options', async () => {
      const app = await start({ imports: [FeatureAppModule.register(asyncRoot(), undefined)] });
      try {
        const token = await app.get(InvoiceSender).tokens.getToken();
        expect(decodeJwt(token)).toMatchObject({ sub: 'billing', scope: 'orders:read' });
      } finally {
        await app.close();
      }
    });

    it.each<[string, NamedClientOptions | undefined, NamedClientOptions | undefined, string]>([
      [
        'two definitions of one name',
        { scope: 'invoices:write' },
        { scope: 'invoices:read' },
        `Invalid option "forFeature('billing')": client "billing" is already defined with other options`,
      ],
      [
        'another client id without its own secret',
        { clientId: 'payroll' },
        { clientId: 'payroll' },
        `Invalid option "forFeature('billing').clientSecret": required with client_secret_basic`,
      ],
    ])('fails at startup: %s', async (_case, first, second, message) => {
      const error = await startFailure({
        imports: [FeatureAppModule.register(asyncRoot(), first, second)],
      });
      expect(error).toBeInstanceOf(ConfigurationError);
      expect(error.message).toContain(message);
      expect(idp.requests).toHaveLength(0);
    });

    it('a name defined nowhere fails at startup, naming it', async () => {
      const error = await startFailure({
        imports: [FeatureAppModule.register({ ...asyncRoot(), clients: undefined }, undefined)],
      });
      expect(error.message).toBe(
        'Invalid option "clients.billing": no client "billing" is configured (the options define no named clients); add it under clients or pass its options to forFeature(\'billing\', { … })',
      );
    });

    it('forFeature without a global root says so', async () => {
      const error = await startFailure({
        imports: [
          OidcClientCredentialsModule.forRoot(asyncRoot()),
          {
            module: class BillingModule {},
            imports: [OidcClientCredentialsModule.forFeature('billing')],
            providers: [InvoiceSender],
          },
        ],
      });
      expect(error.message).toContain(
        `Invalid option "forFeature('billing')": needs OidcClientCredentialsModule.forRoot or forRootAsync registered with isGlobal: true`,
      );
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a named client without its secret',
      { billing: { clientId: 'billing', scope: 'invoices:write' } },
      'Invalid option "clients.billing.clientSecret": required with client_secret_basic',
    ],
    [
      'a secret without its own client id',
      { billing: { clientSecret: 'billing-secret' } },
      `Invalid option "clients.billing.clientId": required with clients.billing.clientSecret`,
    ],
    [
      'a private key client without its key',
      { billing: { clientId: 'billing', clientAuthMethod: 'private_key_jwt' } },
      'Invalid option "clients.billing.privateKey": required with private_key_jwt',
    ],
    [
      'an option every client shares',
      { billing: { http: { timeoutMs: 1000 } } as NamedClientOptions },
      'Invalid option "clients.billing.http": is shared by every client: set it in the root options',
    ],
    [
      'a misspelt option',
      { billing: { clientID: 'billing' } },
      'Invalid option "clients.billing.clientID": unknown; a named client may set clientId',
    ],
    [
      'a bad scope',
      { billing: { scope: [] } },
      'Invalid option "clients.billing.scope": expected a non-empty string',
    ],
    [
      'the reserved name',
      { default: { scope: 'x' } },
      'Invalid option "clients": "default" is not a client name',
    ],
    ['a name with spaces', { 'my client': { scope: 'x' } }, '"my client" is not a client name'],
  ])('fails at startup, naming the option: %s', async (_case, clients, message) => {
    const error = await startFailure({
      imports: [
        OidcClientCredentialsModule.forRoot({
          ...rootOptions(),
          clients: clients as Record<string, NamedClientOptions>,
        }),
      ],
    });
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain(message);
    expect(error.message).not.toContain('billing-secret');
    expect(idp.requests).toHaveLength(0);
  });

  it('a named client with its own private key (private_key_jwt) next to the root secret client', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'signer-1', alg: 'ES256' };
    idp.clients.signer = { jwks: { keys: [publicJwk] } };
    const app = await start({
      imports: [
        OidcClientCredentialsModule.forRoot({
          ...rootOptions(),
          clients: {
            signer: {
              clientId: 'signer',
              clientAuthMethod: 'private_key_jwt',
              privateKey: { ...(await exportJWK(privateKey)), kid: 'signer-1', alg: 'ES256' },
              scope: 'sign',
            },
          },
        }),
      ],
    });
    try {
      const token = await app.get(TokenProviderRegistry).get('signer').getToken();
      expect(decodeJwt(token)).toMatchObject({ sub: 'signer', scope: 'sign' });
      const [request] = idp.requestsTo(PATHS.token);
      expect(request.headers.authorization).toBeUndefined();
      expect(decodeJwt(request.form.get('client_assertion')!)).toMatchObject({ sub: 'signer' });
    } finally {
      await app.close();
      delete idp.clients.signer;
    }
  });

  it('a named client’s private key that cannot be imported fails at startup, naming it', async () => {
    const error = await startFailure({
      imports: [
        OidcClientCredentialsModule.forRoot({
          ...rootOptions(),
          clients: {
            signer: {
              clientId: 'signer',
              clientAuthMethod: 'private_key_jwt',
              privateKey: { kty: 'RSA', alg: 'RS256', kid: 'k1', n: 'AQAB', e: 'AQAB', d: 'AQAB' },
            },
          },
        }),
      ],
    });
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(
      /^Invalid option "clients\.signer\.privateKey": could not be imported as a private RS256 key/,
    );
  });

  it('injecting a client nobody configured fails at startup with the client’s name', async () => {
    const error = await startFailure({
      imports: [OidcClientCredentialsModule.forRoot(rootOptions())],
      providers: [AsksForUnknownClient],
    });
    expect(error.message).toContain('nest-oidc-client-credentials:TokenProvider(unknown)');
  });
});

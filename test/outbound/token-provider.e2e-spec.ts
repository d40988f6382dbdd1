import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ClientCredentialsHttpService,
  ConfigurationError,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { startRecordingApi, type RecordingApi } from '../utils/recording-api.js';
import { OrdersClient, OutboundAppModule, type Registration } from './app.module.js';
import { silent } from '../utils/silent-apps.js';

describe('outbound module wiring (e2e)', () => {
  let idp: FakeIdService;
  let api: RecordingApi;
  let apiUrl: string;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start({
      clients: { billing: { secret: 's3cret' } },
      tokenFormat: 'opaque',
    });
    api = await startRecordingApi(seen, () => ({ status: 200, body: [{ id: 1 }] }));
    apiUrl = `${api.url}/orders`;
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

  async function boot(options: Partial<OidcClientCredentialsModuleOptions>, how?: Registration) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OutboundAppModule.register(
          { issuer: idp.issuer, clientId: 'billing', clientSecret: 's3cret', ...options },
          how,
        ),
      ],
    })
      .setLogger(silent)
      .compile();
    const app = moduleRef.createNestApplication();
    await app.init();
    return app;
  }

  it.each<Registration>(['forRoot', 'useFactory', 'useClass', 'useExisting'])(
    '%s: a user service calls an API with the token, obtained once via discovery',
    async (how) => {
      const app = await boot({}, how);
      try {
        const orders = app.get(OrdersClient);
        await expect(orders.list(apiUrl)).resolves.toEqual([{ id: 1 }]);
        await orders.list(apiUrl);
        const token = await orders.tokens.getToken();
        expect(seen).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
        expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);
        expect(idp.requestsTo(PATHS.token)).toHaveLength(1);
        expect(app.get(TokenProvider)).toBe(orders.tokens);
        expect(app.get(ClientCredentialsHttpService)).toBeInstanceOf(ClientCredentialsHttpService);
      } finally {
        await app.close();
      }
    },
  );

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
    ['secret without client id', { clientId: undefined }, 'clientId'],
    [
      'private key that is not one',
      {
        clientSecret: undefined,
        clientAuthMethod: 'private_key_jwt',
        privateKey: { kty: 'RSA', alg: 'RS256', n: 'AQAB', e: 'AQAB', d: 'AQAB' },
      },
      'privateKey',
    ],
  ])('a half-configured outbound side fails at startup: %s', async (_case, options, option) => {
    const error = await boot(options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ option });
    expect((error as Error).message).toContain(`"${option}"`);
    expect(idp.requests).toHaveLength(0);
  });

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string]>([
    ['no client options', { clientId: undefined, clientSecret: undefined }, 'clientId'],
    ['client id without secret', { clientSecret: undefined }, 'clientSecret'],
    [
      'private_key_jwt without key',
      { clientSecret: undefined, clientAuthMethod: 'private_key_jwt' },
      'privateKey',
    ],
  ])(
    'an inbound-only app boots (%s); asking it for a token names the missing option',
    async (_case, options, option) => {
      const app = await boot(options);
      try {
        await expect(app.get(TokenProvider).getToken()).rejects.toMatchObject({
          code: 'OIDC_CC_CONFIGURATION_INVALID',
          option,
        });
      } finally {
        await app.close();
      }
    },
  );
});

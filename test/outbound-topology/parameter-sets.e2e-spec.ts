import { randomBytes } from 'node:crypto';
import { type INestApplication } from '@nestjs/common';
import { Keyv } from 'keyv';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { startRecordingApi } from '../utils/recording-api.js';
import { SilentModuleApps } from '../utils/silent-apps.js';

const R1 = 'https://api-one.example/';
const R2 = 'https://api-two.example/';
const R3 = 'https://api-three.example/';
const KEY = randomBytes(32).toString('base64');

/** What one call settled with: its token, or its error's code. */
const outcome = (call: Promise<string>): Promise<string> =>
  call.then(
    () => 'token',
    (error: unknown) => (error as { code?: string }).code ?? 'no code',
  );

describe('parameter sets of getToken() (fake ID service)', () => {
  let idp: FakeIdService;
  const apps = new SilentModuleApps();

  beforeAll(async () => {
    idp = await FakeIdService.start();
  });
  afterAll(async () => {
    await idp.close();
  });
  afterEach(async () => {
    idp.reset();
  });

  async function start(
    extra: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<INestApplication> {
    return apps.start({
      issuer: idp.issuer,
      clientId: 'test-client',
      clientSecret: 'test-secret',
      retry: { maxAttempts: 1 },
      ...extra,
    });
  }

  /** The `resource` of each token request received, in order (`-` for none). */
  const requestedResources = () =>
    idp.requestsTo(PATHS.token).map((request) => request.form.getAll('resource').join(' ') || '-');

  it('instances on one shared cache share each parameter set under its own key', async () => {
    const store = new Keyv();
    const cache = { stores: [store], encryptionKey: KEY };
    const first = (await start({ cache })).get(TokenProvider);
    const second = (await start({ cache })).get(TokenProvider);

    const one = await first.getToken({ resource: R1 });
    await expect(second.getToken({ resource: [R1, R1] })).resolves.toBe(one);
    const two = await second.getToken({ resource: R2 });
    const own = await second.getToken();
    expect(new Set([one, two, own]).size).toBe(3);
    await expect(first.getToken({ resource: R2 })).resolves.toBe(two);
    await expect(first.getToken()).resolves.toBe(own);
    expect(requestedResources()).toEqual([R1, R2, '-']);
  });

  it('a refusal for one parameter set holds back that set only, not the others', async () => {
    idp.on(PATHS.token, (request) =>
      request.form.get('resource') === R1
        ? { status: 400, body: { error: 'invalid_target' } }
        : undefined,
    );
    const tokens = (await start()).get(TokenProvider);
    await expect(outcome(tokens.getToken({ resource: R1 }))).resolves.toBe(
      'OIDC_CC_TOKEN_REQUEST_FAILED',
    );
    await expect(outcome(tokens.getToken({ resource: R2 }))).resolves.toBe('token');
    await expect(outcome(tokens.getToken())).resolves.toBe('token');
    // Within the refusal cooldown: the same answer for R1, without asking again.
    await expect(outcome(tokens.getToken({ resource: R1 }))).resolves.toBe(
      'OIDC_CC_TOKEN_REQUEST_FAILED',
    );
    expect(requestedResources()).toEqual([R1, R2, '-']);
  });

  it('the parameter sets share their client circuit: the token endpoint failing opens it for all', async () => {
    idp.on(PATHS.token, () => ({ status: 503, body: { error: 'temporarily_unavailable' } }));
    const tokens = (await start({ circuitBreaker: { failureThreshold: 2 } })).get(TokenProvider);
    await expect(outcome(tokens.getToken({ resource: R1 }))).resolves.toBe(
      'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
    );
    await expect(outcome(tokens.getToken({ resource: R2 }))).resolves.toBe(
      'OIDC_CC_TOKEN_ENDPOINT_UNAVAILABLE',
    );
    for (const call of [tokens.getToken({ resource: R3 }), tokens.getToken()]) {
      await expect(outcome(call)).resolves.toBe('OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN');
    }
    expect(requestedResources()).toEqual([R1, R2]);
    expect(tokens.status().circuit).toBe('open');
  });

  it('the HttpService renews the token of the refusing origin resource after a 401, and retries once', async () => {
    const seen: (string | undefined)[] = [];
    let calls = 0;
    const api = await startRecordingApi(seen, () => {
      calls += 1;
      return calls === 1 ? { status: 401, body: {} } : { status: 200, body: { ok: true } };
    });
    try {
      const app = await start({ authorizedHttp: { resources: { [api.url]: R1 } } });
      const { data } = await firstValueFrom(
        app.get(ClientCredentialsHttpService).get<{ ok: boolean }>(`${api.url}/orders`),
      );
      expect(data).toEqual({ ok: true });
      expect(seen).toHaveLength(2);
      expect(seen[0]).not.toBe(seen[1]);
      expect(requestedResources()).toEqual([R1, R1]);
    } finally {
      await api.close();
    }
  });
});

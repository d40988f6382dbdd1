import { decodeJwt } from 'jose';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  TokenProvider,
  TokenProviderRegistry,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { startOidcProvider, type RunningOidcProvider } from '../utils/oidc-provider.js';
import { startRecordingApi, type RecordingApi } from '../utils/recording-api.js';
import { startCountingProxy, type CountingProxy } from './counting-proxy.js';
import { SilentModuleApps } from '../utils/silent-apps.js';

const R1 = 'https://api-one.example/';
const R2 = 'https://api-two.example/';
const R3 = 'https://api-three.example/';

/** The token's audience as one string (oidc-provider sets a single `aud` per resource). */
const audienceOf = (token: string): unknown => decodeJwt(token).aud;

describe('outbound topology: issuers per client, tokens per parameter set (oidc-provider)', () => {
  let a: RunningOidcProvider;
  let b: RunningOidcProvider;
  /** In front of A's token endpoint: counts the token requests that reach A. */
  let proxy: CountingProxy;
  const apps = new SilentModuleApps();

  beforeAll(async () => {
    [a, b] = await Promise.all([
      startOidcProvider({
        clients: [
          { client_id: 'orders-app', client_secret: 'a-secret', scope: 'orders:read orders:write' },
        ],
        accessTokenFormat: 'jwt',
      }),
      startOidcProvider({
        clients: [{ client_id: 'partner-app', client_secret: 'b-secret', scope: 'partner:read' }],
        accessTokenFormat: 'jwt',
      }),
    ]);
    proxy = await startCountingProxy(a.issuer);
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  });
  afterEach(async () => {
    proxy.posts.length = 0;
  });

  const { start } = apps;

  /** The root client at A, its token requests through the counting proxy. */
  const atA = (extra: Partial<OidcClientCredentialsModuleOptions> = {}) => ({
    issuer: a.issuer,
    endpoints: { token: `${proxy.url}/openid/token` },
    clientId: 'orders-app',
    clientSecret: 'a-secret',
    scope: 'orders:read',
    ...extra,
  });

  it('a root client on A and a named client on B each get their token from their own issuer', async () => {
    const app = await start({
      issuer: a.issuer,
      clientId: 'orders-app',
      clientSecret: 'a-secret',
      scope: 'orders:read',
      clients: {
        partner: { issuer: b.issuer, clientId: 'partner-app', clientSecret: 'b-secret' },
      },
    });
    const root = await app.get(TokenProvider).getToken();
    const partner = await app.get(TokenProviderRegistry).get('partner').getToken();
    expect(decodeJwt(root)).toMatchObject({ iss: a.issuer, client_id: 'orders-app' });
    expect(decodeJwt(partner)).toMatchObject({ iss: b.issuer, client_id: 'partner-app' });
    // The partner client requested no scope: the root's is not inherited across issuers.
    expect(decodeJwt(partner).scope).toBeUndefined();
  });

  it('verifyOnStartup: a named client refused at B names B and its token endpoint, never A', async () => {
    const error = await start({
      issuer: a.issuer,
      clientId: 'orders-app',
      clientSecret: 'a-secret',
      verifyOnStartup: { outbound: true },
      clients: {
        partner: { issuer: b.issuer, clientId: 'partner-app', clientSecret: 'wrong-secret' },
      },
    }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain('client "partner" got no token');
    expect(error?.message).toContain(`[POST ${b.endpoints.token}]`);
    expect(error?.message).not.toContain(a.issuer);
  });

  it('100 concurrent getToken({ resource: R1 }) and 100 with R2: exactly 2 token requests, each aud its resource', async () => {
    const tokens = (await start(atA())).get(TokenProvider);
    const calls = Array.from({ length: 200 }, (_, i) =>
      tokens.getToken({ resource: i % 2 === 0 ? R1 : R2 }),
    );
    const issued = await Promise.all(calls);
    const forR1 = new Set(issued.filter((_, i) => i % 2 === 0));
    const forR2 = new Set(issued.filter((_, i) => i % 2 === 1));
    expect([forR1.size, forR2.size]).toEqual([1, 1]);
    expect(proxy.posts).toHaveLength(2);
    expect(proxy.posts.map((form) => form.get('resource')).sort()).toEqual([R1, R2]);
    expect(audienceOf([...forR1][0]!)).toBe(R1);
    expect(audienceOf([...forR2][0]!)).toBe(R2);
    // The client's own token is another entry, untouched by the parameter sets.
    const own = await tokens.getToken();
    expect(proxy.posts).toHaveLength(3);
    expect(proxy.posts[2]!.get('resource')).toBeNull();
    expect([...forR1, ...forR2]).not.toContain(own);
  });

  it.each<
    [string, Parameters<TokenProvider['getToken']>[0], Parameters<TokenProvider['getToken']>[0]]
  >([
    ['scope order', { scope: 'orders:read orders:write' }, { scope: 'orders:write orders:read' }],
    [
      'scope array with a duplicate',
      { scope: 'orders:write orders:read' },
      { scope: ['orders:read', 'orders:write', 'orders:read'] },
    ],
    ['resource as a string or a one-item array', { resource: R1 }, { resource: [R1] }],
  ])('normalised parameter sets share one token: %s', async (_case, first, second) => {
    const tokens = (await start(atA())).get(TokenProvider);
    const one = await tokens.getToken(first);
    await expect(tokens.getToken(second)).resolves.toBe(one);
    expect(proxy.posts).toHaveLength(1);
  });

  it('a call that asks for the configured parameters gets the client own token', async () => {
    const tokens = (await start(atA())).get(TokenProvider);
    const own = await tokens.getToken();
    await expect(tokens.getToken({ scope: ['orders:read'] })).resolves.toBe(own);
    expect(proxy.posts).toHaveLength(1);
  });

  it('tokenRenewal.maxParameterSets bounds the sets kept: the least recently used is forgotten', async () => {
    const tokens = (await start(atA({ tokenRenewal: { maxParameterSets: 2 } }))).get(TokenProvider);
    const first = await tokens.getToken({ resource: R1 });
    await tokens.getToken({ resource: R2 });
    // R1 used again: R2 is now the least recently used.
    await expect(tokens.getToken({ resource: R1 })).resolves.toBe(first);
    await tokens.getToken({ resource: R3 });
    expect(proxy.posts).toHaveLength(3);
    // R1 and R3 are kept; R2 was forgotten and is requested again.
    await expect(tokens.getToken({ resource: R1 })).resolves.toBe(first);
    await tokens.getToken({ resource: R3 });
    expect(proxy.posts).toHaveLength(3);
    const again = await tokens.getToken({ resource: R2 });
    expect(proxy.posts).toHaveLength(4);
    expect(audienceOf(again)).toBe(R2);
  });

  it('invalidate() drops the token of the parameter set that holds it, and only that one', async () => {
    const tokens = (await start(atA())).get(TokenProvider);
    const one = await tokens.getToken({ resource: R1 });
    const two = await tokens.getToken({ resource: R2 });
    expect(tokens.invalidate(one)).toBe(true);
    await expect(tokens.getToken({ resource: R2 })).resolves.toBe(two);
    const renewed = await tokens.getToken({ resource: R1 });
    expect(renewed).not.toBe(one);
    expect(audienceOf(renewed)).toBe(R1);
    expect(proxy.posts).toHaveLength(3);
  });

  describe('ClientCredentialsHttpService with authorizedHttp.resources', () => {
    const seen: Record<'one' | 'two' | 'unlisted', (string | undefined)[]> = {
      one: [],
      two: [],
      unlisted: [],
    };
    let apiOne: RecordingApi;
    let apiTwo: RecordingApi;
    let unlisted: RecordingApi;
    beforeAll(async () => {
      const ok = () => ({ status: 200, body: { ok: true } });
      [apiOne, apiTwo, unlisted] = await Promise.all([
        startRecordingApi(seen.one, ok),
        startRecordingApi(seen.two, ok),
        startRecordingApi(seen.unlisted, ok),
      ]);
    });
    afterAll(async () => {
      await Promise.all([apiOne.close(), apiTwo.close(), unlisted.close()]);
    });

    it('each listed origin receives a token whose audience is its own resource; an unlisted origin receives nothing', async () => {
      const app = await start(
        atA({ authorizedHttp: { resources: { [apiOne.url]: R1, [`${apiTwo.url}/`]: [R2] } } }),
      );
      const http = app.get(ClientCredentialsHttpService);
      await firstValueFrom(http.get(`${apiOne.url}/orders`));
      await firstValueFrom(http.get(`${apiTwo.url}/stock`));
      await firstValueFrom(http.get(`${apiOne.url}/orders/2`));
      const refusal = await firstValueFrom(http.get(`${unlisted.url}/anything`)).then(
        () => undefined,
        (error: unknown) => error as { code?: string; message?: string },
      );

      const bearer = (header: string | undefined) => /^Bearer (.+)$/.exec(header ?? '')?.[1];
      expect(seen.one).toHaveLength(2);
      expect(seen.one.map((header) => audienceOf(bearer(header)!))).toEqual([R1, R1]);
      expect(seen.two.map((header) => audienceOf(bearer(header)!))).toEqual([R2]);
      expect(seen.unlisted).toEqual([]);
      expect(refusal?.code).toBe('OIDC_CC_DESTINATION_NOT_ALLOWED');
      expect(refusal?.message).toContain(unlisted.url);
      // One token per resource, none for the unlisted origin.
      expect(proxy.posts.map((form) => form.get('resource')).sort()).toEqual([R1, R2]);
    });
  });
});

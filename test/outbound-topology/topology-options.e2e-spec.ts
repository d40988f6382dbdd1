import {
  ConfigurationError,
  TokenProvider,
  TokenProviderRegistry,
  type GetTokenOptions,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { SilentModuleApps } from '../utils/silent-apps.js';

describe('outbound topology options and call parameters: bad input', () => {
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

  const root = (): OidcClientCredentialsModuleOptions => ({
    issuer: idp.issuer,
    clientId: 'test-client',
    clientSecret: 'test-secret',
  });

  const { start } = apps;

  const partner = { clientId: 'partner', clientSecret: 'partner-secret' };

  it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string, RegExp]>([
    [
      'a named client at another issuer without its own clientId',
      { clients: { partner: { issuer: 'https://id.partner.example' } } },
      'clients.partner.clientId',
      /never uses the root's/,
    ],
    [
      'a named client with endpoints but no issuer of its own',
      { clients: { partner: { ...partner, endpoints: { token: 'https://id.example/token' } } } },
      'clients.partner.endpoints',
      /only with clients\.partner\.issuer/,
    ],
    [
      'a named client issuer that is not http(s)',
      { clients: { partner: { ...partner, issuer: 'ftp://id.partner.example' } } },
      'clients.partner.issuer',
      /https/,
    ],
    [
      'a named client issuer over http off loopback',
      { clients: { partner: { ...partner, issuer: 'http://id.partner.example' } } },
      'clients.partner.issuer',
      /loopback/,
    ],
    [
      'a named client issuer with a query',
      { clients: { partner: { ...partner, issuer: 'https://id.partner.example/?tenant=1' } } },
      'clients.partner.issuer',
      /query/,
    ],
    [
      'a named client token endpoint that is not a URL',
      {
        clients: {
          partner: { ...partner, issuer: 'https://id.partner.example', endpoints: { token: 'x' } },
        },
      },
      'clients.partner.endpoints.token',
      /absolute/,
    ],
    [
      'a named client endpoint other than token',
      {
        clients: {
          partner: {
            ...partner,
            issuer: 'https://id.partner.example',
            endpoints: { jwks: 'https://id.partner.example/jwks' } as never,
          },
        },
      },
      'clients.partner.endpoints.jwks',
      /./,
    ],
    [
      'a resources key with a path',
      { authorizedHttp: { resources: { 'https://api.example/v1': 'https://api.example/' } } },
      'authorizedHttp.resources["https://api.example/v1"]',
      /origin/,
    ],
    [
      'a resources key over http off loopback',
      { authorizedHttp: { resources: { 'http://api.example': 'https://api.example/' } } },
      'authorizedHttp.resources["http://api.example"]',
      /loopback/,
    ],
    [
      'a resources key naming an origin twice',
      {
        authorizedHttp: {
          resources: { 'https://api.example': 'urn:a', 'https://API.example:443/': 'urn:b' },
        },
      },
      'authorizedHttp.resources["https://API.example:443/"]',
      /second time/,
    ],
    [
      'a resource indicator with a fragment',
      { authorizedHttp: { resources: { 'https://api.example': 'https://api.example/#x' } } },
      'authorizedHttp.resources["https://api.example"]',
      /fragment/,
    ],
    [
      'a resource indicator that is not a URI',
      { authorizedHttp: { resources: { 'https://api.example': 'api' } } },
      'authorizedHttp.resources["https://api.example"]',
      /absolute URI/,
    ],
    [
      'no resource indicator',
      { authorizedHttp: { resources: { 'https://api.example': [] } } },
      'authorizedHttp.resources["https://api.example"]',
      /non-empty/,
    ],
    [
      'resources not an object',
      { authorizedHttp: { resources: ['https://api.example'] as never } },
      'authorizedHttp.resources',
      /origin/,
    ],
    [
      'maxParameterSets of 0',
      { tokenRenewal: { maxParameterSets: 0 } },
      'tokenRenewal.maxParameterSets',
      /positive integer/,
    ],
    [
      'maxParameterSets not an integer',
      { tokenRenewal: { maxParameterSets: 1.5 } },
      'tokenRenewal.maxParameterSets',
      /positive integer/,
    ],
  ])('startup fails, naming the option: %s', async (_case, options, option, problem) => {
    const error = await start({ ...root(), ...options }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).option).toBe(option);
    expect((error as Error).message).toMatch(problem);
    expect(idp.requestCount()).toBe(0);
  });

  it.each<[string, GetTokenOptions, RegExp]>([
    ['a resource that is not an absolute URI', { resource: 'orders' }, /"resource".*absolute URI/],
    ['a resource with a fragment', { resource: 'https://api.example/#frag' }, /fragment/],
    ['a scope with a quote', { scope: 'orders:read "x' }, /"scope"/],
    ['an empty scope', { scope: '   ' }, /at least one scope/],
    ['an empty resource array', { resource: [] }, /non-empty array/],
    ['an empty audience', { audience: '' }, /"audience"/],
    ['an audience with a line break', { audience: 'api\r\nX: 1' }, /%x20-7E/],
    [
      'more than 32 resources',
      { resource: Array.from({ length: 33 }, (_, i) => `urn:api:${i}`) },
      /at most 32/,
    ],
    ['a resource longer than 2048 characters', { resource: `urn:${'x'.repeat(2048)}` }, /2048/],
    ['a value that is not a string', { scope: [42 as never] }, /strings/],
  ])('getToken() refuses %s before any request', async (_case, options, problem) => {
    const tokens = (await start(root())).get(TokenProvider);
    const error = await tokens.getToken(options).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe('OIDC_CC_TOKEN_PARAMETERS_INVALID');
    expect(error?.message).toMatch(problem);
    expect(idp.requestCount(PATHS.token)).toBe(0);
  });

  it('a named client at another issuer inherits none of the root token parameters', async () => {
    const partnerIssuer = await FakeIdService.start({
      clients: { partner: { secret: 'partner-secret' } },
    });
    try {
      const app = await start({
        ...root(),
        scope: 'orders:read',
        audience: 'https://orders.example',
        extraParams: { tenant: 'acme' },
        clients: { partner: { ...partner, issuer: partnerIssuer.issuer } },
      });
      await app.get(TokenProviderRegistry).get('partner').getToken();
      const [request] = partnerIssuer.requestsTo(PATHS.token);
      expect([...request!.form.keys()].sort()).toEqual(['grant_type']);
      expect(idp.requestCount()).toBe(0);
    } finally {
      await partnerIssuer.close();
    }
  });
});

import { TokenProvider, TokenProviderRegistry } from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { SilentModuleApps } from '../utils/silent-apps.js';

/** RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path. */
const OAUTH_METADATA = '/.well-known/oauth-authorization-server';

describe('discovery of an issuer that publishes RFC 8414 metadata only (fake ID service)', () => {
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

  const { start } = apps;

  /** Serves RFC 8414 metadata for `issuer` at `path` (the token endpoint is the fake's). */
  function publishOAuthMetadata(path: string, issuer: string): void {
    idp.on(path, () => ({
      body: {
        issuer,
        token_endpoint: idp.url(PATHS.token),
        grant_types_supported: ['client_credentials'],
      },
    }));
  }

  const client = {
    clientId: 'test-client',
    clientSecret: 'test-secret',
    retry: { maxAttempts: 1 },
  };
  const fetched = () => idp.requests.map((request) => `${request.method} ${request.path}`);

  it.each<[string, string, string]>([
    ['an issuer with a path: the segment goes before it', '/tenant', `${OAUTH_METADATA}/tenant`],
    ['an issuer without a path', '', OAUTH_METADATA],
  ])(
    'OpenID Connect discovery answers 404, RFC 8414 metadata is found: %s',
    async (_case, issuerPath, metadataPath) => {
      const issuer = `${idp.issuer}${issuerPath}`;
      if (issuerPath === '') idp.on(PATHS.discovery, () => ({ status: 404, body: {} }));
      publishOAuthMetadata(metadataPath, issuer);
      const tokens = (await start({ issuer, ...client })).get(TokenProvider);
      await expect(tokens.getToken()).resolves.toEqual(expect.any(String));
      expect(fetched()).toEqual([
        `GET ${issuerPath}${PATHS.discovery}`,
        `GET ${metadataPath}`,
        `POST ${PATHS.token}`,
      ]);
    },
  );

  it('a named client at an RFC 8414-only issuer of its own discovers it there', async () => {
    const partner = `${idp.issuer}/partner`;
    publishOAuthMetadata(`${OAUTH_METADATA}/partner`, partner);
    const started = await start({
      issuer: idp.issuer,
      ...client,
      clients: {
        partner: { issuer: partner, clientId: 'test-client', clientSecret: 'test-secret' },
      },
    });
    await expect(started.get(TokenProviderRegistry).get('partner').getToken()).resolves.toEqual(
      expect.any(String),
    );
    expect(fetched()).toEqual([
      `GET /partner${PATHS.discovery}`,
      `GET ${OAUTH_METADATA}/partner`,
      `POST ${PATHS.token}`,
    ]);
  });

  it.each<[string, number]>([
    ['503', 503],
    ['500', 500],
    ['401', 401],
  ])(
    'OpenID Connect discovery answers %s: no fallback, the failure names that URL',
    async (_case, status) => {
      idp.on(PATHS.discovery, () => ({ status, body: { error: 'temporarily_unavailable' } }));
      publishOAuthMetadata(OAUTH_METADATA, idp.issuer);
      const tokens = (await start({ issuer: idp.issuer, ...client })).get(TokenProvider);
      const error = await tokens.getToken().then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(error?.code).toBe('OIDC_CC_DISCOVERY_FAILED');
      expect(error?.message).toContain(`${idp.issuer}${PATHS.discovery} answered HTTP ${status}`);
      expect(idp.requestCount(OAUTH_METADATA)).toBe(0);
    },
  );

  it('both answer 404: the failure names both URLs', async () => {
    const tokens = (await start({ issuer: `${idp.issuer}/nowhere`, ...client })).get(TokenProvider);
    const error = await tokens.getToken().then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe('OIDC_CC_DISCOVERY_FAILED');
    expect(error?.message).toContain(
      `GET ${idp.issuer}/nowhere${PATHS.discovery} answered HTTP 404`,
    );
    expect(error?.message).toContain(
      `GET ${idp.issuer}${OAUTH_METADATA}/nowhere (RFC 8414) answered HTTP 404 too`,
    );
  });

  it('an issuer with OpenID Connect metadata is never asked for RFC 8414 metadata', async () => {
    const tokens = (await start({ issuer: idp.issuer, ...client })).get(TokenProvider);
    await tokens.getToken();
    expect(fetched()).toEqual([`GET ${PATHS.discovery}`, `POST ${PATHS.token}`]);
  });

  it('RFC 8414 metadata naming another issuer is refused (RFC 8414 §3.3)', async () => {
    idp.on(PATHS.discovery, () => ({ status: 404, body: {} }));
    publishOAuthMetadata(OAUTH_METADATA, `${idp.issuer}/other`);
    const tokens = (await start({ issuer: idp.issuer, ...client })).get(TokenProvider);
    const error = await tokens.getToken().then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(error?.code).toBe('OIDC_CC_DISCOVERY_FAILED');
    expect(error?.message).toContain(`names the issuer "${idp.issuer}/other"`);
    expect(idp.requestCount(PATHS.token)).toBe(0);
  });
});

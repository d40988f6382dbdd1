import { Test } from '@nestjs/testing';
import {
  DiscoveryError,
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
  ValidatorUnavailableError,
} from 'nest-oidc-client-credentials';
import { IssuerMetadataProvider } from './issuer-metadata.provider.js';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

describe('IssuerMetadataProvider', () => {
  let idp: FakeIdService;

  beforeEach(async () => {
    idp = await FakeIdService.start();
  });
  afterEach(() => idp.close());

  async function metadataProvider(options: Partial<OidcClientCredentialsModuleOptions> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [OidcClientCredentialsModule.forRoot({ issuer: idp.issuer, ...options })],
    }).compile();
    return moduleRef.get(IssuerMetadataProvider);
  }

  it('discovers endpoints once and shares the fetch between concurrent callers', async () => {
    const metadata = await metadataProvider();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => metadata.require('token_endpoint')),
    );
    expect(results[0].token_endpoint).toBe(idp.url(PATHS.token));
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);
  });

  it('needs no discovery when the endpoint is explicit', async () => {
    const metadata = await metadataProvider({ endpoints: { token: idp.url('/custom/token') } });
    const as = await metadata.require('token_endpoint');
    expect(as.token_endpoint).toBe(idp.url('/custom/token'));
    expect(idp.requests).toHaveLength(0);
  });

  it('lets explicit endpoints win over discovered ones', async () => {
    const metadata = await metadataProvider({ endpoints: { jwks: idp.url('/keys') } });
    const as = await metadata.require('introspection_endpoint');
    expect(as.jwks_uri).toBe(idp.url('/keys'));
    expect(as.introspection_endpoint).toBe(idp.url(PATHS.introspection));
  });

  it.each([
    ['trailing-slash', (issuer: string) => `${issuer}/`],
    ['other-host', () => 'http://127.0.0.2:1'],
  ])('S42 refuses metadata whose issuer differs (%s)', async (_case, mutate) => {
    idp.on(PATHS.discovery, () => ({
      body: { issuer: mutate(idp.issuer), token_endpoint: idp.url(PATHS.token) },
    }));
    const metadata = await metadataProvider();
    await expect(metadata.require('token_endpoint')).rejects.toBeInstanceOf(DiscoveryError);
  });

  it('does not cache a failed discovery: the next call retries', async () => {
    let calls = 0;
    idp.on(PATHS.discovery, () => (++calls === 1 ? { status: 503, body: 'down' } : undefined));
    const metadata = await metadataProvider({ retry: { maxAttempts: 1 } });
    await expect(metadata.require('token_endpoint')).rejects.toMatchObject({
      code: 'OIDC_CC_DISCOVERY_FAILED',
    });
    await expect(metadata.require('token_endpoint')).resolves.toMatchObject({
      token_endpoint: idp.url(PATHS.token),
    });
  });

  it('does not follow a redirect on discovery', async () => {
    idp.on(PATHS.discovery, () => ({ status: 302, headers: { location: idp.url('/elsewhere') } }));
    const metadata = await metadataProvider();
    await expect(metadata.require('token_endpoint')).rejects.toBeInstanceOf(DiscoveryError);
    expect(idp.requestsTo('/elsewhere')).toHaveLength(0);
  });

  it('refuses a discovered http:// endpoint on a non-loopback host', async () => {
    idp.on(PATHS.discovery, () => ({
      body: { issuer: idp.issuer, token_endpoint: 'http://id.example.com/token' },
    }));
    const metadata = await metadataProvider();
    await expect(metadata.require('token_endpoint')).rejects.toBeInstanceOf(DiscoveryError);
  });

  it.each([
    ['requireForVerification', (m: IssuerMetadataProvider) => m.requireForVerification('jwks_uri')],
    ['discoverForVerification', (m: IssuerMetadataProvider) => m.discoverForVerification()],
  ])(
    '%s answers a failed discovery as ValidatorUnavailableError (503), with the same message',
    async (_case, lookup) => {
      idp.on(PATHS.discovery, () => ({ status: 503, body: 'down' }));
      const metadata = await metadataProvider();
      const failure = await metadata.require('jwks_uri').catch((error: unknown) => error);
      const error = await lookup(metadata).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidatorUnavailableError);
      expect(error).toMatchObject({
        code: 'OIDC_CC_DISCOVERY_FAILED',
        message: (failure as Error).message,
        cause: { name: 'DiscoveryError', code: 'OIDC_CC_DISCOVERY_FAILED' },
      });
    },
  );

  it('requireForVerification answers an endpoint the ID service does not publish as 503 too', async () => {
    idp.on(PATHS.discovery, () => ({
      body: { issuer: idp.issuer, token_endpoint: idp.url(PATHS.token) },
    }));
    const metadata = await metadataProvider();
    await expect(metadata.requireForVerification('userinfo_endpoint')).rejects.toMatchObject({
      name: 'ValidatorUnavailableError',
      code: 'OIDC_CC_DISCOVERY_FAILED',
      message: 'The ID service publishes no userinfo_endpoint; set endpoints.userinfo',
    });
  });
});

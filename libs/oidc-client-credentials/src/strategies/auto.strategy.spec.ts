import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AutoVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationError,
  TokenVerificationStrategy,
  ValidatorUnavailableError,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

describe('AutoVerificationStrategy', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start({
      alg: 'ES256',
      clients: { 'test-client': { secret: 'test-secret' }, 'orders-api': { secret: 's3cret' } },
    });
  });
  afterAll(() => idp.close());
  beforeEach(() => {
    idp.reset();
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  /** The default strategy ('auto' is not named), with introspection credentials. */
  async function strategy(
    options: Partial<OidcClientCredentialsModuleOptions> = {},
  ): Promise<TokenVerificationStrategy> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          clientId: 'orders-api',
          clientSecret: 's3cret',
          ...options,
        }),
      ],
    }).compile();
    const chosen = moduleRef.get(TokenVerificationStrategy);
    expect(chosen).toBeInstanceOf(AutoVerificationStrategy);
    return chosen;
  }

  it('verifies a JWS-shaped token locally when a jwks_uri is discovered', async () => {
    const auto = await strategy();
    await expect(auto.verify(await idp.mintJwt())).resolves.toMatchObject({
      clientId: 'test-client',
    });
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(0);
  });

  it('introspects an opaque token', async () => {
    const auto = await strategy();
    await expect(auto.verify(idp.mintOpaque('billing'))).resolves.toMatchObject({
      clientId: 'billing',
    });
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(1);
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
  });

  it.each([
    ['three segments whose header has no alg', () => `${b64({ typ: 'JWT' })}.${b64({})}.c2ln`],
    ['three segments whose header is not JSON', () => 'abc.def.ghi'],
    ['a five-segment JWE', () => 'a.b.c.d.e'],
  ])('introspects %s', async (_name, token) => {
    const auto = await strategy();
    answerInactive();
    await expect(auto.verify(token())).rejects.toMatchObject({ code: 'OIDC_CC_TOKEN_INACTIVE' });
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(1);
  });

  it('a JWT whose signature fails is refused locally, never introspected', async () => {
    const auto = await strategy();
    const [h, p] = (await idp.mintJwt()).split('.');
    const forged = `${h}.${p}.${Buffer.alloc(64, 1).toString('base64url')}`;
    await expect(auto.verify(forged)).rejects.toBeInstanceOf(TokenVerificationError);
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(0);
  });

  it('introspects JWTs too when the ID service publishes no jwks_uri', async () => {
    const auto = await strategy();
    idp.on(PATHS.discovery, () => ({
      body: {
        issuer: idp.issuer,
        token_endpoint: idp.url(PATHS.token),
        introspection_endpoint: idp.url(PATHS.introspection),
      },
    }));
    await expect(auto.verify(await idp.mintJwt())).resolves.toMatchObject({
      clientId: 'test-client',
    });
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(1);
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
  });

  it('needs no discovery with explicit jwks and introspection endpoints', async () => {
    const auto = await strategy({
      endpoints: { jwks: idp.url(PATHS.jwks), introspection: idp.url(PATHS.introspection) },
    });
    await auto.verify(await idp.mintJwt());
    await auto.verify(idp.mintOpaque());
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(0);
  });

  it('discovery failing is 503', async () => {
    const auto = await strategy();
    idp.on(PATHS.discovery, () => ({ status: 500 }));
    const caught = await auto.verify(await idp.mintJwt()).catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(ValidatorUnavailableError);
    expect((caught as ValidatorUnavailableError).code).toBe('OIDC_CC_DISCOVERY_FAILED');
  });

  it('without introspection credentials verifies JWTs and refuses opaque tokens', async () => {
    const auto = await strategy({ clientId: undefined, clientSecret: undefined });
    await expect(auto.verify(await idp.mintJwt())).resolves.toBeDefined();
    await expect(auto.verify(idp.mintOpaque())).rejects.toMatchObject({
      code: 'OIDC_CC_TOKEN_INVALID',
    });
    expect(idp.requestsTo(PATHS.introspection)).toHaveLength(0);
  });

  function answerInactive(): void {
    idp.on(PATHS.introspection, () => ({ body: { active: false } }));
  }
});

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

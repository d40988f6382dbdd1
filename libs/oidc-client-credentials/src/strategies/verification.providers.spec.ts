import { Inject, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AutoVerificationStrategy,
  ConfigurationError,
  IntrospectionVerificationStrategy,
  JwtVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationStrategy,
  UserinfoVerificationStrategy,
  VerificationCache,
  type VerificationOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';
import { JwksProvider } from './jwks.provider.js';

const ISSUER = 'http://127.0.0.1:9';

@Injectable()
class ApiKeyStrategy extends TokenVerificationStrategy {
  constructor(readonly jwks: JwksProvider) {
    super();
  }
  async verify(): Promise<VerifiedToken> {
    return { clientId: 'api-key', scopes: [], claims: {} };
  }
}

@Injectable()
class Consumer {
  constructor(@Inject(TokenVerificationStrategy) readonly strategy: TokenVerificationStrategy) {}
}

describe('VERIFICATION_PROVIDERS', () => {
  async function chosen(verification: VerificationOptions, extra: object = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [OidcClientCredentialsModule.forRoot({ issuer: ISSUER, ...extra, verification })],
    }).compile();
    return { strategy: moduleRef.get(TokenVerificationStrategy), moduleRef };
  }

  it.each([
    ['the default', undefined, AutoVerificationStrategy],
    ['auto', 'auto', AutoVerificationStrategy],
    ['jwt', 'jwt', JwtVerificationStrategy],
    ['userinfo', 'userinfo', UserinfoVerificationStrategy],
  ] as const)('%s picks the built-in instance of the module', async (_name, name, type) => {
    const { strategy, moduleRef } = await chosen(name ? { strategy: name } : {});
    expect(strategy).toBeInstanceOf(type);
    expect(strategy).toBe(moduleRef.get(type));
  });

  it('introspection with credentials', async () => {
    const { strategy } = await chosen(
      { strategy: 'introspection' },
      { clientId: 'orders-api', clientSecret: 's' },
    );
    expect(strategy).toBeInstanceOf(IntrospectionVerificationStrategy);
  });

  it("instantiates a user's class through Nest DI", async () => {
    const { strategy, moduleRef } = await chosen({ strategy: ApiKeyStrategy });
    expect(strategy).toBeInstanceOf(ApiKeyStrategy);
    expect((strategy as ApiKeyStrategy).jwks).toBe(moduleRef.get(JwksProvider));
    await expect(strategy.verify('x')).resolves.toMatchObject({ clientId: 'api-key' });
  });

  it("uses a user's instance as is", async () => {
    const mine = new ApiKeyStrategy({} as JwksProvider);
    expect((await chosen({ strategy: mine })).strategy).toBe(mine);
  });

  it.each([
    ['an unknown name', 'magic'],
    ['an object without verify', { check: () => undefined }],
  ])('refuses %s at startup', async (_name, strategy) => {
    await expect(
      chosen({ strategy: strategy as unknown as VerificationOptions['strategy'] }),
    ).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('exports the strategy and the caches to importing modules', async () => {
    @Module({
      imports: [OidcClientCredentialsModule.forRoot({ issuer: ISSUER })],
      providers: [Consumer],
    })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({ imports: [FeatureModule] }).compile();
    expect(moduleRef.get(Consumer).strategy).toBeInstanceOf(AutoVerificationStrategy);
    expect(moduleRef.get(VerificationCache)).toBeInstanceOf(VerificationCache);
  });
});

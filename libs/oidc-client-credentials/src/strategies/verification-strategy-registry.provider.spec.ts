import { Injectable, Module, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AutoVerificationStrategy,
  ConfigurationError,
  IntrospectionVerificationStrategy,
  JwtVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationStrategy,
  UserinfoVerificationStrategy,
  type OidcClientCredentialsModuleOptions,
  type VerificationOptions,
  type VerificationStrategyName,
  type VerifiedToken,
  type VerifyWithStrategy,
} from 'nest-oidc-client-credentials';
import { VerificationStrategyRegistry } from './verification-strategy-registry.provider.js';

const ISSUER = 'http://127.0.0.1:9';
const CREDENTIALS = { clientId: 'orders-api', clientSecret: 's' };
const NAMES = "'jwt', 'introspection', 'userinfo', 'auto'";
const NO_CREDENTIALS =
  "introspection needs this service's own client credentials (clientId with clientSecret, or privateKey for private_key_jwt)";

@Injectable()
class ProvidedStrategy extends TokenVerificationStrategy {
  async verify(): Promise<VerifiedToken> {
    return { clientId: 'provided', scopes: [], claims: {} };
  }
}

@Injectable()
class UnprovidedStrategy extends ProvidedStrategy {}

const Anonymous = (() => class extends ProvidedStrategy {})();

@Module({ providers: [ProvidedStrategy], exports: [ProvidedStrategy] })
class StrategiesModule {}

async function compile(
  verification: VerificationOptions,
  extra: Partial<OidcClientCredentialsModuleOptions> = {},
) {
  return Test.createTestingModule({
    imports: [
      OidcClientCredentialsModule.forRoot({ issuer: ISSUER, ...extra, verification }),
      StrategiesModule,
    ],
  }).compile();
}

describe('VerificationStrategyRegistry', () => {
  describe('verification.strategy', () => {
    it.each<[string, unknown, Partial<OidcClientCredentialsModuleOptions>, string]>([
      [
        'an unknown name',
        'magic',
        {},
        `Invalid option "verification.strategy": expected ${NAMES}, a TokenVerificationStrategy class or instance`,
      ],
      [
        'a name of another case',
        'JWT',
        {},
        `Invalid option "verification.strategy": expected ${NAMES}, a TokenVerificationStrategy class or instance`,
      ],
      [
        'an inherited member name',
        'toString',
        {},
        `Invalid option "verification.strategy": expected ${NAMES}, a TokenVerificationStrategy class or instance`,
      ],
      [
        'an object without verify',
        { check: () => undefined },
        {},
        'Invalid option "verification.strategy": expected a strategy name, or a class or object with a verify(token) method',
      ],
      [
        'a number',
        42,
        {},
        'Invalid option "verification.strategy": expected a strategy name, or a class or object with a verify(token) method',
      ],
      [
        'introspection without credentials',
        'introspection',
        {},
        `Invalid option "clientId": ${NO_CREDENTIALS}`,
      ],
      [
        'introspection with a client id and no secret',
        'introspection',
        { clientId: 'orders-api' },
        `Invalid option "clientSecret": ${NO_CREDENTIALS}`,
      ],
    ])('refuses %s at startup', async (_case, strategy, extra, message) => {
      const compiled = compile({ strategy: strategy as VerificationOptions['strategy'] }, extra);
      await expect(compiled).rejects.toBeInstanceOf(ConfigurationError);
      await expect(compiled).rejects.toThrow(message);
    });

    it.each<[string, VerificationStrategyName, Type<TokenVerificationStrategy>]>([
      ['jwt', 'jwt', JwtVerificationStrategy],
      ['introspection', 'introspection', IntrospectionVerificationStrategy],
      ['userinfo', 'userinfo', UserinfoVerificationStrategy],
      ['auto', 'auto', AutoVerificationStrategy],
    ])('%s is the instance the registry gives @VerifyWith()', async (_case, name, type) => {
      const moduleRef = await compile({ strategy: name }, CREDENTIALS);
      const strategy = moduleRef.get(TokenVerificationStrategy);
      expect(strategy).toBeInstanceOf(type);
      expect(strategy).toBe(moduleRef.get(VerificationStrategyRegistry).get(name));
    });

    it("a user's class is instantiated for the module, not looked up among the app's providers", async () => {
      const moduleRef = await compile({ strategy: ProvidedStrategy });
      const strategy = moduleRef.get(TokenVerificationStrategy);
      expect(strategy).toBeInstanceOf(ProvidedStrategy);
      expect(strategy).not.toBe(moduleRef.get(ProvidedStrategy));
    });
  });

  describe('@VerifyWith()', () => {
    it.each<[string, VerifyWithStrategy, Partial<OidcClientCredentialsModuleOptions>, string]>([
      [
        'an unknown name',
        'magic' as VerifyWithStrategy,
        {},
        'Invalid option "@VerifyWith()": unknown strategy "magic"',
      ],
      [
        'an inherited member name',
        'constructor' as VerifyWithStrategy,
        {},
        'Invalid option "@VerifyWith()": unknown strategy "constructor"',
      ],
      [
        'a class no module provides',
        UnprovidedStrategy,
        {},
        'Invalid option "@VerifyWith()": UnprovidedStrategy must be provided in a module of the app (a TokenVerificationStrategy with verify(token))',
      ],
      [
        'an anonymous class no module provides',
        Anonymous,
        {},
        'Invalid option "@VerifyWith()": the strategy class must be provided in a module of the app (a TokenVerificationStrategy with verify(token))',
      ],
      [
        'an instance (only verification.strategy takes one)',
        new ProvidedStrategy() as unknown as VerifyWithStrategy,
        {},
        'Invalid option "@VerifyWith()": the strategy class must be provided in a module of the app (a TokenVerificationStrategy with verify(token))',
      ],
      [
        'introspection without credentials',
        'introspection',
        {},
        `Invalid option "clientId": ${NO_CREDENTIALS}`,
      ],
    ])('refuses %s', async (_case, choice, extra, message) => {
      const registry = (await compile({ strategy: 'jwt' }, extra)).get(
        VerificationStrategyRegistry,
      );
      expect(() => registry.get(choice)).toThrow(ConfigurationError);
      expect(() => registry.get(choice)).toThrow(message);
    });

    it("a user's class is the app's provider instance", async () => {
      const moduleRef = await compile({ strategy: 'jwt' });
      expect(moduleRef.get(VerificationStrategyRegistry).get(ProvidedStrategy)).toBe(
        moduleRef.get(ProvidedStrategy),
      );
    });
  });
});

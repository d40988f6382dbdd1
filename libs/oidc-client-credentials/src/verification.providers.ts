import type { ModuleMetadata, Provider, Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigurationError } from './errors/configuration.error.js';
import { JwksProvider } from './jwks.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from './oidc-client-credentials.module-definition.js';
import { AutoVerificationStrategy } from './strategies/auto.strategy.js';
import { IntrospectionVerificationStrategy } from './strategies/introspection.strategy.js';
import { JwtVerificationStrategy } from './strategies/jwt.strategy.js';
import { TokenVerificationStrategy } from './strategies/token-verification.strategy.js';
import { UserinfoVerificationStrategy } from './strategies/userinfo.strategy.js';
import type { ResolvedOptions } from './utils/resolve-options.util.js';
import { VerificationCache } from './verification-cache.provider.js';
import { VerificationStrategyRegistry } from './verification-strategy-registry.provider.js';

// Injected into the factory (not looked up with moduleRef.get) so Nest has constructed them first.
const BUILT_IN_NAMES: readonly string[] = ['jwt', 'introspection', 'userinfo', 'auto'];
const BUILT_IN_CLASSES: readonly Type<TokenVerificationStrategy>[] = [
  JwtVerificationStrategy,
  IntrospectionVerificationStrategy,
  UserinfoVerificationStrategy,
  AutoVerificationStrategy,
];

/**
 * The `TokenVerificationStrategy` of `verification.strategy`: a built-in by name, the user's
 * class (instantiated through Nest DI in this module's context, so it may inject the providers
 * this module exports) or the user's instance as is.
 */
export async function createVerificationStrategy(
  options: ResolvedOptions,
  moduleRef: ModuleRef,
  ...builtIns: TokenVerificationStrategy[]
): Promise<TokenVerificationStrategy> {
  const choice = options.verification.strategy;
  if (typeof choice === 'string') {
    const index = BUILT_IN_NAMES.indexOf(choice);
    if (index < 0) {
      throw new ConfigurationError(
        'verification.strategy',
        `expected 'jwt', 'introspection', 'userinfo', 'auto', a TokenVerificationStrategy class or instance`,
      );
    }
    if (choice === 'introspection') IntrospectionVerificationStrategy.assertCredentials(options);
    return builtIns[index];
  }
  if (typeof choice === 'function') {
    return moduleRef.create(choice);
  }
  if (typeof choice === 'object' && choice !== null && typeof choice.verify === 'function') {
    return choice;
  }
  throw new ConfigurationError(
    'verification.strategy',
    'expected a strategy name, or a class or object with a verify(token) method',
  );
}

/**
 * Inbound providers: the verification strategy (built-in or the user's), the strategies
 * `@VerifyWith()` chooses from, caches, JWKS.
 */
export const VERIFICATION_PROVIDERS: Provider[] = [
  VerificationCache,
  VerificationStrategyRegistry,
  JwksProvider,
  JwtVerificationStrategy,
  IntrospectionVerificationStrategy,
  UserinfoVerificationStrategy,
  AutoVerificationStrategy,
  {
    provide: TokenVerificationStrategy,
    useFactory: createVerificationStrategy,
    inject: [OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS, ModuleRef, ...BUILT_IN_CLASSES],
  },
];

/** Inbound providers visible to importers (the guard's dependencies). */
export const VERIFICATION_EXPORTS: NonNullable<ModuleMetadata['exports']> = [
  TokenVerificationStrategy,
  VerificationStrategyRegistry,
  VerificationCache,
  JwksProvider,
  JwtVerificationStrategy,
  IntrospectionVerificationStrategy,
  UserinfoVerificationStrategy,
  AutoVerificationStrategy,
];

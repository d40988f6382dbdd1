import type { ModuleMetadata, Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigurationError } from '../errors/configuration.error.js';
import { JwksProvider } from './jwks.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { TokenVerificationStrategy } from './token-verification.strategy.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { VerificationCache } from './verification-cache.provider.js';
import {
  BUILT_IN_STRATEGIES,
  BUILT_IN_STRATEGY_NAMES_TEXT,
  isBuiltInStrategyName,
  VerificationStrategyRegistry,
} from './verification-strategy-registry.provider.js';

/**
 * The `TokenVerificationStrategy` of `verification.strategy`: a built-in by name, the user's
 * class (instantiated through Nest DI in this module's context, so it may inject the providers
 * this module exports) or the user's instance as is.
 */
export async function createVerificationStrategy(
  options: ResolvedOptions,
  moduleRef: ModuleRef,
  registry: VerificationStrategyRegistry,
): Promise<TokenVerificationStrategy> {
  const choice = options.verification.strategy;
  if (typeof choice === 'string') {
    if (!isBuiltInStrategyName(choice)) {
      throw new ConfigurationError(
        'verification.strategy',
        `expected ${BUILT_IN_STRATEGY_NAMES_TEXT}, a TokenVerificationStrategy class or instance`,
      );
    }
    return registry.builtIn(choice);
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
  ...Object.values(BUILT_IN_STRATEGIES),
  {
    provide: TokenVerificationStrategy,
    useFactory: createVerificationStrategy,
    // The registry injects the built-in strategies, so Nest has constructed them first.
    inject: [OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS, ModuleRef, VerificationStrategyRegistry],
  },
];

/** Inbound providers visible to importers (the guard's dependencies). */
export const VERIFICATION_EXPORTS: NonNullable<ModuleMetadata['exports']> = [
  TokenVerificationStrategy,
  VerificationStrategyRegistry,
  VerificationCache,
  JwksProvider,
  ...Object.values(BUILT_IN_STRATEGIES),
];

import type { ModuleMetadata, Provider } from '@nestjs/common';
import { JwksProvider } from './jwks.provider.js';
import { TokenVerificationStrategy } from './token-verification.strategy.js';
import { VerificationCache } from './verification-cache.provider.js';
import {
  BUILT_IN_STRATEGIES,
  VerificationStrategyRegistry,
} from './verification-strategy-registry.provider.js';

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
    // The registry injects the built-in strategies, so Nest has constructed them first.
    useFactory: (registry: VerificationStrategyRegistry) => registry.configured(),
    inject: [VerificationStrategyRegistry],
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

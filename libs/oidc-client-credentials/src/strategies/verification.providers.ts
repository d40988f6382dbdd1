import type { ModuleMetadata, Provider } from '@nestjs/common';
import { IssuerRegistry } from './issuers/issuer-registry.provider.js';
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
  IssuerRegistry,
  ...Object.values(BUILT_IN_STRATEGIES),
  {
    provide: TokenVerificationStrategy,
    // The registry injects the built-in strategies, so Nest has constructed them first. With
    // verification.issuers, the issuers' router is the module's strategy.
    useFactory: (registry: VerificationStrategyRegistry, issuers: IssuerRegistry) =>
      issuers.routing() ?? registry.configured(),
    inject: [VerificationStrategyRegistry, IssuerRegistry],
  },
];

/** Inbound providers visible to importers (the guard's dependencies). */
export const VERIFICATION_EXPORTS: NonNullable<ModuleMetadata['exports']> = [
  TokenVerificationStrategy,
  VerificationStrategyRegistry,
  VerificationCache,
  JwksProvider,
  IssuerRegistry,
  ...Object.values(BUILT_IN_STRATEGIES),
];

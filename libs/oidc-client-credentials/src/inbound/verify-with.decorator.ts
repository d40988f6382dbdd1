import { SetMetadata, type CustomDecorator } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';
import {
  BUILT_IN_STRATEGY_NAMES_TEXT,
  isBuiltInStrategyName,
  type VerifyWithStrategy,
} from '../strategies/verification-strategy-registry.provider.js';

export type { VerifyWithStrategy };

/** Metadata key of {@link VerifyWith}. */
export const VERIFY_WITH_METADATA = 'nest-oidc-client-credentials:verify-with';

/**
 * Verifies the tokens of a route (or of every route of a controller; a handler's choice wins)
 * with another strategy than the module's `verification.strategy`: a built-in by name, or a
 * {@link TokenVerificationStrategy} class registered as a provider somewhere in the app. Each
 * strategy keeps its own verification cache entries.
 *
 * @example
 * @UseGuards(ClientTokenGuard)
 * @VerifyWith('introspection') // revocation must show at once on this route
 * @Post('refunds')
 * refund(@ClientId() clientId: string) {}
 */
export function VerifyWith(strategy: VerifyWithStrategy): CustomDecorator<string> {
  const valid = typeof strategy === 'string' ? isBuiltInStrategyName(strategy) : isClass(strategy);
  if (!valid) {
    throw new ConfigurationError(
      '@VerifyWith()',
      `expected ${BUILT_IN_STRATEGY_NAMES_TEXT} or a TokenVerificationStrategy class, got ${describe(strategy)}`,
    );
  }
  return SetMetadata(VERIFY_WITH_METADATA, strategy);
}

function isClass(value: unknown): boolean {
  return typeof value === 'function' && typeof value.prototype === 'object';
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 40));
  return value === null ? 'null' : typeof value;
}

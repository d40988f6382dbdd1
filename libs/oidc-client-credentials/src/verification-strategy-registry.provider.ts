import { Inject, Injectable, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigurationError } from './errors/configuration.error.js';
import type { VerificationStrategyName } from './interfaces/oidc-client-credentials-options.interface.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from './oidc-client-credentials.module-definition.js';
import { AutoVerificationStrategy } from './strategies/auto.strategy.js';
import { IntrospectionVerificationStrategy } from './strategies/introspection.strategy.js';
import { JwtVerificationStrategy } from './strategies/jwt.strategy.js';
import { TokenVerificationStrategy } from './strategies/token-verification.strategy.js';
import { UserinfoVerificationStrategy } from './strategies/userinfo.strategy.js';
import type { ResolvedOptions } from './utils/resolve-options.util.js';
import type { VerifyWithStrategy } from './verify-with.decorator.js';

/**
 * The strategies `@VerifyWith()` can choose from: this module's built-in strategies (so each
 * uses this module's options and cache) and strategy classes provided anywhere in the app.
 */
@Injectable()
export class VerificationStrategyRegistry {
  private readonly builtIns: Record<VerificationStrategyName, TokenVerificationStrategy>;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly moduleRef: ModuleRef,
    jwt: JwtVerificationStrategy,
    introspection: IntrospectionVerificationStrategy,
    userinfo: UserinfoVerificationStrategy,
    auto: AutoVerificationStrategy,
  ) {
    this.builtIns = { jwt, introspection, userinfo, auto };
  }

  /**
   * The strategy instance of a `@VerifyWith()` choice. Throws {@link ConfigurationError} for a
   * class that is not a provider, or for introspection without this service's credentials.
   */
  get(choice: VerifyWithStrategy): TokenVerificationStrategy {
    if (typeof choice === 'string') {
      if (!Object.hasOwn(this.builtIns, choice)) {
        throw new ConfigurationError('@VerifyWith()', `unknown strategy ${JSON.stringify(choice)}`);
      }
      if (choice === 'introspection')
        IntrospectionVerificationStrategy.assertCredentials(this.options);
      return this.builtIns[choice];
    }
    return this.provided(choice);
  }

  private provided(type: Type<TokenVerificationStrategy>): TokenVerificationStrategy {
    let instance: unknown;
    try {
      instance = this.moduleRef.get(type, { strict: false });
    } catch {
      instance = undefined;
    }
    if (
      typeof instance !== 'object' ||
      instance === null ||
      typeof (instance as TokenVerificationStrategy).verify !== 'function'
    ) {
      throw new ConfigurationError(
        '@VerifyWith()',
        `${type.name || 'the strategy class'} must be provided in a module of the app (a TokenVerificationStrategy with verify(token))`,
      );
    }
    return instance as TokenVerificationStrategy;
  }
}

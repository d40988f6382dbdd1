import { Inject, Injectable, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { VerificationStrategyName } from '../options/oidc-client-credentials-options.interface.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { AutoVerificationStrategy } from './auto.strategy.js';
import { IntrospectionVerificationStrategy } from './introspection.strategy.js';
import { JwtVerificationStrategy } from './jwt.strategy.js';
import { TokenVerificationStrategy } from './token-verification.strategy.js';
import { UserinfoVerificationStrategy } from './userinfo.strategy.js';
import type { ResolvedOptions } from '../options/resolved-options.js';

/** A strategy `@VerifyWith()` can name: a built-in, or a strategy class provided in the app. */
export type VerifyWithStrategy = VerificationStrategyName | Type<TokenVerificationStrategy>;

/**
 * The built-in strategies by name: what `verification.strategy` and `@VerifyWith()` may name, and
 * the providers this module registers for them.
 */
export const BUILT_IN_STRATEGIES = {
  jwt: JwtVerificationStrategy,
  introspection: IntrospectionVerificationStrategy,
  userinfo: UserinfoVerificationStrategy,
  auto: AutoVerificationStrategy,
} as const satisfies Record<VerificationStrategyName, Type<TokenVerificationStrategy>>;

/** The built-in names as error messages list them: `'jwt', 'introspection', …`. */
export const BUILT_IN_STRATEGY_NAMES_TEXT = Object.keys(BUILT_IN_STRATEGIES)
  .map((name) => `'${name}'`)
  .join(', ');

/** Whether `value` is the name of a built-in strategy. */
export function isBuiltInStrategyName(value: unknown): value is VerificationStrategyName {
  return typeof value === 'string' && Object.hasOwn(BUILT_IN_STRATEGIES, value);
}

/**
 * The strategies `@VerifyWith()` can choose from: this module's built-in strategies (so each
 * uses this module's options and cache) and strategy classes provided anywhere in the app. Also
 * where a built-in `verification.strategy` name is resolved.
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
      if (!isBuiltInStrategyName(choice)) {
        throw new ConfigurationError('@VerifyWith()', `unknown strategy ${JSON.stringify(choice)}`);
      }
      return this.builtIn(choice);
    }
    return this.provided(choice);
  }

  /**
   * This module's instance of a built-in strategy. Throws {@link ConfigurationError} for
   * introspection without this service's credentials.
   */
  builtIn(name: VerificationStrategyName): TokenVerificationStrategy {
    if (name === 'introspection') IntrospectionVerificationStrategy.assertCredentials(this.options);
    return this.builtIns[name];
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

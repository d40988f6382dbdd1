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
 * Where a strategy is chosen. It names the option in error messages, and says what a class means:
 * `verification.strategy` instantiates it for this module (and also takes an instance as is);
 * `@VerifyWith()` takes the instance the app provides.
 */
type StrategyChoiceOrigin = 'verification.strategy' | '@VerifyWith()';

const REFUSALS: Record<
  StrategyChoiceOrigin,
  { unknownName(name: string): string; notAStrategy(choice: unknown): string }
> = {
  'verification.strategy': {
    unknownName: () =>
      `expected ${BUILT_IN_STRATEGY_NAMES_TEXT}, a TokenVerificationStrategy class or instance`,
    notAStrategy: () =>
      'expected a strategy name, or a class or object with a verify(token) method',
  },
  '@VerifyWith()': {
    unknownName: (name) => `unknown strategy ${JSON.stringify(name)}`,
    notAStrategy: (choice) =>
      `${(choice as { name?: string } | null)?.name || 'the strategy class'} must be provided in a module of the app (a TokenVerificationStrategy with verify(token))`,
  },
};

/**
 * Resolves every choice of strategy: the module's `verification.strategy` and each
 * `@VerifyWith()`. Built-in names give this module's instances (so each uses this module's options
 * and cache); `@VerifyWith()` classes are looked up among the providers of the whole app.
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
   * The strategy instance of a `@VerifyWith()` choice.
   *
   * @throws ConfigurationError for an unknown name, a class that is not a provider, or
   *   introspection without this service's credentials.
   */
  get(choice: VerifyWithStrategy): TokenVerificationStrategy {
    const chosen = this.resolve(choice, '@VerifyWith()');
    return typeof chosen === 'function' ? this.provided(chosen) : chosen;
  }

  /**
   * The strategy of `verification.strategy`, which the module provides as
   * `TokenVerificationStrategy`: a built-in by name, the user's class (instantiated through Nest DI
   * in this module's context, so it may inject the providers this module exports) or the user's
   * instance as is. Inject `TokenVerificationStrategy` rather than calling this: each call
   * instantiates a class anew.
   *
   * @throws ConfigurationError when the option names no strategy, or introspection without this
   *   service's credentials.
   */
  async configured(): Promise<TokenVerificationStrategy> {
    const chosen = this.resolve(this.options.verification.strategy, 'verification.strategy');
    return typeof chosen === 'function' ? this.moduleRef.create(chosen) : chosen;
  }

  /** A built-in or given instance, or the class the caller turns into one as its origin says. */
  private resolve(
    choice: unknown,
    origin: StrategyChoiceOrigin,
  ): TokenVerificationStrategy | Type<TokenVerificationStrategy> {
    if (typeof choice === 'string') {
      if (!isBuiltInStrategyName(choice)) {
        throw new ConfigurationError(origin, REFUSALS[origin].unknownName(choice));
      }
      if (choice === 'introspection') {
        IntrospectionVerificationStrategy.assertCredentials(this.options);
      }
      return this.builtIns[choice];
    }
    if (typeof choice === 'function') return choice as Type<TokenVerificationStrategy>;
    if (origin === 'verification.strategy' && isStrategyInstance(choice)) return choice;
    throw new ConfigurationError(origin, REFUSALS[origin].notAStrategy(choice));
  }

  private provided(type: Type<TokenVerificationStrategy>): TokenVerificationStrategy {
    let instance: unknown;
    try {
      instance = this.moduleRef.get(type, { strict: false });
    } catch {
      instance = undefined;
    }
    if (!isStrategyInstance(instance)) {
      throw new ConfigurationError('@VerifyWith()', REFUSALS['@VerifyWith()'].notAStrategy(type));
    }
    return instance;
  }
}

function isStrategyInstance(value: unknown): value is TokenVerificationStrategy {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TokenVerificationStrategy).verify === 'function'
  );
}

import type { ExecutionContext, Logger, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { ConfigurationError } from '../errors/configuration.error.js';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import type { TokenVerificationStrategy } from '../strategies/token-verification.strategy.js';
import type { VerificationStrategyRegistry } from '../strategies/verification-strategy-registry.provider.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { ALLOWED_CLIENTS_METADATA } from './allow-clients.decorator.js';
import { Public } from './public.decorator.js';
import {
  checkClaims,
  REQUIRED_CLAIMS_METADATA,
  type ClaimRequirement,
  type ClaimsPredicateFailure,
} from './require-claims.decorator.js';
import { ANY_OF_SCOPES_METADATA, REQUIRED_SCOPES_METADATA } from './require-scopes.decorator.js';
import { VERIFY_WITH_METADATA, type VerifyWithStrategy } from './verify-with.decorator.js';

/**
 * What a route asks of a request, from its `@Public()`, `@RequireScopes()`, `@AllowClients()` and
 * `@RequireClaims()` metadata. The optional members are absent when the route sets none.
 */
export interface RouteAccessPolicy {
  /** `@Public()` opens the route: a handler's marker wins over its controller's. */
  isPublic: boolean;
  /** The controller's and the handler's `@RequireScopes()` together, controller's first. */
  requiredScopes: readonly string[];
  /** `@RequireScopes.any()` lists, controller's first: the token needs one scope of each. */
  anyOfScopes?: readonly (readonly string[])[];
  /** `@AllowClients()`: the clients both the controller's and the handler's lists name. */
  allowedClients?: ReadonlySet<string>;
  /** `@RequireClaims()`, controller's first: the token must satisfy each. */
  requiredClaims?: readonly ClaimRequirement[];
}

/** What `ClientTokenGuard` enforces on a route: its access policy and its `@VerifyWith()` choice. */
export interface RoutePolicy extends RouteAccessPolicy {
  verifyWith: VerifyWithStrategy | undefined;
  /** The `verifyWith` strategy, once resolved. */
  strategy?: TokenVerificationStrategy;
}

const NO_SCOPES: readonly string[] = Object.freeze([]);
const NO_GROUPS: readonly (readonly string[])[] = Object.freeze([]);
const NO_CLAIMS: readonly ClaimRequirement[] = Object.freeze([]);

/**
 * The access policy of one route, as `ClientTokenGuard` enforces it and the OpenAPI helper
 * documents it: both read it here so the document cannot drift from what the guard checks.
 */
export function readRouteAccessPolicy(
  reflector: Reflector,
  controller: Type,
  handler: ReturnType<ExecutionContext['getHandler']>,
): RouteAccessPolicy {
  const both = <T>(key: string): T[] =>
    [
      reflector.get<T | undefined>(key, controller),
      reflector.get<T | undefined>(key, handler),
    ].filter((value): value is T => value !== undefined);
  const anyOfScopes = both<readonly string[]>(ANY_OF_SCOPES_METADATA);
  const allowedClients = both<readonly string[]>(ALLOWED_CLIENTS_METADATA);
  const requiredClaims = both<ClaimRequirement>(REQUIRED_CLAIMS_METADATA);
  return {
    isPublic: reflector.getAllAndOverride(Public, [handler, controller]) === true,
    requiredScopes: mergeScopes(
      reflector.get<readonly string[] | undefined>(REQUIRED_SCOPES_METADATA, controller),
      reflector.get<readonly string[] | undefined>(REQUIRED_SCOPES_METADATA, handler),
    ),
    ...(anyOfScopes.length > 0 ? { anyOfScopes: Object.freeze(anyOfScopes) } : {}),
    ...(allowedClients.length > 0 ? { allowedClients: intersection(allowedClients) } : {}),
    ...(requiredClaims.length > 0 ? { requiredClaims: Object.freeze(requiredClaims) } : {}),
  };
}

/**
 * The policies of the routes one guard checks, read once per controller and handler: metadata
 * does not change after startup, and the guard runs on every request. Keyed by controller, then
 * handler: one method can serve several controllers through inheritance.
 */
export class RoutePolicies {
  private readonly byController = new WeakMap<object, WeakMap<object, RoutePolicy>>();
  /** The last route asked for: a request asks for its policy in several steps of the guard. */
  private lastController?: object;
  private lastHandler?: object;
  private lastPolicy?: RoutePolicy;

  constructor(private readonly reflector: Reflector) {}

  /** The policy of the context's route. */
  of(context: ExecutionContext): RoutePolicy {
    const controller = context.getClass();
    const handler = context.getHandler();
    if (
      this.lastPolicy !== undefined &&
      this.lastHandler === handler &&
      this.lastController === controller
    ) {
      return this.lastPolicy;
    }
    const policy = this.read(controller, handler);
    this.lastController = controller;
    this.lastHandler = handler;
    this.lastPolicy = policy;
    return policy;
  }

  private read(controller: Type, handler: ReturnType<ExecutionContext['getHandler']>): RoutePolicy {
    let byHandler = this.byController.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.byController.set(controller, byHandler);
    }
    let policy = byHandler.get(handler);
    if (!policy) {
      policy = {
        ...readRouteAccessPolicy(this.reflector, controller, handler),
        verifyWith: this.reflector.getAllAndOverride<VerifyWithStrategy | undefined>(
          VERIFY_WITH_METADATA,
          [handler, controller],
        ),
      };
      byHandler.set(handler, policy);
    }
    return policy;
  }
}

/**
 * What the service and the route ask of a verified token, checked on every request (cached
 * verification results included): `requireSubjectIsClient` (401 `invalid_token`),
 * `allowedClientIds` and the route's scopes (403 `insufficient_scope`; exact matches only, so
 * `read:all` or `reader` does not grant `read`).
 */
export function checkRequirements(
  token: VerifiedToken,
  verification: Pick<
    ResolvedOptions['verification'],
    'requireSubjectIsClient' | 'allowedClientIds'
  >,
  requiredScopes: readonly string[],
): void {
  if (verification.requireSubjectIsClient && token.subject !== token.clientId) {
    throw new TokenVerificationError(
      'OIDC_CC_TOKEN_INVALID',
      'The token does not identify the client itself (sub differs from the client id)',
    );
  }
  if (verification.allowedClientIds && !verification.allowedClientIds.has(token.clientId)) {
    throw new InsufficientScopeError(
      'OIDC_CC_CLIENT_NOT_ALLOWED',
      'The client is not in verification.allowedClientIds',
    );
  }
  if (requiredScopes.length > 0 && !hasEveryScope(token.scopes, requiredScopes)) {
    throw new InsufficientScopeError(
      'OIDC_CC_INSUFFICIENT_SCOPE',
      'The token lacks a required scope',
      requiredScopes,
    );
  }
}

/**
 * The route's own rules beyond its required scopes, checked on every request after
 * {@link checkRequirements}, in this order: `@AllowClients()`, `@RequireScopes.any()`,
 * `@RequireClaims()`. Each refusal is a 403 `insufficient_scope`; a predicate that throws or
 * returns something else than a boolean refuses too, and `report` hears why (for a log line; the
 * caller's answer stays fixed).
 */
export function checkRouteRules(
  token: VerifiedToken,
  policy: RouteAccessPolicy,
  report: (failure: ClaimsPredicateFailure) => void,
): void {
  if (policy.allowedClients && !policy.allowedClients.has(token.clientId)) {
    throw new InsufficientScopeError(
      'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED',
      "The client is not in the route's @AllowClients()",
    );
  }
  for (const accepted of policy.anyOfScopes ?? NO_GROUPS) {
    if (!accepted.some((scope) => token.scopes.includes(scope))) {
      throw new InsufficientScopeError(
        'OIDC_CC_NO_ACCEPTED_SCOPE',
        'The token has none of the scopes of a @RequireScopes.any()',
        accepted,
      );
    }
  }
  for (const requirement of policy.requiredClaims ?? NO_CLAIMS) {
    const outcome = checkClaims(requirement, token);
    if (outcome.satisfied) continue;
    if (outcome.failure) {
      report(outcome.failure);
      throw new InsufficientScopeError(
        'OIDC_CC_CLAIMS_CHECK_FAILED',
        'A @RequireClaims() predicate failed to answer',
      );
    }
    throw new InsufficientScopeError(
      'OIDC_CC_CLAIMS_NOT_SATISFIED',
      "The token's claims do not meet the route's @RequireClaims()",
    );
  }
}

/**
 * The strategy of a `@VerifyWith()` choice. A choice that cannot be resolved becomes a strategy
 * that fails with the same error: logged once here with its message (naming the option), then
 * answered 503 on every request of the route.
 */
export function resolveVerifyWith(
  choice: VerifyWithStrategy,
  registry: VerificationStrategyRegistry | undefined,
  logger: Logger,
): TokenVerificationStrategy {
  try {
    if (!registry) {
      throw new ConfigurationError(
        '@VerifyWith()',
        'ClientTokenGuard was built without the VerificationStrategyRegistry of OidcClientCredentialsModule',
      );
    }
    return registry.get(choice);
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    logger.error(error.message);
    return { verify: () => Promise.reject(error) };
  }
}

/** Whether `granted` holds every scope of `required` (a loop: this runs on every request). */
function hasEveryScope(granted: readonly string[], required: readonly string[]): boolean {
  for (let i = 0; i < required.length; i += 1) {
    if (!granted.includes(required[i])) return false;
  }
  return true;
}

function mergeScopes(
  controller: readonly string[] | undefined,
  handler: readonly string[] | undefined,
): readonly string[] {
  if (!controller) return handler ?? NO_SCOPES;
  if (!handler) return controller;
  return Object.freeze([...new Set([...controller, ...handler])]);
}

/** The clients every list names: a handler narrows its controller's list. */
function intersection(lists: readonly (readonly string[])[]): ReadonlySet<string> {
  const [first, ...others] = lists;
  return new Set(first.filter((clientId) => others.every((list) => list.includes(clientId))));
}

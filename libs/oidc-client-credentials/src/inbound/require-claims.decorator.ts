import { SetMetadata, type CustomDecorator } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';

/** Metadata key of {@link RequireClaims}. */
export const REQUIRED_CLAIMS_METADATA = 'nest-oidc-client-credentials:required-claims';

/** A claim value `@RequireClaims()` can compare (strictly, `===`). */
export type RequiredClaimValue = string | number | boolean;

/**
 * Claims a route requires, by name: the token's claim must equal the value, or, when the token's
 * claim is an array, contain it. A list requires every listed value.
 */
export type RequiredClaims = Readonly<
  Record<string, RequiredClaimValue | readonly RequiredClaimValue[]>
>;

/**
 * A custom claim rule: `true` lets the request through. It must be synchronous and return a
 * boolean; anything else, or a throw, refuses the request.
 */
export type ClaimsPredicate = (
  claims: Readonly<Record<string, unknown>>,
  token: VerifiedToken,
) => boolean;

/** One `@RequireClaims()` as stored: the values by claim name, or the predicate. */
export type ClaimRequirement =
  | {
      readonly kind: 'values';
      readonly claims: readonly (readonly [string, readonly RequiredClaimValue[]])[];
    }
  | { readonly kind: 'predicate'; readonly test: ClaimsPredicate };

/** Why a {@link ClaimsPredicate} gave no answer: it threw, or returned something else. */
export type ClaimsPredicateFailure =
  { kind: 'threw'; error: unknown } | { kind: 'not-boolean'; type: string };

/** What checking a token against one {@link ClaimRequirement} found. */
export type ClaimsOutcome =
  { satisfied: true } | { satisfied: false; failure?: ClaimsPredicateFailure };

/**
 * Requires claims of the verified token on a route (or every route of a controller). Either by
 * value — each named claim must equal the value given (strict `===`), or, when the token's claim is
 * an array, contain it; a list of values requires every one of them — or with a predicate over the
 * claims for anything else (nested claims, ranges, either-or). Otherwise `ClientTokenGuard` answers
 * 403 `insufficient_scope` ("The access token lacks a claim this route requires").
 *
 * On a controller and on one of its handlers, both apply. A predicate that throws or does not
 * return a boolean refuses the request the same way, and is logged once per route (the exception
 * never reaches the caller). Names are matched as they are, dots included: a nested claim needs a
 * predicate.
 *
 * @example
 * @RequireClaims({ tenant: 'acme', roles: ['admin'] })
 * @Post('refunds')
 * refund() {}
 *
 * @RequireClaims((claims) => typeof claims.amount_limit === 'number' && claims.amount_limit >= 1000)
 * @Post('large-refunds')
 * largeRefund() {}
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function RequireClaims(
  requirement: RequiredClaims | ClaimsPredicate,
): CustomDecorator<string> {
  if (typeof requirement === 'function') {
    return SetMetadata(
      REQUIRED_CLAIMS_METADATA,
      Object.freeze({ kind: 'predicate', test: requirement }) satisfies ClaimRequirement,
    );
  }
  if (!isPlainObject(requirement)) {
    throw new ConfigurationError(
      '@RequireClaims()',
      `expected an object of claim values or a predicate function, got ${describe(requirement)}`,
    );
  }
  const claims = Object.entries(requirement).map(([name, value]) =>
    Object.freeze([name, Object.freeze(requiredValues(name, value))] as const),
  );
  if (claims.length === 0) {
    throw new ConfigurationError('@RequireClaims()', 'expected at least one claim');
  }
  return SetMetadata(
    REQUIRED_CLAIMS_METADATA,
    Object.freeze({ kind: 'values', claims: Object.freeze(claims) }) satisfies ClaimRequirement,
  );
}

/**
 * Checks a token's claims against one requirement. Only the claims' own members are read, so
 * `constructor` or `__proto__` never match through a prototype.
 */
export function checkClaims(requirement: ClaimRequirement, token: VerifiedToken): ClaimsOutcome {
  if (requirement.kind === 'values') {
    const satisfied = requirement.claims.every(([name, values]) => {
      if (!Object.hasOwn(token.claims, name)) return false;
      const claim = token.claims[name];
      return values.every((value) =>
        Array.isArray(claim) ? claim.includes(value) : claim === value,
      );
    });
    return { satisfied };
  }
  let result: unknown;
  try {
    result = requirement.test(token.claims, token);
  } catch (error) {
    return { satisfied: false, failure: { kind: 'threw', error } };
  }
  if (typeof result !== 'boolean') {
    const type = result === null ? 'null' : result instanceof Promise ? 'a Promise' : typeof result;
    return { satisfied: false, failure: { kind: 'not-boolean', type } };
  }
  return { satisfied: result };
}

function requiredValues(name: string, value: unknown): RequiredClaimValue[] {
  const values = Array.isArray(value) ? (value as unknown[]) : [value];
  if (values.length === 0 || !values.every(isRequiredClaimValue)) {
    throw new ConfigurationError(
      `@RequireClaims() ${JSON.stringify(name.slice(0, 60))}`,
      'expected a string, a finite number, a boolean, or a non-empty list of them',
    );
  }
  return [...new Set(values)];
}

function isRequiredClaimValue(value: unknown): value is RequiredClaimValue {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : typeof value;
}

import type { Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { AllowClients } from './allow-clients.decorator.js';
import { Public } from './public.decorator.js';
import { RequireClaims, type ClaimsPredicateFailure } from './require-claims.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';
import {
  checkRouteRules,
  readRouteAccessPolicy,
  type RouteAccessPolicy,
} from './route-policy.util.js';

class Plain {
  route() {}
  @Public() open() {}
  @RequireScopes('orders:write', 'orders:read') scoped() {}
}

@Public()
class OpenController {
  route() {}
}

@RequireScopes('orders:read', 'audit')
class ScopedController {
  route() {}
  @RequireScopes('orders:write', 'orders:read') scoped() {}
  @Public() open() {}
}

describe('readRouteAccessPolicy', () => {
  it.each<[string, Type, string, RouteAccessPolicy]>([
    ['no metadata: guarded, no scopes', Plain, 'route', { isPublic: false, requiredScopes: [] }],
    ["a handler's @Public() opens it", Plain, 'open', { isPublic: true, requiredScopes: [] }],
    [
      "a controller's @Public() opens its handlers",
      OpenController,
      'route',
      { isPublic: true, requiredScopes: [] },
    ],
    [
      "the handler's scopes alone",
      Plain,
      'scoped',
      { isPublic: false, requiredScopes: ['orders:write', 'orders:read'] },
    ],
    [
      "the controller's scopes alone",
      ScopedController,
      'route',
      { isPublic: false, requiredScopes: ['orders:read', 'audit'] },
    ],
    [
      "controller's and handler's scopes together, controller's first, each once",
      ScopedController,
      'scoped',
      { isPublic: false, requiredScopes: ['orders:read', 'audit', 'orders:write'] },
    ],
    [
      '@Public() on a handler of a scoped controller opens it',
      ScopedController,
      'open',
      { isPublic: true, requiredScopes: ['orders:read', 'audit'] },
    ],
  ])('%s', (_case, controller, method, expected) => {
    const handler = (controller.prototype as Record<string, () => void>)[method];
    const policy = readRouteAccessPolicy(new Reflector(), controller, handler);
    expect(policy).toEqual(expected);
    expect(Object.isFrozen(policy.requiredScopes)).toBe(true);
  });
});

const isAcme = (claims: Readonly<Record<string, unknown>>) => claims.tenant === 'acme';

class Rules {
  @AllowClients('billing', 'reports', 'billing') clients() {}
  @RequireScopes.any('a', 'b', 'a') anyScopes() {}
  @RequireClaims({ roles: ['admin', 'admin'] }) claims() {}
  @RequireClaims(isAcme) predicate() {}
}

@AllowClients('billing', 'reports')
@RequireScopes.any('a', 'b')
@RequireClaims({ tenant: 'acme' })
class RulesController {
  route() {}
  @AllowClients('reports', 'shipping')
  @RequireScopes.any('c')
  @RequireClaims(isAcme)
  narrowed() {}
  @AllowClients('shipping') disjoint() {}
}

describe('readRouteAccessPolicy: route rules', () => {
  const policyOf = (controller: Type, method: string): RouteAccessPolicy =>
    readRouteAccessPolicy(
      new Reflector(),
      controller,
      (controller.prototype as Record<string, () => void>)[method],
    );

  it.each<[string, Type, string, Partial<RouteAccessPolicy>]>([
    [
      "allow-clients-handler: the handler's list, each once",
      Rules,
      'clients',
      { allowedClients: new Set(['billing', 'reports']) },
    ],
    [
      "allow-clients-controller: the controller's list",
      RulesController,
      'route',
      { allowedClients: new Set(['billing', 'reports']) },
    ],
    [
      'allow-clients-handler-narrows: the clients both lists name',
      RulesController,
      'narrowed',
      { allowedClients: new Set(['reports']) },
    ],
    [
      'allow-clients-handler-cannot-widen: disjoint lists allow no client',
      RulesController,
      'disjoint',
      { allowedClients: new Set() },
    ],
    ['scopes-any-handler: one list, each once', Rules, 'anyScopes', { anyOfScopes: [['a', 'b']] }],
    [
      "scopes-any-controller-and-handler: both lists, controller's first",
      RulesController,
      'narrowed',
      { anyOfScopes: [['a', 'b'], ['c']] },
    ],
    [
      'claims-values-handler',
      Rules,
      'claims',
      { requiredClaims: [{ kind: 'values', claims: [['roles', ['admin']]] }] },
    ],
    [
      'claims-predicate-handler',
      Rules,
      'predicate',
      { requiredClaims: [{ kind: 'predicate', test: isAcme }] },
    ],
    [
      "claims-controller-and-handler: both, controller's first",
      RulesController,
      'narrowed',
      {
        requiredClaims: [
          { kind: 'values', claims: [['tenant', ['acme']]] },
          { kind: 'predicate', test: isAcme },
        ],
      },
    ],
  ])('%s', (_case, controller, method, expected) => {
    expect(policyOf(controller, method)).toMatchObject(expected);
  });

  it('sets none of the rules on a route without them', () => {
    const policy = policyOf(Plain, 'route');
    expect(Object.keys(policy).sort()).toEqual(['isPublic', 'requiredScopes']);
  });
});

describe('checkRouteRules', () => {
  const token = (clientId: string, scopes: string[], claims: Record<string, unknown> = {}) =>
    ({ clientId, scopes, claims }) satisfies VerifiedToken;
  const base: RouteAccessPolicy = { isPublic: false, requiredScopes: [] };

  it.each<[string, Partial<RouteAccessPolicy>, VerifiedToken, string | undefined, string[]]>([
    ['no rules', {}, token('billing', []), undefined, []],
    [
      'allow-clients-listed',
      { allowedClients: new Set(['billing']) },
      token('billing', []),
      undefined,
      [],
    ],
    [
      'allow-clients-other',
      { allowedClients: new Set(['billing']) },
      token('shipping', []),
      'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED',
      [],
    ],
    [
      'allow-clients-empty',
      { allowedClients: new Set() },
      token('billing', []),
      'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED',
      [],
    ],
    [
      'scopes-any-one-present',
      { anyOfScopes: [['a', 'b']] },
      token('billing', ['b']),
      undefined,
      [],
    ],
    [
      'scopes-any-none-present',
      { anyOfScopes: [['a', 'b']] },
      token('billing', ['ab', 'a:all']),
      'OIDC_CC_NO_ACCEPTED_SCOPE',
      ['a', 'b'],
    ],
    [
      'scopes-any-second-list-unmet',
      {
        anyOfScopes: [
          ['a', 'b'],
          ['c', 'd'],
        ],
      },
      token('billing', ['a']),
      'OIDC_CC_NO_ACCEPTED_SCOPE',
      ['c', 'd'],
    ],
    [
      'claims-unmet',
      { requiredClaims: [{ kind: 'values', claims: [['tenant', ['acme']]] }] },
      token('billing', [], { tenant: 'globex' }),
      'OIDC_CC_CLAIMS_NOT_SATISFIED',
      [],
    ],
    [
      'claims-predicate-throws',
      {
        requiredClaims: [
          {
            kind: 'predicate',
            test: () => {
              throw new Error('boom');
            },
          },
        ],
      },
      token('billing', []),
      'OIDC_CC_CLAIMS_CHECK_FAILED',
      [],
    ],
    [
      'clients-before-scopes-before-claims',
      {
        allowedClients: new Set(['billing']),
        anyOfScopes: [['a']],
        requiredClaims: [{ kind: 'values', claims: [['tenant', ['acme']]] }],
      },
      token('shipping', [], {}),
      'OIDC_CC_ROUTE_CLIENT_NOT_ALLOWED',
      [],
    ],
  ])('%s', (_case, rules, verified, code, scopes) => {
    const reported: ClaimsPredicateFailure[] = [];
    const run = () => checkRouteRules(verified, { ...base, ...rules }, (f) => reported.push(f));
    if (code === undefined) {
      expect(run).not.toThrow();
      return;
    }
    let thrown: unknown;
    try {
      run();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InsufficientScopeError);
    expect(thrown).toMatchObject({ code, requiredScopes: scopes });
    expect(reported).toHaveLength(code === 'OIDC_CC_CLAIMS_CHECK_FAILED' ? 1 : 0);
  });
});

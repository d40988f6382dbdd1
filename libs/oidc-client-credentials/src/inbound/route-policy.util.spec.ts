import type { Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Public } from './public.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';
import { readRouteAccessPolicy, type RouteAccessPolicy } from './route-policy.util.js';

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

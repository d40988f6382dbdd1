import type { ExecutionContext, Type } from '@nestjs/common';
import type { Reflector } from '@nestjs/core';
import { Public } from './public.decorator.js';
import { REQUIRED_SCOPES_METADATA } from './require-scopes.decorator.js';

/** What a route asks of a request, from its `@Public()` and `@RequireScopes()` metadata. */
export interface RouteAccessPolicy {
  /** `@Public()` opens the route: a handler's marker wins over its controller's. */
  isPublic: boolean;
  /** The controller's and the handler's `@RequireScopes()` together, controller's first. */
  requiredScopes: readonly string[];
}

const NO_SCOPES: readonly string[] = Object.freeze([]);

/**
 * The access policy of one route, as `ClientTokenGuard` enforces it and the OpenAPI helper
 * documents it: both read it here so the document cannot drift from what the guard checks.
 */
export function readRouteAccessPolicy(
  reflector: Reflector,
  controller: Type,
  handler: ReturnType<ExecutionContext['getHandler']>,
): RouteAccessPolicy {
  return {
    isPublic: reflector.getAllAndOverride(Public, [handler, controller]) === true,
    requiredScopes: mergeScopes(
      reflector.get<readonly string[] | undefined>(REQUIRED_SCOPES_METADATA, controller),
      reflector.get<readonly string[] | undefined>(REQUIRED_SCOPES_METADATA, handler),
    ),
  };
}

function mergeScopes(
  controller: readonly string[] | undefined,
  handler: readonly string[] | undefined,
): readonly string[] {
  if (!controller) return handler ?? NO_SCOPES;
  if (!handler) return controller;
  return Object.freeze([...new Set([...controller, ...handler])]);
}

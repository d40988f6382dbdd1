import type { INestApplicationContext, Type } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA } from '@nestjs/common/constants.js';
import { APP_GUARD, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { ClientTokenGuard } from './client-token.guard.js';
import { ConfigurationError } from '../errors/configuration.error.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { readRouteAccessPolicy } from './route-policy.util.js';

/** Options of {@link addClientCredentialsSecurity}. */
export interface ClientCredentialsSecurityOptions {
  /** Name of the security scheme. Default `'oauth2'`, the name `@ApiOAuth2()` uses. */
  name?: string;
  /**
   * Token endpoint Swagger UI asks for a token. Default: the ID service's `token_endpoint`
   * (`endpoints.token` or discovery), through the app's `IssuerMetadataProvider`.
   */
  tokenUrl?: string;
  /**
   * Descriptions of scopes, shown by Swagger UI. Every scope a guarded route requires is listed
   * anyway (with an empty description unless given here).
   */
  scopes?: Record<string, string>;
  /** Description of the security scheme. */
  description?: string;
  /**
   * Treat every route as guarded unless `@Public()`: for a guard registered with
   * `app.useGlobalGuards()`, which the helper cannot see. A guard provided as `APP_GUARD` is found
   * without it.
   */
  globalGuard?: boolean;
}

/**
 * The part of @nestjs/swagger's `DocumentBuilder` the helper calls, so that the library's types do
 * not require @nestjs/swagger.
 */
export interface OAuth2DocumentBuilder {
  addOAuth2(
    options: {
      type: 'oauth2';
      description?: string;
      flows: { clientCredentials: { tokenUrl: string; scopes: Record<string, string> } };
    },
    name: string,
  ): unknown;
}

/** A route `ClientTokenGuard` protects, with the scopes it requires. */
export interface GuardedRoute {
  controller: Type;
  methodName: string;
  /** The controller's and the handler's `@RequireScopes()` together. */
  scopes: readonly string[];
  /** `@RequireScopes.any()` lists: one scope of each is needed. Absent when none. */
  anyOfScopes?: readonly (readonly string[])[];
}

/** More alternatives than this for one route are documented as its required scopes alone. */
const MAX_ALTERNATIVES = 32;

type SwaggerModule = typeof import('@nestjs/swagger');

// One security requirement per scheme name and scope list on each handler, however often the
// helper runs (apps built twice in one process share their controller classes).
const applied = new WeakMap<object, Set<string>>();
let swagger: Promise<SwaggerModule> | undefined;

/**
 * Declares the OAuth 2.0 client credentials security scheme on a `DocumentBuilder` and marks every
 * route `ClientTokenGuard` protects (by `@UseGuards()` or as `APP_GUARD`, and not `@Public()`) with
 * a security requirement listing its `@RequireScopes()` scopes, so that Swagger UI can fetch a token
 * and call them. Call it after the app is created and before `SwaggerModule.createDocument()`.
 * Needs `@nestjs/swagger` (an optional peer dependency).
 *
 * @example
 * const config = await addClientCredentialsSecurity(app, new DocumentBuilder().setTitle('Orders'));
 * SwaggerModule.setup('docs', app, SwaggerModule.createDocument(app, config.build()));
 * @see https://spec.openapis.org/oas/v3.0.3#oauth-flows-object
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export async function addClientCredentialsSecurity<B extends OAuth2DocumentBuilder>(
  app: INestApplicationContext,
  builder: B,
  options: ClientCredentialsSecurityOptions = {},
): Promise<B> {
  const name = options.name ?? 'oauth2';
  const routes = findGuardedRoutes(app, { globalGuard: options.globalGuard });
  const scopes: Record<string, string> = {};
  for (const route of routes) {
    for (const scope of [...route.scopes, ...(route.anyOfScopes?.flat() ?? [])]) scopes[scope] = '';
  }
  Object.assign(scopes, options.scopes);
  builder.addOAuth2(
    {
      type: 'oauth2',
      ...(options.description ? { description: options.description } : {}),
      flows: { clientCredentials: { tokenUrl: await tokenUrl(app, options), scopes } },
    },
    name,
  );
  const { ApiOAuth2 } = await (swagger ??= import('@nestjs/swagger'));
  for (const route of routes) {
    const descriptor = findDescriptor(route.controller.prototype as object, route.methodName);
    const handler: unknown = descriptor?.value;
    if (!descriptor || typeof handler !== 'function') continue;
    for (const alternative of securityAlternatives(route)) {
      const key = JSON.stringify([name, alternative]);
      const done = applied.get(handler) ?? new Set<string>();
      if (done.has(key)) continue;
      done.add(key);
      applied.set(handler, done);
      ApiOAuth2([...alternative], name)(route.controller.prototype as object, route.methodName, {
        ...descriptor,
        value: handler,
      });
    }
  }
  return builder;
}

/**
 * The scope sets that each satisfy a route, as OpenAPI's alternative security requirements: its
 * required scopes plus one scope of each `@RequireScopes.any()` list. A route without `.any()`
 * has one, its required scopes.
 */
export function securityAlternatives(route: GuardedRoute): (readonly string[])[] {
  let alternatives: (readonly string[])[] = [route.scopes];
  for (const accepted of route.anyOfScopes ?? []) {
    if (alternatives.length * accepted.length > MAX_ALTERNATIVES) return [route.scopes];
    alternatives = alternatives.flatMap((scopes) =>
      accepted.map((scope) => (scopes.includes(scope) ? scopes : [...scopes, scope])),
    );
  }
  const unique = new Map(alternatives.map((scopes) => [JSON.stringify(scopes), scopes]));
  return [...unique.values()];
}

/**
 * The HTTP routes of the app that `ClientTokenGuard` (or a subclass) protects: guarded by
 * `@UseGuards()` on the handler or its controller, or by an `APP_GUARD` (or `globalGuard`), and
 * not opened with `@Public()`.
 */
export function findGuardedRoutes(
  app: INestApplicationContext,
  options: { globalGuard?: boolean } = {},
): GuardedRoute[] {
  const modules = [...app.get(ModulesContainer).values()];
  const reflector = new Reflector();
  const scanner = new MetadataScanner();
  const global = options.globalGuard === true || modules.some(hasGlobalTokenGuard);
  const routes: GuardedRoute[] = [];
  const seen = new Set<Type>();
  for (const module of modules) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as Type | null;
      if (typeof controller !== 'function' || seen.has(controller)) continue;
      seen.add(controller);
      const prototype = controller.prototype as Record<string, unknown>;
      for (const methodName of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[methodName];
        if (typeof handler !== 'function' || !Reflect.hasMetadata(METHOD_METADATA, handler)) {
          continue;
        }
        if (!(global || usesTokenGuard(controller) || usesTokenGuard(handler as object))) continue;
        // Read as ClientTokenGuard reads it, so the document shows what the guard enforces.
        const policy = readRouteAccessPolicy(reflector, controller, handler);
        if (policy.isPublic) continue;
        routes.push({
          controller,
          methodName,
          scopes: policy.requiredScopes,
          ...(policy.anyOfScopes ? { anyOfScopes: policy.anyOfScopes } : {}),
        });
      }
    }
  }
  return routes;
}

async function tokenUrl(
  app: INestApplicationContext,
  options: ClientCredentialsSecurityOptions,
): Promise<string> {
  if (options.tokenUrl !== undefined) return options.tokenUrl;
  let metadata: IssuerMetadataProvider;
  try {
    metadata = app.get(IssuerMetadataProvider, { strict: false });
  } catch {
    throw new ConfigurationError(
      'tokenUrl',
      'expected a token URL, or OidcClientCredentialsModule in the app to discover it',
    );
  }
  const server = await metadata.require('token_endpoint');
  return server.token_endpoint as string;
}

function hasGlobalTokenGuard(module: {
  providers: Map<unknown, { metatype?: unknown; instance?: unknown }>;
}): boolean {
  for (const [token, wrapper] of module.providers) {
    // Nest registers each APP_GUARD provider under "APP_GUARD (UUID: …)".
    if (typeof token !== 'string' || !token.startsWith(APP_GUARD)) continue;
    if (isTokenGuard(wrapper.instance) || isTokenGuard(wrapper.metatype)) return true;
  }
  return false;
}

function usesTokenGuard(target: object): boolean {
  const guards: unknown = Reflect.getMetadata(GUARDS_METADATA, target);
  return Array.isArray(guards) && guards.some(isTokenGuard);
}

function isTokenGuard(guard: unknown): boolean {
  if (typeof guard === 'function') {
    return guard === ClientTokenGuard || guard.prototype instanceof ClientTokenGuard;
  }
  return guard instanceof ClientTokenGuard;
}

function findDescriptor(prototype: object, key: string): PropertyDescriptor | undefined {
  for (let p: object | null = prototype; p; p = Object.getPrototypeOf(p) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(p, key);
    if (descriptor) return descriptor;
  }
  return undefined;
}

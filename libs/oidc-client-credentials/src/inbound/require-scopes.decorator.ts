import { SetMetadata, type CustomDecorator } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';
import { isScopeToken } from './www-authenticate.util.js';

/** Metadata key of {@link RequireScopes}. */
export const REQUIRED_SCOPES_METADATA = 'nest-oidc-client-credentials:required-scopes';
/** Metadata key of {@link RequireScopes.any}. */
export const ANY_OF_SCOPES_METADATA = 'nest-oidc-client-credentials:any-of-scopes';

/** The type of {@link RequireScopes}: all of the scopes, or with `.any()` one of them. */
export interface RequireScopesDecorator {
  /** Requires every listed scope. */
  (...scopes: string[]): CustomDecorator<string>;
  /** Requires at least one of the listed scopes. */
  any(...scopes: string[]): CustomDecorator<string>;
}

/**
 * Requires every listed scope in the verified token (exact match against its space-separated
 * scopes; `read` is not satisfied by `read:all` or `reader`). Otherwise `ClientTokenGuard` answers
 * 403 `insufficient_scope` with `scope="…"` naming the required scopes.
 *
 * `RequireScopes.any(...)` requires at least one of its scopes instead; a token with none of them
 * gets 403 `insufficient_scope` with `scope="…"` naming the scopes of which one would do, and
 * "The access token has none of the scopes this route accepts".
 *
 * On a controller and on one of its handlers, every list applies (each `.any()` list needs one of
 * its scopes): a handler can add requirements, never lift its controller's. Both forms can be
 * used on one route.
 *
 * @example
 * @RequireScopes('orders:read')
 * @Get('orders')
 * list() {}
 *
 * @RequireScopes.any('orders:write', 'orders:admin')
 * @Post('orders')
 * create() {}
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export const RequireScopes: RequireScopesDecorator = Object.assign(
  (...scopes: string[]) =>
    SetMetadata(REQUIRED_SCOPES_METADATA, scopeList('@RequireScopes()', scopes)),
  {
    any: (...scopes: string[]) =>
      SetMetadata(ANY_OF_SCOPES_METADATA, scopeList('@RequireScopes.any()', scopes)),
  },
);

function scopeList(decorator: string, scopes: string[]): readonly string[] {
  if (scopes.length === 0) {
    throw new ConfigurationError(decorator, 'expected at least one scope');
  }
  for (const scope of scopes) {
    if (!isScopeToken(scope)) {
      throw new ConfigurationError(
        decorator,
        `expected scope tokens without spaces, quotes or backslashes, got ${JSON.stringify(scope)}`,
      );
    }
  }
  return Object.freeze([...new Set(scopes)]);
}

import { SetMetadata, type CustomDecorator } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';
import { isScopeToken } from './www-authenticate.util.js';

/** Metadata key of {@link RequireScopes}. */
export const REQUIRED_SCOPES_METADATA = 'nest-oidc-client-credentials:required-scopes';

/**
 * Requires every listed scope in the verified token (exact match against its space-separated
 * scopes; `read` is not satisfied by `read:all` or `reader`). Otherwise `ClientTokenGuard` answers
 * 403 `insufficient_scope` with `scope="…"` naming the required scopes.
 *
 * On a controller and on one of its handlers, both lists apply: a handler can add requirements,
 * never lift its controller's.
 *
 * @example
 * @RequireScopes('orders:read')
 * @Get('orders')
 * list() {}
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function RequireScopes(...scopes: string[]): CustomDecorator<string> {
  if (scopes.length === 0) {
    throw new ConfigurationError('@RequireScopes()', 'expected at least one scope');
  }
  for (const scope of scopes) {
    if (!isScopeToken(scope)) {
      throw new ConfigurationError(
        '@RequireScopes()',
        `expected scope tokens without spaces, quotes or backslashes, got ${JSON.stringify(scope)}`,
      );
    }
  }
  return SetMetadata(REQUIRED_SCOPES_METADATA, Object.freeze([...new Set(scopes)]));
}

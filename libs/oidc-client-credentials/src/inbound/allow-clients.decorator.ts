import { SetMetadata, type CustomDecorator } from '@nestjs/common';
import { ConfigurationError } from '../errors/configuration.error.js';

/** Metadata key of {@link AllowClients}. */
export const ALLOWED_CLIENTS_METADATA = 'nest-oidc-client-credentials:allowed-clients';

/**
 * Lets only the listed clients call a route (or every route of a controller): the verified token's
 * client (`client_id`, else `sub`) must be one of them. Others get 403 `insufficient_scope`
 * ("The client is not allowed to call this route").
 *
 * On a controller and on one of its handlers, both lists apply: a client must be in each, so a
 * handler can narrow its controller's list, never widen it. `verification.allowedClientIds`, the
 * service-wide list, applies as well. Checked on every request, also when the strategy answers
 * from its cache.
 *
 * @example
 * @AllowClients('billing', 'reports')
 * @Get('invoices')
 * list() {}
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function AllowClients(...clientIds: string[]): CustomDecorator<string> {
  if (clientIds.length === 0) {
    throw new ConfigurationError('@AllowClients()', 'expected at least one client id');
  }
  for (const clientId of clientIds) {
    if (typeof clientId !== 'string' || clientId.length === 0) {
      throw new ConfigurationError(
        '@AllowClients()',
        `expected non-empty client id strings, got ${describe(clientId)}`,
      );
    }
  }
  return SetMetadata(ALLOWED_CLIENTS_METADATA, Object.freeze([...new Set(clientIds)]));
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}

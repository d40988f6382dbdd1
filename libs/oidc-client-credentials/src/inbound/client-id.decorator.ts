import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { requireVerifiedToken } from './verified-tokens.js';

/**
 * The calling client's id, from the token `ClientTokenGuard` verified: its `client_id` when present
 * (in an introspection answer also a `clientId` member, which some ID services send), else its
 * `sub`. Throws (500) on a route the guard did not check, rather than yielding `undefined`.
 *
 * @example
 * @UseGuards(ClientTokenGuard)
 * @Get('orders')
 * list(@ClientId() clientId: string) {}
 */
export const ClientId = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string =>
    requireVerifiedToken(context, '@ClientId()').clientId,
);

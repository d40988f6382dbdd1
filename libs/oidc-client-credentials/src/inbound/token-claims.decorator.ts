import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { requireVerifiedToken } from './verified-tokens.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';

/**
 * The {@link VerifiedToken} `ClientTokenGuard` verified for this request (client id, subject,
 * scopes, expiry, all claims). Throws (500) on a route the guard did not check, rather than
 * yielding `undefined`.
 *
 * @example
 * @UseGuards(ClientTokenGuard)
 * @Get('whoami')
 * whoami(@TokenClaims() token: VerifiedToken) { return token.scopes; }
 */
export const TokenClaims = createParamDecorator(
  (_data: unknown, context: ExecutionContext): VerifiedToken =>
    requireVerifiedToken(context, '@TokenClaims()'),
);

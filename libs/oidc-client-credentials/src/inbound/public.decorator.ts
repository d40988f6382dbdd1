import { Reflector } from '@nestjs/core';

/**
 * Opens a route (or every route of a controller) to requests without a bearer token, also when
 * `ClientTokenGuard` is registered globally as `APP_GUARD`. Without it every route is protected.
 * A handler's marker wins over its controller's.
 *
 * `@ClientId()` and `@TokenClaims()` are not available on a public route: nothing was verified.
 *
 * @example
 * @Public()
 * @Get('health')
 * health() { return 'ok'; }
 */
export const Public = Reflector.createDecorator<void, true>({
  key: 'nest-oidc-client-credentials:public',
  transform: () => true,
});

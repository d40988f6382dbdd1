import type { ModuleMetadata } from '@nestjs/common';
import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import { OrdersController } from './orders.controller.js';

/** The audience the orders API expects in its tokens. */
export const AUDIENCE = 'urn:orders-api';
/** The orders API's own client at the ID service, for introspection. */
export const API_CLIENT = { id: 'orders-api', secret: 'orders-api-secret' };

/**
 * The orders API ({@link OrdersController}, guarded by `ClientTokenGuard`) checking tokens of
 * `issuer` for {@link AUDIENCE} with `verification`, as its own client {@link API_CLIENT}.
 */
export function ordersApiModule(
  issuer: string,
  verification: VerificationOptions,
  options: Partial<OidcClientCredentialsModuleOptions> = {},
): ModuleMetadata {
  return {
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer,
        clientId: API_CLIENT.id,
        clientSecret: API_CLIENT.secret,
        ...options,
        verification: { audience: AUDIENCE, ...verification },
      }),
    ],
    controllers: [OrdersController],
  };
}

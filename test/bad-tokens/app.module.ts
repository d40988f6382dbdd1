import type { ModuleMetadata } from '@nestjs/common';
import {
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import { OrdersController } from '../utils/orders.controller.js';

/** The audience this API expects in JWT access tokens. */
export const AUDIENCE = 'urn:orders-api';
/** This API's own client at the ID service, used to call introspection. */
export const API_CLIENT = { id: 'orders-api', secret: 'orders-api-secret' };

/** An API that checks tokens with the built-in strategies against the given ID service. */
export function badTokensAppModule(
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
        verification: {
          audience: AUDIENCE,
          // Deterministic request counts: an unknown kid costs exactly one JWKS fetch (no
          // cooldown to wait for), after which it is refused with 401.
          jwksCooldownSeconds: 0,
          ...verification,
        },
      }),
    ],
    controllers: [OrdersController],
  };
}

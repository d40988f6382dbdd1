import type { ModuleMetadata } from '@nestjs/common';
import type {
  OidcClientCredentialsModuleOptions,
  VerificationOptions,
} from 'nest-oidc-client-credentials';
import { ordersApiModule } from '../utils/orders-api.module.js';

export { API_CLIENT, AUDIENCE } from '../utils/orders-api.module.js';

/** The orders API checking tokens with the built-in strategies against the given ID service. */
export function badTokensAppModule(
  issuer: string,
  verification: VerificationOptions,
  options: Partial<OidcClientCredentialsModuleOptions> = {},
): ModuleMetadata {
  return ordersApiModule(
    issuer,
    {
      // Deterministic request counts: an unknown kid costs exactly one JWKS fetch (no cooldown to
      // wait for), after which it is refused with 401.
      jwksCooldownSeconds: 0,
      ...verification,
    },
    options,
  );
}

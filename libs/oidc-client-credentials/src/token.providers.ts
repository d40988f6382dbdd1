import type { Provider } from '@nestjs/common';
import { ClientCredentialsHttpService } from './client-credentials-http.service.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from './oidc-client-credentials.module-definition.js';
import { TokenProvider } from './token.provider.js';
import type { ResolvedOptions } from './utils/resolve-options.util.js';

/** Outbound providers: the token provider and the token-attaching HttpService. */
export const TOKEN_PROVIDERS: Provider[] = [
  TokenProvider,
  {
    provide: ClientCredentialsHttpService,
    useFactory: (tokenProvider: TokenProvider, options: ResolvedOptions) =>
      new ClientCredentialsHttpService(tokenProvider, options.authorizedHttp),
    inject: [TokenProvider, OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS],
  },
];

/** Outbound providers visible to importers. */
export const TOKEN_EXPORTS: Provider[] = [TokenProvider, ClientCredentialsHttpService];

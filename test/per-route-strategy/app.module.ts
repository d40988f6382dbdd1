import { Controller, Get, Injectable, UseGuards, type ModuleMetadata } from '@nestjs/common';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  TokenClaims,
  TokenVerificationError,
  TokenVerificationStrategy,
  VerifyWith,
  type OidcClientCredentialsModuleOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';

/** A user's own strategy, provided in the app: tokens that start with `key-` name their client. */
@Injectable()
export class ApiKeyStrategy extends TokenVerificationStrategy {
  calls = 0;

  async verify(token: string): Promise<VerifiedToken> {
    this.calls += 1;
    if (!token.startsWith('key-')) {
      throw new TokenVerificationError('OIDC_CC_TOKEN_INVALID', 'Not an API key');
    }
    return { clientId: token.slice(4), scopes: [], claims: {} };
  }
}

/** A strategy class that no module provides. */
export class UnprovidedStrategy extends ApiKeyStrategy {}

const answer = (clientId: string, token: VerifiedToken) => ({ clientId, claims: token.claims });

/** One controller, a strategy per route; the controller's choice is userinfo. */
@Controller()
@UseGuards(ClientTokenGuard)
@VerifyWith('userinfo')
class RoutesController {
  @Get('jwt')
  @VerifyWith('jwt')
  jwt(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken) {
    return answer(clientId, token);
  }

  @Get('introspection')
  @VerifyWith('introspection')
  introspection(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken) {
    return answer(clientId, token);
  }

  @Get('userinfo')
  userinfo(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken) {
    return answer(clientId, token);
  }

  @Get('api-key')
  @VerifyWith(ApiKeyStrategy)
  apiKey(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('unprovided')
  @VerifyWith(UnprovidedStrategy)
  unprovided(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** Routes without a choice: the module's `verification.strategy`. */
@Controller('default')
@UseGuards(ClientTokenGuard)
class DefaultController {
  @Get()
  index(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** One module, one app: routes verified by JWT, introspection, userinfo and a user strategy. */
export function perRouteAppModule(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(options)],
    controllers: [RoutesController, DefaultController],
    providers: [ApiKeyStrategy],
  };
}

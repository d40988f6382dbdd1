import {
  Controller,
  Get,
  Injectable,
  Module,
  UseGuards,
  type DynamicModule,
  type ModuleMetadata,
  type Type,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  Public,
  RequireScopes,
  TokenClaims,
  type OidcClientCredentialsModuleOptions,
  type VerificationOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';

/** The audience this API expects in JWT access tokens. */
export const AUDIENCE = 'urn:hardening-api';
/** This API's own client at the ID service, which introspection authenticates as. */
export const API_CLIENT = { id: 'hardening-api', secret: 'hardening-api-secret' };

/** What every guarded route answers: enough to see who the guard let in, and how. */
export interface WhoAmI {
  clientId: string;
  subject?: string;
  scopes: string[];
  /** `claims` has no prototype, so a `__proto__` claim stays plain data (S38). */
  claimsHaveNoPrototype: boolean;
  /** Whether `Object.prototype` gained an `admin` member (S38: it must not). */
  prototypePolluted: boolean;
}

/** The same two routes under each strategy's prefix. */
abstract class StrategyRoutes {
  @Get('whoami')
  whoami(@TokenClaims() token: VerifiedToken): WhoAmI {
    return {
      clientId: token.clientId,
      subject: token.subject,
      scopes: token.scopes,
      claimsHaveNoPrototype: Object.getPrototypeOf(token.claims) === null,
      prototypePolluted: 'admin' in {},
    };
  }

  @Get('orders')
  @RequireScopes('orders:read')
  orders(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** Tokens checked locally, default profile (the seed's tokens), audience required. */
@UseGuards(ClientTokenGuard)
@Controller('jwt')
class JwtRoutes extends StrategyRoutes {}

/** Tokens checked locally under the RFC 9068 profile, `sub` must be the client. */
@UseGuards(ClientTokenGuard)
@Controller('strict')
class StrictRoutes extends StrategyRoutes {}

/** Tokens checked with the ID service's introspection endpoint. */
@UseGuards(ClientTokenGuard)
@Controller('introspection')
class IntrospectionRoutes extends StrategyRoutes {}

/** Tokens checked with the ID service's userinfo endpoint. */
@UseGuards(ClientTokenGuard)
@Controller('userinfo')
class UserinfoRoutes extends StrategyRoutes {}

@Module({})
class JwtRoutesModule {}
@Module({})
class StrictRoutesModule {}
@Module({})
class IntrospectionRoutesModule {}
@Module({})
class UserinfoRoutesModule {}

/** The route prefixes of {@link hardeningAppModule}. */
export type HardeningRoute = 'jwt' | 'strict' | 'introspection' | 'userinfo';

const ROUTES: Record<HardeningRoute, { module: Type; controller: Type; v: VerificationOptions }> = {
  jwt: { module: JwtRoutesModule, controller: JwtRoutes, v: { strategy: 'jwt' } },
  strict: {
    module: StrictRoutesModule,
    controller: StrictRoutes,
    v: { strategy: 'jwt', profile: 'rfc9068', requireSubjectIsClient: true },
  },
  introspection: {
    module: IntrospectionRoutesModule,
    controller: IntrospectionRoutes,
    v: { strategy: 'introspection' },
  },
  userinfo: {
    module: UserinfoRoutesModule,
    controller: UserinfoRoutes,
    v: { strategy: 'userinfo' },
  },
};

/** Module options shared by every route module: this API's client, short timeouts. */
export function baseOptions(
  issuer: string,
  verification: VerificationOptions = {},
): OidcClientCredentialsModuleOptions {
  return {
    issuer,
    clientId: API_CLIENT.id,
    clientSecret: API_CLIENT.secret,
    http: { timeoutMs: 1000 },
    verification: {
      audience: AUDIENCE,
      // Deterministic ID-service counts: after warm-up no JWKS refetch happens during a run.
      jwksCooldownSeconds: 600,
      ...verification,
    },
  };
}

/**
 * An API with one route module per way of checking tokens (`/jwt`, `/strict`, `/introspection`,
 * `/userinfo`), each importing its own `OidcClientCredentialsModule`, so each controller's
 * `ClientTokenGuard` gets that module's strategy.
 */
export function hardeningAppModule(
  issuer: string,
  verification: VerificationOptions = {},
  options: Partial<OidcClientCredentialsModuleOptions> = {},
): ModuleMetadata {
  const imports: DynamicModule[] = Object.values(ROUTES).map(({ module, controller, v }) => ({
    module,
    imports: [
      OidcClientCredentialsModule.forRoot({
        ...baseOptions(issuer, { ...v, ...verification }),
        ...options,
      }),
    ],
    controllers: [controller],
  }));
  return { imports };
}

/** Routes of an app whose guard is global (`APP_GUARD`). */
@Controller('global')
class GlobalRoutes {
  /** No decorator at all: protected by default (S10). */
  @Get('undecorated')
  undecorated(@ClientId() clientId: string) {
    return { clientId };
  }

  @Public()
  @Get('health')
  health() {
    return { ok: true };
  }
}

/**
 * A message handler as a non-HTTP transport (RPC, WebSocket, GraphQL) would call it through
 * Nest's external context, where the global guard also runs (S11).
 */
@Injectable()
export class MessageHandler {
  handled = 0;

  onMessage(_payload: unknown): string {
    this.handled += 1;
    return 'handled';
  }
}

/** `ClientTokenGuard` app-wide with the JWT strategy, and a message handler for S11. */
export function globalGuardAppModule(issuer: string): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(baseOptions(issuer, { strategy: 'jwt' }))],
    controllers: [GlobalRoutes],
    providers: [MessageHandler, { provide: APP_GUARD, useClass: ClientTokenGuard }],
  };
}

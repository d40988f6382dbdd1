import {
  Controller,
  Get,
  HttpException,
  Post,
  UseGuards,
  type ExecutionContext,
  type ModuleMetadata,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  ClientId,
  ClientTokenGuard,
  InsufficientScopeError,
  OidcClientCredentialsModule,
  Public,
  RequireScopes,
  TokenClaims,
  TokenVerificationError,
  TokenVerificationStrategy,
  type VerificationOptions,
  type VerifiedToken,
} from 'nest-oidc-client-credentials';

/**
 * A user's own strategy: tokens are looked up in a map. This is the "plug your own strategy" path;
 * it also lets the guard be tested without an ID service.
 */
export class InMemoryStrategy extends TokenVerificationStrategy {
  readonly answers = new Map<string, VerifiedToken | unknown>();
  calls = 0;

  async verify(token: string): Promise<VerifiedToken> {
    this.calls += 1;
    if (!this.answers.has(token)) {
      throw new TokenVerificationError('OIDC_CC_TOKEN_INVALID', 'Unknown token');
    }
    const answer = this.answers.get(token);
    if (answer instanceof Error || answer instanceof HttpException) throw answer;
    return answer as VerifiedToken;
  }
}

/** A verified token of `clientId` with the given scopes, valid for an hour. */
export function verified(clientId: string, scope = '', extra: Partial<VerifiedToken> = {}) {
  const scopes = scope ? scope.split(' ') : [];
  return {
    clientId,
    subject: clientId,
    scopes,
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    claims: Object.assign(Object.create(null), { sub: clientId, client_id: clientId, scope }),
    ...extra,
  } satisfies VerifiedToken;
}

@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersController {
  @Get()
  list(@ClientId() clientId: string, @TokenClaims() token: VerifiedToken) {
    return { clientId, scopes: token.scopes };
  }

  @Post()
  create(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('read')
  @RequireScopes('orders:read')
  read(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('write')
  @RequireScopes('orders:read', 'orders:write')
  write(@ClientId() clientId: string) {
    return { clientId };
  }
}

@Controller('admin')
@UseGuards(ClientTokenGuard)
@RequireScopes('admin')
class AdminController {
  @Get()
  index(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('purge')
  @RequireScopes('admin:purge')
  purge(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** One handler shared by two controllers with different requirements, through inheritance. */
abstract class ReportsController {
  @Get()
  index(@ClientId() clientId: string) {
    return { clientId };
  }
}

@Controller('reports/sales')
@UseGuards(ClientTokenGuard)
@RequireScopes('sales')
class SalesReportsController extends ReportsController {}

@Controller('reports/payroll')
@UseGuards(ClientTokenGuard)
@RequireScopes('payroll')
class PayrollReportsController extends ReportsController {}

@Controller('unguarded')
class UnguardedController {
  @Get('client')
  client(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** Extends one step, as users may: only clients of tenant "acme" pass. */
class TenantGuard extends ClientTokenGuard {
  protected override authorize(token: VerifiedToken, context: ExecutionContext): void {
    super.authorize(token, context);
    if (token.claims.tenant !== 'acme') {
      throw new InsufficientScopeError('OIDC_CC_CLIENT_NOT_ALLOWED', 'Wrong tenant');
    }
  }
}

@Controller('tenant')
@UseGuards(TenantGuard)
class TenantController {
  @Get()
  index(@ClientId() clientId: string) {
    return { clientId };
  }
}

/**
 * Routes guarded per controller with `@UseGuards(ClientTokenGuard)`; the strategy is plugged in
 * through `verification.strategy`, the documented way.
 */
export function guardedAppModule(
  strategy: TokenVerificationStrategy,
  verification: VerificationOptions = {},
): ModuleMetadata {
  return {
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: 'http://127.0.0.1:9',
        verification: { strategy, ...verification },
      }),
    ],
    controllers: [
      OrdersController,
      AdminController,
      UnguardedController,
      TenantController,
      SalesReportsController,
      PayrollReportsController,
    ],
  };
}

@Controller('global')
class GlobalController {
  @Get('protected')
  protected(@ClientId() clientId: string) {
    return { clientId };
  }

  @Public()
  @Get('health')
  health() {
    return { ok: true };
  }

  @Public()
  @Get('public-client')
  publicClient(@ClientId() clientId: string) {
    return { clientId };
  }
}

@Public()
@Controller('docs')
class DocsController {
  @Get()
  index() {
    return { docs: true };
  }
}

/** The guard app-wide as `APP_GUARD`, with `@Public()` routes. */
export function globalGuardAppModule(strategy: TokenVerificationStrategy): ModuleMetadata {
  return {
    imports: [
      OidcClientCredentialsModule.forRoot({
        issuer: 'http://127.0.0.1:9',
        verification: { strategy },
      }),
    ],
    controllers: [GlobalController, DocsController],
    providers: [{ provide: APP_GUARD, useClass: ClientTokenGuard }],
  };
}

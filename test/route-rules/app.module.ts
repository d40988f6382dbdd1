import { Controller, Get, UseGuards, type ModuleMetadata } from '@nestjs/common';
import {
  AllowClients,
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  RequireClaims,
  RequireScopes,
  type ClaimsPredicate,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

/** `@AllowClients()` on a controller and on its handlers: a client must be in every list. */
@Controller('clients')
@UseGuards(ClientTokenGuard)
@AllowClients('billing', 'reports')
class ClientsController {
  @Get()
  index(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('reports-only')
  @AllowClients('reports')
  reportsOnly(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('shipping')
  @AllowClients('shipping', 'billing')
  shipping(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** `@AllowClients()` on a handler alone. */
@Controller('audit')
@UseGuards(ClientTokenGuard)
class AuditController {
  @Get()
  @AllowClients('auditor')
  index(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('open')
  open(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** A predicate for a claim the object form cannot express: a nested one. */
const hasEuRegion: ClaimsPredicate = (claims) => {
  const address = claims.address as { region?: unknown } | undefined;
  return address?.region === 'eu';
};

/** A predicate that throws for a token without the claim it reads. */
const throwsWithoutLimits: ClaimsPredicate = (claims) =>
  (claims.limits as { refunds: number }).refunds >= 1000;

/** A predicate written as `async` by mistake: its promise is not a boolean. */
const asyncPredicate = (async () => true) as unknown as ClaimsPredicate;

@Controller('claims')
@UseGuards(ClientTokenGuard)
class ClaimsController {
  @Get('tenant')
  @RequireClaims({ tenant: 'acme' })
  tenant(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('admin')
  @RequireClaims({ tenant: 'acme', roles: ['admin'] })
  admin(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('admin-auditor')
  @RequireClaims({ roles: ['admin', 'auditor'] })
  adminAuditor(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('level')
  @RequireClaims({ level: 3, verified: true })
  level(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('region')
  @RequireClaims(hasEuRegion)
  region(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('limits')
  @RequireClaims(throwsWithoutLimits)
  limits(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('async')
  @RequireClaims(asyncPredicate)
  asyncPredicate(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('constructor')
  @RequireClaims({ constructor: 'Object' })
  prototypeMember(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** `@RequireClaims()` on a controller and on a handler: both apply. */
@Controller('tenant-admin')
@UseGuards(ClientTokenGuard)
@RequireClaims({ tenant: 'acme' })
class TenantAdminController {
  @Get()
  @RequireClaims({ roles: 'admin' })
  index(@ClientId() clientId: string) {
    return { clientId };
  }
}

@Controller('scopes')
@UseGuards(ClientTokenGuard)
class ScopesController {
  @Get('any')
  @RequireScopes.any('orders:read', 'orders:admin')
  any(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('all-and-any')
  @RequireScopes('orders:read')
  @RequireScopes.any('region:eu', 'region:us')
  allAndAny(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** `@RequireScopes.any()` on a controller and on a handler: one scope of each list. */
@Controller('reports')
@UseGuards(ClientTokenGuard)
@RequireScopes.any('reports:read', 'reports:admin')
class ReportsController {
  @Get('export')
  @RequireScopes.any('export:csv', 'export:pdf')
  export(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** The route rules of an app verified by JWT against the fake ID service. */
export function routeRulesAppModule(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(options)],
    controllers: [
      ClientsController,
      AuditController,
      ClaimsController,
      TenantAdminController,
      ScopesController,
      ReportsController,
    ],
  };
}

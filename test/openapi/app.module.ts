import { Controller, Get, Post, UseGuards, type ModuleMetadata } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  ClientTokenGuard,
  OidcClientCredentialsModule,
  Public,
  RequireScopes,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

@Controller('orders')
@UseGuards(ClientTokenGuard)
@RequireScopes('orders:read')
class OrdersController {
  @Get()
  list() {
    return [];
  }

  @Post()
  @RequireScopes('orders:write')
  create() {
    return {};
  }

  @Public()
  @Get('health')
  health() {
    return 'ok';
  }
}

/** A subclass of the guard, as users write them, on one handler only. */
class TenantGuard extends ClientTokenGuard {}

@Controller('reports')
class ReportsController {
  @Get()
  @UseGuards(TenantGuard)
  list() {
    return [];
  }

  @Get('public')
  open() {
    return [];
  }
}

/** Routes guarded per controller or handler with `@UseGuards()`. */
export function perRouteAppModule(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(options)],
    controllers: [OrdersController, ReportsController],
  };
}

@Controller('invoices')
class InvoicesController {
  @Get()
  @RequireScopes('invoices:read')
  list() {
    return [];
  }
}

@Public()
@Controller('status')
class StatusController {
  @Get()
  status() {
    return 'ok';
  }
}

/** The guard app-wide as `APP_GUARD`. */
export function globalGuardAppModule(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(options)],
    controllers: [InvoicesController, StatusController],
    providers: [{ provide: APP_GUARD, useClass: ClientTokenGuard }],
  };
}

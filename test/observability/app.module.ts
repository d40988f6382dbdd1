import { Controller, Get, UseGuards, type ModuleMetadata } from '@nestjs/common';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  RequireScopes,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersController {
  @Get()
  list(@ClientId() clientId: string) {
    return { clientId };
  }

  @Get('admin')
  @RequireScopes('orders:admin')
  admin() {
    return { ok: true };
  }
}

/** An app that both calls out (root and `billing` clients) and guards its own routes. */
export function observedApp(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(options)],
    controllers: [OrdersController],
  };
}

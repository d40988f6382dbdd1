import { Controller, Get, UseGuards, type ModuleMetadata } from '@nestjs/common';
import {
  ClientId,
  ClientTokenGuard,
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersController {
  @Get()
  list(@ClientId() clientId: string) {
    return { clientId };
  }
}

/** One guarded route, checked as `options` say: what its refusals log is the scenario. */
export function diagnosticsApp(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [OidcClientCredentialsModule.forRoot(options)],
    controllers: [OrdersController],
  };
}

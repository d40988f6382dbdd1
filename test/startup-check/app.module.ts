import { Controller, Get, Module, UseGuards, type DynamicModule } from '@nestjs/common';
import {
  ClientTokenGuard,
  OidcClientCredentialsModule,
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

/** A service that both calls out (its token provider) and checks the tokens it is sent. */
@Controller('orders')
@UseGuards(ClientTokenGuard)
class OrdersController {
  constructor(private readonly tokens: TokenProvider) {}

  @Get()
  list(): string[] {
    return [];
  }

  /** Keeps the outbound side in use, as a real service would. */
  token(): Promise<string> {
    return this.tokens.getToken();
  }
}

/** The small app of the startup check scenarios: the library registered with `options`. */
@Module({})
export class StartupCheckAppModule {
  static register(options: OidcClientCredentialsModuleOptions): DynamicModule {
    return {
      module: StartupCheckAppModule,
      imports: [OidcClientCredentialsModule.forRoot(options)],
      controllers: [OrdersController],
    };
  }
}

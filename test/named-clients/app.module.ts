import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import {
  ClientCredentialsHttpService,
  InjectClientCredentialsHttp,
  InjectTokenProvider,
  OidcClientCredentialsModule,
  TokenProvider,
  type NamedClientOptions,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

/** A user's service that calls two APIs under two outbound identities and the root one. */
@Injectable()
export class Callers {
  constructor(
    readonly root: TokenProvider,
    @InjectTokenProvider('billing') readonly billing: TokenProvider,
    @InjectTokenProvider('reports') readonly reports: TokenProvider,
    @InjectClientCredentialsHttp('billing') readonly billingHttp: ClientCredentialsHttpService,
    readonly rootHttp: ClientCredentialsHttpService,
  ) {}

  async get(http: ClientCredentialsHttpService, url: string): Promise<unknown> {
    return (await firstValueFrom(http.get<unknown>(url))).data;
  }
}

/** `forRoot` with `clients`: the named clients are injectable wherever the module is imported. */
@Module({})
export class NamedClientsAppModule {
  static register(options: OidcClientCredentialsModuleOptions): DynamicModule {
    return {
      module: NamedClientsAppModule,
      imports: [OidcClientCredentialsModule.forRoot(options)],
      providers: [Callers],
    };
  }
}

/** A feature that uses the billing client only. */
@Injectable()
export class InvoiceSender {
  constructor(@InjectTokenProvider('billing') readonly tokens: TokenProvider) {}
}

/** Another feature with the same billing client. */
@Injectable()
export class PaymentChecker {
  constructor(@InjectTokenProvider('billing') readonly tokens: TokenProvider) {}
}

/**
 * `forRootAsync` (global) with the clients' secrets from a factory, and `forFeature` in the
 * features: `billing` is given its scope by the `forFeature` definition, imported in both.
 */
@Module({})
export class FeatureAppModule {
  static register(
    options: OidcClientCredentialsModuleOptions,
    billing: NamedClientOptions | undefined,
    secondBilling: NamedClientOptions | undefined = billing,
  ): DynamicModule {
    const invoices: DynamicModule = {
      module: class InvoicesModule {},
      imports: [OidcClientCredentialsModule.forFeature('billing', billing)],
      providers: [InvoiceSender],
    };
    const payments: DynamicModule = {
      module: class PaymentsModule {},
      imports: [OidcClientCredentialsModule.forFeature('billing', secondBilling)],
      providers: [PaymentChecker],
    };
    return {
      module: FeatureAppModule,
      imports: [
        OidcClientCredentialsModule.forRootAsync({
          isGlobal: true,
          useFactory: async () => options,
        }),
        invoices,
        payments,
      ],
    };
  }
}

/** A service that asks for a client nobody configured. */
@Injectable()
export class AsksForUnknownClient {
  constructor(@InjectTokenProvider('unknown') readonly tokens: TokenProvider) {}
}

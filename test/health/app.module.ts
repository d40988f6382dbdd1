import { Controller, Get, type ModuleMetadata } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  TerminusModule,
  type HealthIndicatorFunction,
} from '@nestjs/terminus';
import {
  OidcClientCredentialsHealthIndicator,
  OidcClientCredentialsModule,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';

/** A user's health controller, as the terminus docs write one. */
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly oidc: OidcClientCredentialsHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    // Typed as terminus's own function type: the indicator's result is a HealthIndicatorResult.
    const indicator: HealthIndicatorFunction = () => this.oidc.isHealthy('oidc');
    return this.health.check([indicator]);
  }
}

/** An app with terminus and the module (root client, one named client, JWT verification). */
export function healthApp(options: OidcClientCredentialsModuleOptions): ModuleMetadata {
  return {
    imports: [
      TerminusModule.forRoot({ logger: false }),
      OidcClientCredentialsModule.forRoot(options),
    ],
    controllers: [HealthController],
  };
}

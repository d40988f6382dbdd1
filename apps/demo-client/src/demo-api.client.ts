import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ClientCredentialsHttpService } from 'nest-oidc-client-credentials';
import { firstValueFrom } from 'rxjs';

/** Strategies and routes the demo API has; anything else is refused before any call. */
export const DEMO_API_ROUTES = {
  strategies: ['jwt', 'introspection', 'userinfo'],
  routes: ['whoami', 'orders'],
} as const;

/** One call's outcome. */
export interface DemoApiAnswer {
  status: number;
  body: unknown;
}

/**
 * Calls the demo API the way a real service calls another: through the token-attaching
 * HttpService, which gets the token from `TokenProvider` (cached, renewed ahead of expiry) and
 * sends it as `Authorization: Bearer`.
 */
@Injectable()
export class DemoApiClient {
  private readonly baseUrl: string;

  constructor(
    private readonly http: ClientCredentialsHttpService,
    config: ConfigService,
  ) {
    this.baseUrl = config.getOrThrow<string>('DEMO_API_URL').replace(/\/+$/, '');
  }

  /** `GET {DEMO_API_URL}/{strategy}/{route}`; any HTTP status is an answer, not an error. */
  async call(strategy: string, route: string): Promise<DemoApiAnswer> {
    if (
      !(DEMO_API_ROUTES.strategies as readonly string[]).includes(strategy) ||
      !(DEMO_API_ROUTES.routes as readonly string[]).includes(route)
    ) {
      return { status: 404, body: { message: 'unknown demo route' } };
    }
    const response = await firstValueFrom(
      this.http.get<unknown>(`${this.baseUrl}/${strategy}/${route}`, {
        validateStatus: () => true,
        timeout: 10_000,
      }),
    );
    return { status: response.status, body: response.data };
  }
}

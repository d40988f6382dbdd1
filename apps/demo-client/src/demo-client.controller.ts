import { Controller, Get, Param } from '@nestjs/common';
import { TokenProvider } from 'nest-oidc-client-credentials';
import { DemoApiClient, type DemoApiAnswer } from './demo-api.client.js';

/** Lets a person trigger the client's calls with curl (`npm run dev`). */
@Controller()
export class DemoClientController {
  constructor(
    private readonly demoApi: DemoApiClient,
    private readonly tokens: TokenProvider,
  ) {}

  /** Calls the demo API's `/{strategy}/{route}` and shows what it answered. */
  @Get('call/:strategy/:route')
  call(@Param('strategy') strategy: string, @Param('route') route: string): Promise<DemoApiAnswer> {
    return this.demoApi.call(strategy, route);
  }

  /** What the client holds: type, expiry and scope of its token, never the token itself. */
  @Get('token')
  async token(): Promise<{ tokenType: string; expiresAt: string; scope?: string }> {
    const { tokenType, expiresAt, scope } = await this.tokens.getTokenResponse();
    return { tokenType, expiresAt: new Date(expiresAt).toISOString(), scope };
  }
}

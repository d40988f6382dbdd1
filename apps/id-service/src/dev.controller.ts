import {
  Controller,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  type RawBodyRequest,
} from '@nestjs/common';
import type { Request } from 'express';
import { IdServiceEndpoints } from 'nest-oidc-client-credentials/testing';
import { recordExpressRequest } from './express-request.js';
import { RequestStats, type IdServiceStats } from './request-stats.service.js';

/** Prefix of the development-only API. */
export const DEV_API_PREFIX = '/_dev';

/**
 * Development and test controls: call counts, key rotation and revocation, token revocation. Only
 * mounted when `devApi` is on (never with `NODE_ENV=production`).
 */
@Controller(DEV_API_PREFIX)
export class DevController {
  constructor(
    private readonly endpoints: IdServiceEndpoints,
    private readonly stats: RequestStats,
  ) {}

  @Get('stats')
  getStats(): IdServiceStats {
    return this.stats.snapshot();
  }

  @Post('stats/reset')
  @HttpCode(204)
  resetStats(): void {
    this.stats.reset();
  }

  @Post('keys/rotate')
  @HttpCode(200)
  async rotateKey(): Promise<{ kid: string }> {
    return { kid: await this.endpoints.keys.rotate() };
  }

  @Post('keys/:kid/revoke')
  @HttpCode(204)
  async revokeKey(@Param('kid') kid: string): Promise<void> {
    if (!(await this.endpoints.keys.revoke(kid))) throw new NotFoundException('unknown kid');
  }

  @Post('tokens/revoke')
  @HttpCode(204)
  async revokeToken(@Req() req: RawBodyRequest<Request>): Promise<void> {
    const token = recordExpressRequest(req).form.get('token') ?? '';
    if (!(await this.endpoints.tokens.revokeKnown(token))) {
      throw new NotFoundException('unknown token');
    }
  }
}

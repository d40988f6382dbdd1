import { Controller, Get, Post, Req, Res, type RawBodyRequest } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  IdServiceEndpoints,
  PATHS,
  writeResponse,
  type IdServiceEndpointName,
} from 'nest-oidc-client-credentials/testing';
import { recordExpressRequest } from './express-request.js';
import { RequestStats } from './request-stats.service.js';

/**
 * The protocol endpoints: discovery, JWKS, token, introspection and userinfo. Each call is counted,
 * then answered by the testing kit's endpoint of that name.
 */
@Controller()
export class ProtocolController {
  constructor(
    private readonly endpoints: IdServiceEndpoints,
    private readonly stats: RequestStats,
  ) {}

  @Get(PATHS.discovery)
  discovery(@Req() req: RawBodyRequest<Request>, @Res() res: Response): Promise<void> {
    return this.answer('discovery', req, res);
  }

  @Get(PATHS.jwks)
  jwks(@Req() req: RawBodyRequest<Request>, @Res() res: Response): Promise<void> {
    return this.answer('jwks', req, res);
  }

  @Post(PATHS.token)
  token(@Req() req: RawBodyRequest<Request>, @Res() res: Response): Promise<void> {
    return this.answer('token', req, res);
  }

  @Post(PATHS.introspection)
  introspection(@Req() req: RawBodyRequest<Request>, @Res() res: Response): Promise<void> {
    return this.answer('introspection', req, res);
  }

  @Get(PATHS.userinfo)
  userinfo(@Req() req: RawBodyRequest<Request>, @Res() res: Response): Promise<void> {
    return this.answer('userinfo', req, res);
  }

  @Post(PATHS.userinfo)
  userinfoPost(@Req() req: RawBodyRequest<Request>, @Res() res: Response): Promise<void> {
    return this.answer('userinfo', req, res);
  }

  private async answer(
    endpoint: IdServiceEndpointName,
    req: RawBodyRequest<Request>,
    res: Response,
  ): Promise<void> {
    this.stats.count(endpoint);
    await writeResponse(res, await this.endpoints.answer(endpoint, recordExpressRequest(req)));
  }
}

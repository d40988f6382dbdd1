import { Controller, Logger, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ClientAuthenticator } from './client-authenticator.service.js';
import { ID_SERVICE_PATHS, IdServiceContext } from './id-service.context.js';
import { IssuedTokens } from './issued-tokens.service.js';
import { formParams, OAuthError, queryParams } from './oauth-params.js';
import { RequestStats } from './request-stats.service.js';

/**
 * The introspection endpoint. The caller authenticates as a client allowed to introspect
 * (`canIntrospect`); anything unknown, expired, revoked or not the caller's business is
 * `{ "active": false }`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
@Controller()
export class IntrospectionController {
  private readonly logger = new Logger('IdService');

  constructor(
    private readonly context: IdServiceContext,
    private readonly authenticator: ClientAuthenticator,
    private readonly tokens: IssuedTokens,
    private readonly stats: RequestStats,
  ) {}

  @Post(ID_SERVICE_PATHS.introspection)
  async introspect(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.stats.count('introspection');
    try {
      const form = formParams(req);
      const caller = await this.authenticator.authenticate(
        req,
        form,
        queryParams(req),
        this.context.url(ID_SERVICE_PATHS.introspection),
      );
      if (!form.token) throw new OAuthError(400, 'invalid_request', 'token is required');
      res.status(200).set({ 'Cache-Control': 'no-store' });
      if (!this.context.client(caller.clientId)?.canIntrospect) {
        this.logger.warn(
          `client "${caller.clientId}" may not introspect (set "canIntrospect": true); answering inactive`,
        );
        res.json({ active: false });
        return;
      }
      const claims = await this.tokens.inspect(form.token);
      res.json(claims ? { active: true, ...claims } : { active: false });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      error.send(res);
    }
  }
}

import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ID_SERVICE_PATHS } from './id-service.context.js';
import { IssuedTokens } from './issued-tokens.service.js';
import { formParams, OAuthError } from './oauth-params.js';
import { RequestStats } from './request-stats.service.js';

const REALM = 'realm="id-service"';

/**
 * The userinfo endpoint. For a client credentials token there is no user: `sub` is the client id,
 * as the seed describes. The token comes as `Authorization: Bearer` or, on POST, as a form
 * `access_token` (RFC 6750 §2.1, §2.2), never both.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 */
@Controller()
export class UserinfoController {
  constructor(
    private readonly tokens: IssuedTokens,
    private readonly stats: RequestStats,
  ) {}

  @Get(ID_SERVICE_PATHS.userinfo)
  get(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.userinfo(req, res);
  }

  @Post(ID_SERVICE_PATHS.userinfo)
  post(@Req() req: Request, @Res() res: Response): Promise<void> {
    return this.userinfo(req, res);
  }

  private async userinfo(req: Request, res: Response): Promise<void> {
    this.stats.count('userinfo');
    try {
      const token = bearerToken(req);
      if (token === undefined) {
        // RFC 6750 §3.1: a request without credentials gets a bare challenge, no error code.
        res
          .status(401)
          .set({ 'WWW-Authenticate': `Bearer ${REALM}` })
          .end();
        return;
      }
      const claims = await this.tokens.inspect(token);
      if (!claims) {
        throw new OAuthError(401, 'invalid_token', 'the access token is not active', {
          'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token"`,
        });
      }
      res.status(200).set({ 'Cache-Control': 'no-store' }).json({ sub: claims.sub });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      error.send(res);
    }
  }
}

function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  const fromHeader = header !== undefined && /^bearer(?: |$)/i.test(header);
  const fromBody = req.method === 'POST' ? formParams(req).access_token : undefined;
  if (fromHeader && fromBody !== undefined) {
    throw new OAuthError(400, 'invalid_request', 'send the token one way only', {
      'WWW-Authenticate': `Bearer ${REALM}, error="invalid_request"`,
    });
  }
  const token = fromHeader ? header.slice(7).trim() : fromBody;
  if (token === undefined) return undefined;
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) {
    throw new OAuthError(401, 'invalid_token', 'malformed bearer token', {
      'WWW-Authenticate': `Bearer ${REALM}, error="invalid_token"`,
    });
  }
  return token;
}

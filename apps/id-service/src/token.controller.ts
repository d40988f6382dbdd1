import { Controller, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ClientAuthenticator } from './client-authenticator.service.js';
import { ID_SERVICE_PATHS, IdServiceContext } from './id-service.context.js';
import { IssuedTokens } from './issued-tokens.service.js';
import { formParams, OAuthError, queryParams, safe } from './oauth-params.js';
import { RequestStats } from './request-stats.service.js';

/**
 * The token endpoint, client credentials grant only. Parameters may come in the form body or, as in
 * the seed's curl, in the URL query of the POST.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
@Controller()
export class TokenController {
  constructor(
    private readonly context: IdServiceContext,
    private readonly authenticator: ClientAuthenticator,
    private readonly tokens: IssuedTokens,
    private readonly stats: RequestStats,
  ) {}

  @Post(ID_SERVICE_PATHS.token)
  async token(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.stats.count('token');
    try {
      const form = formParams(req);
      const query = queryParams(req);
      const params = mergeParams(form, query);
      if (params.grant_type === undefined) {
        throw new OAuthError(400, 'invalid_request', 'grant_type is required');
      }
      if (params.grant_type !== 'client_credentials') {
        throw new OAuthError(400, 'unsupported_grant_type', 'only client_credentials is supported');
      }
      const { clientId } = await this.authenticator.authenticate(
        req,
        form,
        query,
        this.context.url(ID_SERVICE_PATHS.token),
      );
      const scopes = this.grantedScopes(clientId, params.scope);
      const issued = await this.tokens.issue(clientId, scopes);
      res
        .status(200)
        .set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' })
        .json({
          access_token: issued.accessToken,
          token_type: 'Bearer',
          expires_in: issued.expiresIn,
          ...(scopes.length > 0 ? { scope: scopes.join(' ') } : {}),
        });
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      error.send(res);
    }
  }

  /** The requested scopes if the client may have them all; every allowed scope when none asked. */
  private grantedScopes(clientId: string, requested: string | undefined): string[] {
    const allowed = this.context.client(clientId)?.scopes ?? [];
    const asked = (requested ?? '').split(' ').filter(Boolean);
    if (asked.length === 0) return [...allowed];
    const refused = asked.find((scope) => !allowed.includes(scope));
    if (refused !== undefined) {
      throw new OAuthError(400, 'invalid_scope', `scope "${safe(refused)}" is not allowed`);
    }
    return [...new Set(asked)];
  }
}

function mergeParams(
  form: Record<string, string>,
  query: Record<string, string>,
): Record<string, string> {
  for (const name of Object.keys(query)) {
    if (name in form) {
      throw new OAuthError(400, 'invalid_request', `parameter "${safe(name)}" must appear once`);
    }
  }
  return Object.assign(Object.create(null), query, form);
}

import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { IdServiceContext } from './id-service.context.js';
import { OAuthError } from './oauth-params.js';

/** How a client proved who it is. */
export type ClientAuthMethodUsed =
  'client_secret_basic' | 'client_secret_post' | 'client_secret_query' | 'private_key_jwt';

/** An authenticated client. */
export interface AuthenticatedClient {
  clientId: string;
  method: ClientAuthMethodUsed;
}

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Client authentication at the token and introspection endpoints: exactly one of Basic (id and
 * secret form-urlencoded, RFC 6749 §2.3.1), form body, the seed's URL query, or `private_key_jwt`
 * (RFC 7523). Fails with `invalid_request` for several methods and `invalid_client` otherwise.
 */
@Injectable()
export class ClientAuthenticator {
  private readonly usedAssertionIds = new Map<string, number>();

  constructor(private readonly context: IdServiceContext) {}

  async authenticate(
    req: Request,
    form: Record<string, string>,
    query: Record<string, string>,
    endpointUrl: string,
  ): Promise<AuthenticatedClient> {
    const authorization = req.headers.authorization;
    const basic = authorization !== undefined && /^basic /i.test(authorization);
    const methods: ClientAuthMethodUsed[] = [];
    if (basic) methods.push('client_secret_basic');
    if (form.client_secret !== undefined) methods.push('client_secret_post');
    if (query.client_secret !== undefined) methods.push('client_secret_query');
    if (form.client_assertion !== undefined) methods.push('private_key_jwt');
    if (methods.length > 1) {
      throw new OAuthError(400, 'invalid_request', 'use exactly one client authentication method');
    }
    const method = methods[0];
    const clientId = await this.check(method, authorization, form, query, endpointUrl);
    const claimed = form.client_id ?? query.client_id;
    if (clientId === undefined || (claimed !== undefined && claimed !== clientId)) {
      // RFC 6749 §5.2: a client that tried Basic MUST get 401 with a Basic challenge.
      throw new OAuthError(401, 'invalid_client', 'client authentication failed', {
        'WWW-Authenticate': 'Basic realm="id-service", charset="UTF-8"',
      });
    }
    return { clientId, method };
  }

  private async check(
    method: ClientAuthMethodUsed | undefined,
    authorization: string | undefined,
    form: Record<string, string>,
    query: Record<string, string>,
    endpointUrl: string,
  ): Promise<string | undefined> {
    switch (method) {
      case 'client_secret_basic':
        return this.basic(authorization!);
      case 'client_secret_post':
        return this.secret(form.client_id, form.client_secret);
      case 'client_secret_query':
        return this.secret(query.client_id, query.client_secret);
      case 'private_key_jwt':
        return this.assertion(form, endpointUrl);
      default:
        return undefined;
    }
  }

  private basic(authorization: string): string | undefined {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    try {
      return this.secret(formDecode(decoded.slice(0, colon)), formDecode(decoded.slice(colon + 1)));
    } catch {
      return undefined; // malformed percent-encoding
    }
  }

  private secret(clientId: string | undefined, secret: string | undefined): string | undefined {
    if (clientId === undefined || secret === undefined) return undefined;
    const expected = this.context.client(clientId)?.secret;
    return expected !== undefined && expected === secret ? clientId : undefined;
  }

  private async assertion(
    form: Record<string, string>,
    endpointUrl: string,
  ): Promise<string | undefined> {
    if (form.client_assertion_type !== JWT_BEARER_ASSERTION) return undefined;
    try {
      const clientId = decodeJwt(form.client_assertion).sub;
      const jwks = clientId === undefined ? undefined : this.context.client(clientId)?.jwks;
      if (!clientId || !jwks) return undefined;
      const now = this.context.nowSeconds();
      const { payload } = await jwtVerify(form.client_assertion, createLocalJWKSet(jwks), {
        issuer: clientId,
        subject: clientId,
        audience: [this.context.issuer, endpointUrl],
        requiredClaims: ['exp', 'jti'],
        currentDate: this.context.now(),
        clockTolerance: 5,
      });
      // An assertion is good once, and not for long (RFC 7523 §3, OIDC Core §9).
      if (payload.exp! > now + 300) return undefined;
      for (const [id, exp] of this.usedAssertionIds)
        if (exp < now) this.usedAssertionIds.delete(id);
      const replayKey = `${clientId} ${payload.jti}`;
      if (this.usedAssertionIds.has(replayKey)) return undefined;
      this.usedAssertionIds.set(replayKey, payload.exp!);
      return clientId;
    } catch {
      return undefined;
    }
  }
}

/** `application/x-www-form-urlencoded` decoding of one component (RFC 6749 Appendix B). */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

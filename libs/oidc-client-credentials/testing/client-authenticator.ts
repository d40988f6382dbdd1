import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose';
import type { IdServiceContext } from './id-service-context.js';
import { OAuthError } from './oauth-error.js';

/** How a client proved who it is. */
export type ClientAuthMethodUsed =
  'client_secret_basic' | 'client_secret_post' | 'client_secret_query' | 'private_key_jwt';

/** The parameters a client may authenticate with, as single values. */
export interface ClientCredentialsParams {
  /** The `Authorization` header, if any. */
  authorization: string | undefined;
  form: Record<string, string>;
  query: Record<string, string>;
}

const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Longest an assertion may still be valid for: it is good once, and not for long. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

/**
 * Client authentication at the token and introspection endpoints: exactly one of Basic (id and
 * secret form-urlencoded first), the form body, the URL query, or `private_key_jwt`. Several
 * methods are `invalid_request`; anything else that fails is `invalid_client` with a Basic challenge.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export class ClientAuthenticator {
  private readonly usedAssertionIds = new Map<string, number>();

  constructor(private readonly context: IdServiceContext) {}

  /** The authenticated client's id; throws an {@link OAuthError} otherwise. */
  async authenticate(params: ClientCredentialsParams, endpointUrl: string): Promise<string> {
    const { authorization, form, query } = params;
    const methods: ClientAuthMethodUsed[] = [];
    if (authorization !== undefined && /^basic /i.test(authorization)) {
      methods.push('client_secret_basic');
    }
    if (form.client_secret !== undefined) methods.push('client_secret_post');
    if (query.client_secret !== undefined) methods.push('client_secret_query');
    if (form.client_assertion !== undefined) methods.push('private_key_jwt');
    if (methods.length > 1) {
      throw new OAuthError(400, 'invalid_request', 'use exactly one client authentication method');
    }
    const clientId = await this.check(methods[0], params, endpointUrl);
    const claimed = form.client_id ?? query.client_id;
    if (clientId === undefined || (claimed !== undefined && claimed !== clientId)) {
      // RFC 6749 §5.2: a client that tried Basic MUST get 401 with a Basic challenge.
      throw new OAuthError(401, 'invalid_client', 'client authentication failed', {
        'www-authenticate': 'Basic realm="id-service", charset="UTF-8"',
      });
    }
    return clientId;
  }

  private check(
    method: ClientAuthMethodUsed | undefined,
    { authorization, form, query }: ClientCredentialsParams,
    endpointUrl: string,
  ): Promise<string | undefined> | string | undefined {
    switch (method) {
      case 'client_secret_basic':
        return this.basic(authorization!);
      case 'client_secret_post':
        return this.secret(form.client_id, form.client_secret);
      case 'client_secret_query':
        return this.secret(query.client_id, query.client_secret);
      case 'private_key_jwt':
        return form.client_assertion_type === JWT_BEARER_ASSERTION
          ? this.assertion(form.client_assertion, endpointUrl)
          : undefined;
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

  private async assertion(assertion: string, endpointUrl: string): Promise<string | undefined> {
    try {
      const clientId = decodeJwt(assertion).sub;
      const jwks = clientId === undefined ? undefined : this.context.client(clientId)?.jwks;
      if (!clientId || !jwks) return undefined;
      const exp = await this.verifiedExpiry(assertion, clientId, jwks.keys, endpointUrl);
      return exp !== undefined && this.firstUse(clientId, assertion, exp) ? clientId : undefined;
    } catch {
      return undefined;
    }
  }

  /** `exp` of an assertion signed by one of the client's keys (the one its `kid` names first). */
  private async verifiedExpiry(
    assertion: string,
    clientId: string,
    keys: JWK[],
    endpointUrl: string,
  ): Promise<number | undefined> {
    const { kid, alg } = decodeProtectedHeader(assertion);
    const named = keys.filter((k) => kid !== undefined && k.kid === kid);
    for (const jwk of named.length > 0 ? named : keys) {
      try {
        const { payload } = await jwtVerify(assertion, await importJWK(jwk, jwk.alg ?? alg), {
          issuer: clientId,
          subject: clientId,
          audience: [this.context.issuer, endpointUrl],
          requiredClaims: ['exp', 'jti'],
          currentDate: this.context.now(),
          clockTolerance: 5,
        });
        return payload.exp!;
      } catch {
        // try the next key
      }
    }
    return undefined;
  }

  /** An assertion is good once, and only while it expires soon (RFC 7523 §3, OIDC Core §9). */
  private firstUse(clientId: string, assertion: string, exp: number): boolean {
    const now = this.context.nowSeconds();
    if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS) return false;
    for (const [id, expiry] of this.usedAssertionIds) {
      if (expiry < now) this.usedAssertionIds.delete(id);
    }
    const replayKey = `${clientId} ${String(decodeJwt(assertion).jti)}`;
    if (this.usedAssertionIds.has(replayKey)) return false;
    this.usedAssertionIds.set(replayKey, exp);
    return true;
  }
}

/** `application/x-www-form-urlencoded` decoding of one component (RFC 6749 Appendix B). */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

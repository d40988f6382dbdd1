import type { FakeResponse, RecordedRequest } from './http-exchange.js';
import type { IssuedTokens } from './issued-tokens.js';
import { answerOAuthErrors, OAuthError, singleValued } from './oauth-error.js';

const REALM = 'realm="id-service"';
/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The userinfo endpoint. A client credentials token has no user: `sub` is the client id. The token
 * comes as `Authorization: Bearer` or, on POST, as a form `access_token`, never both.
 *
 * @see https://openid.net/specs/openid-connect-core-1_0.html#UserInfo
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2
 */
export function userinfoEndpoint(
  request: RecordedRequest,
  tokens: IssuedTokens,
): Promise<FakeResponse> {
  return answerOAuthErrors(async (): Promise<FakeResponse> => {
    const token = bearerToken(request);
    if (token === undefined) {
      // RFC 6750 §3.1: a request without credentials gets a bare challenge, no error code.
      return { status: 401, headers: { 'www-authenticate': `Bearer ${REALM}` }, body: '' };
    }
    const claims = await tokens.inspect(token);
    if (!claims) throw invalidToken('the access token is not active');
    return { headers: { 'cache-control': 'no-store' }, body: { sub: claims.sub } };
  });
}

function bearerToken(request: RecordedRequest): string | undefined {
  const header = request.headers.authorization;
  const fromHeader = header !== undefined && /^bearer(?: |$)/i.test(header);
  const fromBody = request.method === 'POST' ? singleValued(request.form).access_token : undefined;
  if (fromHeader && fromBody !== undefined) {
    throw new OAuthError(400, 'invalid_request', 'send the token one way only', {
      'www-authenticate': `Bearer ${REALM}, error="invalid_request"`,
    });
  }
  const token = fromHeader ? header.slice(7).trim() : fromBody;
  if (token !== undefined && !B64TOKEN.test(token)) throw invalidToken('malformed bearer token');
  return token;
}

function invalidToken(description: string): OAuthError {
  return new OAuthError(401, 'invalid_token', description, {
    'www-authenticate': `Bearer ${REALM}, error="invalid_token"`,
  });
}

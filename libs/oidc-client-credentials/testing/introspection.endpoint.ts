import type { ClientAuthenticator } from './client-authenticator.js';
import type { FakeResponse, RecordedRequest } from './http-exchange.js';
import type { IdServiceContext } from './id-service-context.js';
import type { IssuedTokens } from './issued-tokens.js';
import { answerOAuthErrors, OAuthError, singleValued } from './oauth-error.js';
import { PATHS } from './paths.js';

/** What the introspection endpoint works with. */
export interface IntrospectionEndpointParts {
  context: IdServiceContext;
  authenticator: ClientAuthenticator;
  tokens: IssuedTokens;
}

/**
 * The introspection endpoint. The caller authenticates as a client that may introspect; anything
 * unknown, expired, revoked or asked by a client that may not is `{ "active": false }`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2
 */
export function introspectionEndpoint(
  request: RecordedRequest,
  { context, authenticator, tokens }: IntrospectionEndpointParts,
): Promise<FakeResponse> {
  return answerOAuthErrors(async () => {
    const form = singleValued(request.form);
    const callerId = await authenticator.authenticate(
      { authorization: request.headers.authorization, form, query: singleValued(request.query) },
      context.url(PATHS.introspection),
    );
    if (!form.token) throw new OAuthError(400, 'invalid_request', 'token is required');
    const answer = (body: Record<string, unknown>): FakeResponse => ({
      headers: { 'cache-control': 'no-store' },
      body,
    });
    if (context.client(callerId)?.canIntrospect === false) {
      context.warn(
        `client "${callerId}" may not introspect (set "canIntrospect": true); answering inactive`,
      );
      return answer({ active: false });
    }
    const claims = await tokens.inspect(form.token);
    return answer(claims ? { active: true, ...claims } : { active: false });
  });
}

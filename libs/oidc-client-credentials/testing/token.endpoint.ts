import type { ClientAuthenticator } from './client-authenticator.js';
import type { FakeResponse, RecordedRequest } from './http-exchange.js';
import type { IdServiceContext } from './id-service-context.js';
import type { IssuedTokens } from './issued-tokens.js';
import { answerOAuthErrors, OAuthError, safe, singleValued } from './oauth-error.js';
import { PATHS } from './paths.js';
import type { TokenEndpointDpop } from './token-dpop.js';

/** What the token endpoint works with. */
export interface TokenEndpointParts {
  context: IdServiceContext;
  authenticator: ClientAuthenticator;
  tokens: IssuedTokens;
  /** DPoP mode: proofs are checked and a valid one binds the token (see `FakeDpopOptions`). */
  dpop?: TokenEndpointDpop;
}

/**
 * The token endpoint, client credentials grant only. Parameters may come in the form body or in
 * the URL query of the POST, each once. In DPoP mode a request's `DPoP` proof is checked first
 * (a missing nonce answers `use_dpop_nonce` before anything else is looked at), and a valid one
 * gets a DPoP-bound token: `token_type: DPoP`, `cnf.jkt` in the JWT or its introspection.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
export function tokenEndpoint(
  request: RecordedRequest,
  { context, authenticator, tokens, dpop }: TokenEndpointParts,
): Promise<FakeResponse> {
  return withHeaders(dpop?.headers() ?? {}, async () => {
    const form = singleValued(request.form);
    const query = singleValued(request.query);
    const params = mergeParams(form, query);
    if (params.grant_type === undefined) {
      throw new OAuthError(400, 'invalid_request', 'grant_type is required');
    }
    if (params.grant_type !== 'client_credentials') {
      throw new OAuthError(400, 'unsupported_grant_type', 'only client_credentials is supported');
    }
    const jkt = await dpop?.check(request.headers.dpop, context.url(PATHS.token));
    const clientId = await authenticator.authenticate(
      { authorization: request.headers.authorization, form, query },
      context.url(PATHS.token),
    );
    const client = context.client(clientId)!;
    const issued = await tokens.issue(clientId, grantedScopes(client, params.scope), jkt);
    return {
      headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
      body: {
        access_token: issued.accessToken,
        token_type: jkt === undefined ? 'Bearer' : 'DPoP',
        ...(client.omitExpiresIn ? {} : { expires_in: issued.expiresIn }),
        ...(issued.scope ? { scope: issued.scope } : {}),
      },
    };
  });
}

/**
 * The scopes asked for, if the client may have them all; when it asks for none, its default
 * `scope`, else every scope it may have.
 */
function grantedScopes(
  client: { scope?: string; scopes?: string[] },
  requested: string | undefined,
): string[] {
  const asked = scopeList(requested);
  const refused = client.scopes && asked.find((scope) => !client.scopes!.includes(scope));
  if (refused)
    throw new OAuthError(400, 'invalid_scope', `scope "${safe(refused)}" is not allowed`);
  if (asked.length > 0) return [...new Set(asked)];
  return client.scope !== undefined ? scopeList(client.scope) : [...(client.scopes ?? [])];
}

function scopeList(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter(Boolean);
}

/** One set of parameters from the form body and the query; a name in both is refused. */
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

/** Runs the endpoint as {@link answerOAuthErrors} does, its answer (error or not) with `headers`. */
async function withHeaders(
  headers: Record<string, string>,
  endpoint: () => Promise<FakeResponse>,
): Promise<FakeResponse> {
  const answer = await answerOAuthErrors(endpoint);
  return { ...answer, headers: { ...headers, ...answer.headers } };
}

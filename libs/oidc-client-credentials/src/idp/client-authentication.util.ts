import { importJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { ResolvedOptions } from '../options/resolved-options.js';

/**
 * One client authentication method, ready for oauth4webapi: `authenticate` adds the credentials to
 * the request, `endpoint` is the metadata the request is sent with (only `client_secret_query`
 * changes it), `secrets` are the values that must never appear in a message or a log line.
 */
export interface ClientAuthentication {
  readonly authenticate: oauth.ClientAuth;
  endpoint(as: oauth.AuthorizationServer): oauth.AuthorizationServer;
  readonly secrets: readonly string[];
}

/**
 * `application/x-www-form-urlencoded` encoding of one value, as RFC 6749 Appendix B and the
 * WHATWG URL standard define it: space becomes `+`, `*-._` and alphanumerics stay as they are.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#appendix-B
 */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/**
 * `client_secret_basic` with the id and the secret each form-urlencoded before base64
 * (RFC 6749 §2.3.1). oauth4webapi's own `ClientSecretBasic` also percent-encodes `-`, `.`, `_` and
 * `*`; servers that decode correctly accept both, but servers that compare the raw pair (common,
 * and many ID services document the header as `base64(client-id:client-secret)`) then refuse
 * every id that contains a dash — a UUID, say. This encoder changes only what RFC 6749 Appendix B
 * requires.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1
 */
export function clientSecretBasic(clientSecret: string): oauth.ClientAuth {
  return (_as, client, _body, headers) => {
    const pair = `${formUrlEncode(client.client_id)}:${formUrlEncode(clientSecret)}`;
    headers.set('authorization', `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`);
  };
}

/** Sends no credentials in the header or the body (the query carries them). */
const noBodyCredentials: oauth.ClientAuth = () => undefined;

/**
 * Builds the client authentication of the configured method. Call once: a private JWK is imported
 * here, not per request.
 *
 * @throws ConfigurationError when the private key cannot be imported.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export async function createClientAuthentication(
  options: ResolvedOptions,
): Promise<ClientAuthentication> {
  const sameEndpoint = (as: oauth.AuthorizationServer) => as;
  const secret = options.clientSecret ?? '';
  switch (options.clientAuthMethod) {
    case 'client_secret_basic':
      return {
        authenticate: clientSecretBasic(secret),
        endpoint: sameEndpoint,
        secrets: secretForms(secret),
      };
    case 'client_secret_post':
      return {
        authenticate: oauth.ClientSecretPost(secret),
        endpoint: sameEndpoint,
        secrets: secretForms(secret),
      };
    case 'client_secret_query':
      // For ID services that document the token request with the credentials in its query. They
      // are the only credentials sent, so nothing goes into the Authorization header or the body
      // (one method per request, RFC 6749 §2.3).
      return {
        authenticate: noBodyCredentials,
        endpoint: (as) => withCredentialsInQuery(as, options.clientId ?? '', secret),
        secrets: secretForms(secret),
      };
    case 'private_key_jwt':
      return privateKeyJwt(options);
  }
}

async function privateKeyJwt(options: ResolvedOptions): Promise<ClientAuthentication> {
  const jwk = options.privateKey;
  if (!jwk) {
    throw new ConfigurationError(
      `${options.credentialsOptionPrefix ?? ''}privateKey`,
      'required with private_key_jwt',
    );
  }
  let key: Exclude<Awaited<ReturnType<typeof importJWK>>, Uint8Array>;
  try {
    const imported = await importJWK(jwk, jwk.alg);
    if (imported instanceof Uint8Array) throw new TypeError('symmetric key');
    key = imported;
  } catch (error) {
    const reason = error instanceof Error ? error.name : 'unknown error';
    throw new ConfigurationError(
      `${options.credentialsOptionPrefix ?? ''}privateKey`,
      `could not be imported as a private ${jwk.alg} key (${reason})`,
    );
  }
  const { audience, explicitType } = options.clientAssertion;
  return {
    // oauth4webapi signs a fresh assertion per request: aud = issuer, iat, exp = iat + 60, random jti.
    authenticate: (as, client, body, headers) =>
      oauth.PrivateKeyJwt(
        { key, kid: jwk.kid },
        {
          [oauth.modifyAssertion]: (header, payload) => {
            if (explicitType) header.typ = 'client-authentication+jwt';
            // An inbound-only service may know no token endpoint: the issuer then stays the aud.
            if (audience === 'token_endpoint' && as.token_endpoint) payload.aud = as.token_endpoint;
          },
        },
      )(as, client, body, headers),
    endpoint: (as) => as,
    secrets: [],
  };
}

function withCredentialsInQuery(
  as: oauth.AuthorizationServer,
  clientId: string,
  clientSecret: string,
): oauth.AuthorizationServer {
  const url = new URL(as.token_endpoint!);
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('client_secret', clientSecret);
  return { ...as, token_endpoint: url.href };
}

/** The secret as sent in any method (raw, form-encoded, percent-encoded), for redaction. */
function secretForms(secret: string): string[] {
  if (!secret) return [];
  return [...new Set([secret, formUrlEncode(secret), encodeURIComponent(secret)])];
}

import { randomBytes } from 'node:crypto';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import {
  assertionFileReader,
  assertUnexpired,
  CredentialError,
  providerReader,
  withinDeadline,
  type CredentialReader,
  type CredentialStatus,
} from './credential-source.util.js';
import {
  isCryptoKey,
  isJwsSigner,
  JwsSigningError,
  signCompactJws,
  signingAlgorithm,
} from './jws-signer.util.js';

/**
 * One client authentication method, ready for oauth4webapi: `authenticate` adds the credentials to
 * the request, `endpoint` is the metadata the request is sent with (only `client_secret_query`
 * changes it), `secrets` are the values that must never appear in a message or a log line — the
 * secret in every encoding this library sends it in. A signed assertion is new for each request:
 * {@link withSentCredentials} adds it for one request. A credential read per request (a secret
 * provider, an assertion file) is read by {@link authenticationForRequest}.
 */
export interface ClientAuthentication {
  readonly authenticate: oauth.ClientAuth;
  endpoint(as: oauth.AuthorizationServer): oauth.AuthorizationServer;
  readonly secrets: readonly string[];
  /** Where the credential comes from and when it was last read (never its value). */
  readonly credential?: () => CredentialStatus;
  /**
   * For a credential read per request: reads it (within `signal`) and answers the authentication
   * of that one request.
   */
  readonly forRequest?: (signal: AbortSignal) => Promise<ClientAuthentication>;
  /**
   * After the ID service refused the credential sent with `sent` (`invalid_client`): asks its
   * source once more; `true` when that gave another credential, worth one more request.
   */
  readonly reread?: (signal: AbortSignal, sent: ClientAuthentication) => Promise<boolean>;
  /** The credential value this authentication sends, for {@link ClientAuthentication.reread}. */
  readonly value?: string;
}

/** The authentication of one request: a credential read per request is read now, within `signal`. */
export function authenticationForRequest(
  authentication: ClientAuthentication,
  signal: AbortSignal,
): Promise<ClientAuthentication> {
  return authentication.forRequest
    ? authentication.forRequest(signal)
    : Promise.resolve(authentication);
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
    headers.set('authorization', basicAuthorization(client.client_id, clientSecret));
  };
}

/** The `Authorization` header value of `client_secret_basic`. */
function basicAuthorization(clientId: string, clientSecret: string): string {
  const pair = `${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}

/** Sends no credentials in the header or the body (the query carries them). */
const noBodyCredentials: oauth.ClientAuth = () => undefined;

/** A JWS header or claims set, as oauth4webapi's `modifyAssertion` takes them. */
type JsonRecord = Parameters<oauth.ModifyAssertionFunction>[0];

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Builds the client authentication of the configured method. Call once: a private JWK is imported
 * here, not per request; a secret provider, an assertion file or an assertion provider is read
 * per request (see {@link authenticationForRequest}).
 *
 * @throws ConfigurationError when the private key cannot be imported.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export async function createClientAuthentication(
  options: ResolvedOptions,
): Promise<ClientAuthentication> {
  const prefix = options.credentialsOptionPrefix ?? '';
  if (options.clientAuthMethod === 'private_key_jwt') {
    const { file, get } = options.clientAssertion;
    if (file !== undefined) return readAssertion(assertionFileReader(file));
    if (get !== undefined) {
      const what = `${prefix}clientAssertion.get`;
      return readAssertion(
        providerReader('assertion-provider', what, get, (value) =>
          assertUnexpired(value, 'assertion-provider', `The assertion from ${what}`),
        ),
      );
    }
    return privateKeyJwt(options);
  }
  if (
    options.clientAuthMethod === 'tls_client_auth' ||
    options.clientAuthMethod === 'self_signed_tls_client_auth'
  ) {
    // RFC 8705 §2: the TLS client certificate (mtls) authenticates; the request names client_id.
    const status: CredentialStatus = { source: 'certificate' };
    return {
      authenticate: oauth.TlsClientAuth(),
      endpoint: (as) => as,
      secrets: [],
      credential: () => status,
    };
  }
  const secret = options.clientSecret;
  if (typeof secret !== 'function') {
    return withStatus(secretAuthentication(options, secret ?? ''), { source: 'secret' });
  }
  const reader = providerReader('secret-provider', `${prefix}clientSecret`, secret);
  const status = () => reader.status();
  const forRequest = async (signal: AbortSignal) =>
    withStatus(secretAuthentication(options, await reader.read(signal)), status);
  return {
    authenticate: () => {
      throw new TypeError('a secret provider is read per request (authenticationForRequest)');
    },
    endpoint: (as) => as,
    secrets: [],
    credential: status,
    forRequest,
    reread: (signal, sent) => reader.reread(signal, sent.value ?? ''),
  };
}

/** The authentication of a secret method with this secret. */
function secretAuthentication(options: ResolvedOptions, secret: string): ClientAuthentication {
  const sameEndpoint = (as: oauth.AuthorizationServer) => as;
  switch (options.clientAuthMethod) {
    case 'client_secret_basic': {
      const authorization = basicAuthorization(options.clientId ?? '', secret);
      return {
        authenticate: clientSecretBasic(secret),
        endpoint: sameEndpoint,
        // The header value, and its credentials alone, as an ID service may echo either.
        secrets: secret ? [...secretForms(secret), authorization, authorization.slice(6)] : [],
        value: secret,
      };
    }
    case 'client_secret_post':
      return {
        authenticate: oauth.ClientSecretPost(secret),
        endpoint: sameEndpoint,
        secrets: secretForms(secret),
        value: secret,
      };
    case 'client_secret_jwt': {
      // An HS256 assertion over the secret (RFC 7523 §2.2), signed anew for each request.
      const { audience, explicitType } = options.clientAssertion;
      return {
        authenticate: (as, client, body, headers) =>
          oauth.ClientSecretJwt(secret, {
            [oauth.modifyAssertion]: (header, payload) => {
              if (explicitType) header.typ = 'client-authentication+jwt';
              if (audience === 'token_endpoint' && as.token_endpoint)
                payload.aud = as.token_endpoint;
            },
          })(as, client, body, headers),
        endpoint: sameEndpoint,
        secrets: secretForms(secret),
        value: secret,
      };
    }
    case 'client_secret_query':
      // For ID services that document the token request with the credentials in its query. They
      // are the only credentials sent, so nothing goes into the Authorization header or the body
      // (one method per request, RFC 6749 §2.3).
      return {
        authenticate: noBodyCredentials,
        endpoint: (as) => withCredentialsInQuery(as, options.clientId ?? '', secret),
        secrets: secretForms(secret),
        value: secret,
      };
    default:
      throw new ConfigurationError(
        `${options.credentialsOptionPrefix ?? ''}clientAuthMethod`,
        `${options.clientAuthMethod} does not authenticate with a client secret`,
      );
  }
}

function withStatus(
  authentication: ClientAuthentication,
  status: CredentialStatus | (() => CredentialStatus),
): ClientAuthentication {
  return {
    ...authentication,
    credential: typeof status === 'function' ? status : () => status,
  };
}

/** A ready-made assertion (RFC 7523 §2.2) from a file or a provider, read per request. */
function readAssertion(reader: CredentialReader): ClientAuthentication {
  const status = () => reader.status();
  const withAssertion = (assertion: string): ClientAuthentication => ({
    authenticate: (_as, client, body) => {
      body.set('client_id', client.client_id);
      body.set('client_assertion_type', JWT_BEARER);
      body.set('client_assertion', assertion);
    },
    endpoint: (as) => as,
    secrets: [assertion],
    credential: status,
    value: assertion,
  });
  return {
    authenticate: () => {
      throw new TypeError('an assertion source is read per request (authenticationForRequest)');
    },
    endpoint: (as) => as,
    secrets: [],
    credential: status,
    forRequest: async (signal) => withAssertion(await reader.read(signal)),
    reread: (signal, sent) => reader.reread(signal, sent.value ?? ''),
  };
}

async function privateKeyJwt(options: ResolvedOptions): Promise<ClientAuthentication> {
  const option = `${options.credentialsOptionPrefix ?? ''}privateKey`;
  const privateKey = options.privateKey;
  if (!privateKey) throw new ConfigurationError(option, 'required with private_key_jwt');
  const { audience, explicitType } = options.clientAssertion;
  const modify = (as: oauth.AuthorizationServer) => ({
    [oauth.modifyAssertion]: (header: JsonRecord, payload: JsonRecord) => {
      if (explicitType) header.typ = 'client-authentication+jwt';
      // An inbound-only service may know no token endpoint: the issuer then stays the aud.
      if (audience === 'token_endpoint' && as.token_endpoint) payload.aud = as.token_endpoint;
    },
  });
  if (isJwsSigner(privateKey)) {
    try {
      signingAlgorithm(privateKey);
    } catch (error) {
      throw new ConfigurationError(option, `a signer ${(error as Error).message}`);
    }
    const status: CredentialStatus = { source: 'signer' };
    // The same assertion oauth4webapi signs, signed where the key lives, within the request's
    // deadline: a KMS that fails or hangs is a CredentialError, and nothing is sent.
    const signedWithin =
      (signal?: AbortSignal): oauth.ClientAuth =>
      async (as, client, body) => {
        const header: JsonRecord = { alg: privateKey.alg };
        const payload = assertionClaims(as, client);
        modify(as)[oauth.modifyAssertion](header, payload);
        const sign = () => signCompactJws({ ...header }, payload, privateKey);
        let assertion: string;
        try {
          assertion = await withinDeadline('signer', `${option} signer`, signal, sign);
        } catch (error) {
          if (!(error instanceof JwsSigningError)) throw error;
          throw new CredentialError('signer', 'signing-failed', `${option}: ${error.message}`, {
            cause: error,
          });
        }
        body.set('client_id', client.client_id);
        body.set('client_assertion_type', JWT_BEARER);
        body.set('client_assertion', assertion);
      };
    const signed = (signal?: AbortSignal): ClientAuthentication => ({
      authenticate: signedWithin(signal),
      endpoint: (as) => as,
      secrets: [],
      credential: () => status,
    });
    return { ...signed(), forRequest: async (signal) => signed(signal) };
  }
  let key: CryptoKey;
  let kid: string | undefined;
  if (isCryptoKey(privateKey)) {
    key = privateKey;
  } else {
    const jwk = privateKey as JWK;
    kid = jwk.kid;
    try {
      const imported = await importJWK(jwk, jwk.alg);
      if (imported instanceof Uint8Array) throw new TypeError('symmetric key');
      key = imported;
    } catch (error) {
      const reason = error instanceof Error ? error.name : 'unknown error';
      throw new ConfigurationError(
        option,
        `could not be imported as a private ${jwk.alg} key (${reason})`,
      );
    }
  }
  const status: CredentialStatus = { source: 'private-key' };
  return {
    // oauth4webapi signs a fresh assertion per request: aud = issuer, iat, exp = iat + 60, random jti.
    authenticate: (as, client, body, headers) =>
      oauth.PrivateKeyJwt({ key, kid }, modify(as))(as, client, body, headers),
    endpoint: (as) => as,
    secrets: [],
    credential: () => status,
  };
}

/** The claims of a client assertion, as oauth4webapi makes them (RFC 7523 §3). */
function assertionClaims(as: oauth.AuthorizationServer, client: oauth.Client): JsonRecord {
  const now = Math.floor(Date.now() / 1000);
  return {
    jti: randomBytes(32).toString('base64url'),
    aud: as.issuer,
    exp: now + 60,
    iat: now,
    nbf: now,
    iss: client.client_id,
    sub: client.client_id,
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

/**
 * `authentication` for one request, whose `secrets` grow with the credentials that request sent:
 * the `Authorization` header value and its credentials, the `client_assertion` (signed anew for
 * each request) and each of its segments. Use a new one per request, and redact with its
 * `secrets` once the answer is in.
 */
export function withSentCredentials(authentication: ClientAuthentication): ClientAuthentication {
  const secrets = [...authentication.secrets];
  return {
    authenticate: async (as, client, body, headers) => {
      await authentication.authenticate(as, client, body, headers);
      secrets.push(...sentCredentials(body, headers));
    },
    endpoint: (as) => authentication.endpoint(as),
    secrets,
  };
}

/** The client credentials a request carries in its header and body, as it carries them. */
function sentCredentials(body: URLSearchParams, headers: Headers): string[] {
  const sent: string[] = [];
  const authorization = headers.get('authorization');
  if (authorization) {
    sent.push(authorization);
    const credentials = authorization.slice(authorization.indexOf(' ') + 1).trim();
    if (credentials) sent.push(credentials);
  }
  const assertion = body.get('client_assertion');
  if (assertion) sent.push(assertion, ...assertion.split('.').filter((part) => part.length >= 8));
  return sent;
}

/** Dot-separated base64url segments after a JSON header: a JWS or JWE, an assertion or a token. */
const JWT_LIKE = /(?<![\w-])eyJ[\w-]+(?:\.[\w-]*){1,4}/g;

/** What a redacted value is replaced with. */
export const REDACTED = '[redacted]';

/**
 * `text` from the ID service (an `error_description`, say) with every value of `secrets` and
 * anything shaped like a JWT replaced by {@link REDACTED}: an ID service may echo the request's
 * credentials, and a message or a log line must not carry them on.
 */
export function redactCredentials(text: string, secrets: readonly string[]): string {
  let redacted = text;
  // Longest first: a short secret found inside a longer echoed form would leave the rest of it.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    if (secret) redacted = redacted.split(secret).join(REDACTED);
  }
  return redacted.replace(JWT_LIKE, REDACTED);
}

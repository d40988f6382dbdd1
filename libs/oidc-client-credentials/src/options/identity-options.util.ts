import type { JWK } from 'jose';
import { ConfigurationError } from '../errors/configuration.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import {
  ASYMMETRIC_JWS_ALGORITHMS,
  isCryptoKey,
  isJwsSigner,
  signingAlgorithm,
  type SigningKey,
} from '../idp/jws-signer.util.js';
import type {
  ClientAssertionOptions,
  ClientAuthMethod,
  NamedClientOptions,
} from './oidc-client-credentials-options.interface.js';
import { oneOf, optionalString } from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';

const AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_query',
  'private_key_jwt',
  'client_secret_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
];

/** Methods whose credential is the certificate of `mtls` (RFC 8705 §2). */
export function isTlsClientAuth(method: ClientAuthMethod): boolean {
  return method === 'tls_client_auth' || method === 'self_signed_tls_client_auth';
}

/** The options that identify a client to the ID service, resolved. */
export type ClientIdentity = Pick<
  ResolvedOptions,
  'clientId' | 'clientSecret' | 'clientAuthMethod' | 'privateKey' | 'clientAssertion'
>;

/**
 * Checks a client's identity options (the root's, or a named client's own) and applies their
 * defaults. Errors name each option after `optionPrefix` (`''` for the root,
 * `clients.<name>.` for a named client). Whether the credentials are complete is checked later,
 * by {@link assertOutboundCredentials}.
 */
export function resolveIdentity(
  entry: Pick<NamedClientOptions, keyof ClientIdentity>,
  optionPrefix: string,
): ClientIdentity {
  const assertion = resolveAssertionSource(entry.clientAssertion, optionPrefix);
  // A ready-made assertion is a private_key_jwt credential (RFC 7523 §2.2): no need to say so.
  const clientAuthMethod =
    entry.clientAuthMethod ?? (assertion ? 'private_key_jwt' : 'client_secret_basic');
  if (!AUTH_METHODS.includes(clientAuthMethod)) {
    throw new ConfigurationError(
      `${optionPrefix}clientAuthMethod`,
      `expected one of ${AUTH_METHODS.join(', ')}`,
    );
  }
  optionalString(`${optionPrefix}clientId`, entry.clientId);
  const secret = entry.clientSecret;
  if (typeof secret === 'string') optionalString(`${optionPrefix}clientSecret`, secret);
  else if (secret !== undefined && typeof secret !== 'function') {
    throw new ConfigurationError(
      `${optionPrefix}clientSecret`,
      'expected a string or a function answering a Promise of a string',
    );
  }
  if (typeof secret === 'function' && clientAuthMethod === 'client_secret_query') {
    throw new ConfigurationError(
      `${optionPrefix}clientSecret`,
      'a secret provider is not supported with client_secret_query (use client_secret_basic or client_secret_post)',
    );
  }
  if (clientAuthMethod === 'private_key_jwt') {
    if (entry.clientSecret !== undefined) {
      throw new ConfigurationError(
        `${optionPrefix}clientSecret`,
        'must not be set with private_key_jwt (one client authentication method per request)',
      );
    }
    if (entry.privateKey !== undefined) {
      if (assertion) {
        throw new ConfigurationError(
          `${optionPrefix}clientAssertion.${assertion}`,
          `not with ${optionPrefix}privateKey: the assertion is either ready-made or signed here`,
        );
      }
      validatePrivateKey(entry.privateKey, `${optionPrefix}privateKey`);
    }
  } else if (assertion) {
    throw new ConfigurationError(
      `${optionPrefix}clientAssertion.${assertion}`,
      `a ready-made assertion authenticates with private_key_jwt, not ${clientAuthMethod}`,
    );
  }
  return {
    clientId: entry.clientId,
    clientSecret: entry.clientSecret,
    clientAuthMethod,
    privateKey: entry.privateKey,
    clientAssertion: {
      audience: oneOf(`${optionPrefix}clientAssertion.audience`, entry.clientAssertion?.audience, [
        'issuer',
        'token_endpoint',
      ]),
      explicitType: entry.clientAssertion?.explicitType ?? false,
      ...(entry.clientAssertion?.file === undefined ? {} : { file: entry.clientAssertion.file }),
      ...(entry.clientAssertion?.get === undefined ? {} : { get: entry.clientAssertion.get }),
    },
  };
}

/** Which ready-made assertion source (`file` or `get`) is set, checked; `undefined` for none. */
function resolveAssertionSource(
  assertion: ClientAssertionOptions | undefined,
  optionPrefix: string,
): 'file' | 'get' | undefined {
  if (assertion === undefined || assertion === null || typeof assertion !== 'object') {
    return undefined;
  }
  const { file, get } = assertion;
  const option = `${optionPrefix}clientAssertion`;
  if (file !== undefined && get !== undefined) {
    throw new ConfigurationError(`${option}.get`, `not with ${option}.file: one assertion source`);
  }
  if (file !== undefined && (typeof file !== 'string' || file.trim() === '')) {
    throw new ConfigurationError(`${option}.file`, 'expected the path of a file');
  }
  if (get !== undefined && typeof get !== 'function') {
    throw new ConfigurationError(
      `${option}.get`,
      'expected a function answering a Promise of the assertion JWT',
    );
  }
  const source = file !== undefined ? 'file' : get !== undefined ? 'get' : undefined;
  if (source === undefined) return undefined;
  for (const signedHere of ['audience', 'explicitType'] as const) {
    if (assertion[signedHere] !== undefined) {
      throw new ConfigurationError(
        `${option}.${signedHere}`,
        `not with ${option}.${source}: it shapes assertions signed here, and a ready-made one is sent as it is`,
      );
    }
  }
  return source;
}

/** A private JWK, a private `CryptoKey` that signs, or a {@link JwsSigner}. */
function validatePrivateKey(key: SigningKey, option: string): void {
  if (isJwsSigner(key)) {
    if (!ASYMMETRIC_JWS_ALGORITHMS.includes(key.alg)) {
      throw new ConfigurationError(
        option,
        `the signer's alg "${sanitizeForLog(key.alg, 20) ?? ''}" is not one of ${ASYMMETRIC_JWS_ALGORITHMS.join(', ')}`,
      );
    }
    if (key.kid !== undefined && (typeof key.kid !== 'string' || key.kid === '')) {
      throw new ConfigurationError(option, "the signer's kid must be a non-empty string");
    }
    return;
  }
  if (isCryptoKey(key)) {
    if (key.type !== 'private' || !key.usages.includes('sign')) {
      throw new ConfigurationError(option, 'expected a private CryptoKey usable to sign');
    }
    try {
      signingAlgorithm(key);
    } catch (error) {
      throw new ConfigurationError(option, (error as Error).message);
    }
    return;
  }
  const jwk = key as JWK;
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.kty !== 'string') {
    throw new ConfigurationError(
      option,
      'expected a private JWK, a private CryptoKey or a signer { kid, alg, sign }',
    );
  }
  if (jwk.kty === 'oct' || typeof jwk.d !== 'string') {
    throw new ConfigurationError(option, 'expected an asymmetric private JWK (with "d")');
  }
  if (typeof jwk.alg !== 'string') {
    throw new ConfigurationError(option, 'the JWK must name its "alg" (e.g. RS256, ES256)');
  }
  // The assertion's header carries it, so the ID service picks the registered key without guessing.
  if (typeof jwk.kid !== 'string' || jwk.kid === '') {
    throw new ConfigurationError(option, 'the JWK must have a "kid"');
  }
}

/** The options that make up a client's identity at the ID service. */
type ClientCredentialOptions = Pick<
  ResolvedOptions,
  'clientId' | 'clientSecret' | 'clientAuthMethod' | 'privateKey'
> & { clientAssertion?: Partial<ResolvedOptions['clientAssertion']>; mtls?: unknown };

/** Whether a ready-made assertion (`clientAssertion.file` or `.get`) is set. */
function hasAssertionSource(options: ClientCredentialOptions): boolean {
  return options.clientAssertion?.file !== undefined || options.clientAssertion?.get !== undefined;
}

/**
 * Whether the options hold complete client credentials: a `clientId` and the credential its
 * `clientAuthMethod` needs (`privateKey` or a ready-made assertion for private_key_jwt,
 * `clientSecret` otherwise). What
 * requesting tokens and introspecting need.
 */
export function hasClientCredentials(options: ClientCredentialOptions): boolean {
  if (!options.clientId) return false;
  if (isTlsClientAuth(options.clientAuthMethod)) return options.mtls !== undefined;
  return options.clientAuthMethod === 'private_key_jwt'
    ? Boolean(options.privateKey) || hasAssertionSource(options)
    : Boolean(options.clientSecret);
}

/**
 * Whether a client credential (`clientSecret`, `privateKey` or a ready-made assertion) is set,
 * complete or not: the sign
 * that this service requests tokens. A `clientId` alone names this service without requesting
 * any, so a service with no credential is inbound only.
 */
export function hasAnyClientCredential(options: ClientCredentialOptions): boolean {
  return (
    options.clientSecret !== undefined ||
    options.privateKey !== undefined ||
    hasAssertionSource(options) ||
    (isTlsClientAuth(options.clientAuthMethod) && options.mtls !== undefined)
  );
}

/**
 * Options needed only when a side is used are checked when that side starts (the token provider
 * asserts them at startup when a credential is set, else on the first `getToken()`), so an
 * inbound-only service needs no secret. Throws, naming the missing option, unless
 * {@link hasClientCredentials}.
 */
export function assertOutboundCredentials(options: ResolvedOptions): void {
  if (hasClientCredentials(options)) return;
  const prefix = options.credentialsOptionPrefix ?? '';
  if (!options.clientId) {
    throw new ConfigurationError(`${prefix}clientId`, 'required to request tokens');
  }
  if (isTlsClientAuth(options.clientAuthMethod)) {
    throw new ConfigurationError(
      `${prefix}mtls`,
      `required with ${options.clientAuthMethod}: the client certificate and key ({ cert, key })`,
    );
  }
  if (options.clientAuthMethod === 'private_key_jwt') {
    throw new ConfigurationError(
      `${prefix}privateKey`,
      'required with private_key_jwt: a private JWK with kid and alg, a private CryptoKey or a signer (or set clientAssertion.file / clientAssertion.get)',
    );
  }
  throw new ConfigurationError(
    `${prefix}clientSecret`,
    options.privateKey === undefined
      ? `required with ${options.clientAuthMethod}`
      : `required with ${options.clientAuthMethod}; to authenticate with the private key, set ${prefix}clientAuthMethod: 'private_key_jwt'`,
  );
}

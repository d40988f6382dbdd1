import type { JWK } from 'jose';
import { ConfigurationError } from '../errors/configuration.error.js';
import type {
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
];

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
  const clientAuthMethod = entry.clientAuthMethod ?? 'client_secret_basic';
  if (!AUTH_METHODS.includes(clientAuthMethod)) {
    throw new ConfigurationError(
      `${optionPrefix}clientAuthMethod`,
      `expected one of ${AUTH_METHODS.join(', ')}`,
    );
  }
  optionalString(`${optionPrefix}clientId`, entry.clientId);
  optionalString(`${optionPrefix}clientSecret`, entry.clientSecret);
  if (clientAuthMethod === 'private_key_jwt') {
    if (entry.clientSecret !== undefined) {
      throw new ConfigurationError(
        `${optionPrefix}clientSecret`,
        'must not be set with private_key_jwt (one client authentication method per request)',
      );
    }
    if (entry.privateKey !== undefined) {
      validatePrivateKey(entry.privateKey, `${optionPrefix}privateKey`);
    }
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
    },
  };
}

function validatePrivateKey(key: JWK, option: string): void {
  if (typeof key !== 'object' || key === null || typeof key.kty !== 'string') {
    throw new ConfigurationError(option, 'expected a private JWK object');
  }
  if (key.kty === 'oct' || typeof key.d !== 'string') {
    throw new ConfigurationError(option, 'expected an asymmetric private JWK (with "d")');
  }
  if (typeof key.alg !== 'string') {
    throw new ConfigurationError(option, 'the JWK must name its "alg" (e.g. RS256, ES256)');
  }
  // The assertion's header carries it, so the ID service picks the registered key without guessing.
  if (typeof key.kid !== 'string' || key.kid === '') {
    throw new ConfigurationError(option, 'the JWK must have a "kid"');
  }
}

/** The options that make up a client's identity at the ID service. */
type ClientCredentialOptions = Pick<
  ResolvedOptions,
  'clientId' | 'clientSecret' | 'clientAuthMethod' | 'privateKey'
>;

/**
 * Whether the options hold complete client credentials: a `clientId` and the credential its
 * `clientAuthMethod` needs (`privateKey` for private_key_jwt, `clientSecret` otherwise). What
 * requesting tokens and introspecting need.
 */
export function hasClientCredentials(options: ClientCredentialOptions): boolean {
  if (!options.clientId) return false;
  return options.clientAuthMethod === 'private_key_jwt'
    ? Boolean(options.privateKey)
    : Boolean(options.clientSecret);
}

/**
 * Whether a client credential (`clientSecret` or `privateKey`) is set, complete or not: the sign
 * that this service requests tokens. A `clientId` alone names this service without requesting
 * any, so a service with no credential is inbound only.
 */
export function hasAnyClientCredential(options: ClientCredentialOptions): boolean {
  return options.clientSecret !== undefined || options.privateKey !== undefined;
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
  if (options.clientAuthMethod === 'private_key_jwt') {
    throw new ConfigurationError(
      `${prefix}privateKey`,
      'required with private_key_jwt: a private JWK with kid and alg',
    );
  }
  throw new ConfigurationError(
    `${prefix}clientSecret`,
    options.privateKey === undefined
      ? `required with ${options.clientAuthMethod}`
      : `required with ${options.clientAuthMethod}; to authenticate with the private key, set ${prefix}clientAuthMethod: 'private_key_jwt'`,
  );
}

import type { JWK } from 'jose';
import type { Keyv } from 'keyv';
import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  ClientAuthMethod,
  NamedClientOptions,
  OidcClientCredentialsModuleOptions,
  TokenLocation,
} from './oidc-client-credentials-options.interface.js';
import { DEFAULT_CLIENT_NAME, type ResolvedOptions } from './resolved-options.js';
import { parseEndpointUrl } from './endpoint-url.util.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';

const AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_query',
  'private_key_jwt',
];
const TOKEN_LOCATIONS: readonly TokenLocation[] = ['header', 'query', 'body'];
const RESERVED_TOKEN_PARAMS = new Set([
  'grant_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
]);

/**
 * Validates module options and applies defaults. Every problem is a {@link ConfigurationError}
 * naming the option, thrown at startup rather than on the first request.
 */
export function resolveOptions(options: OidcClientCredentialsModuleOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') {
    throw new ConfigurationError('options', 'expected an object with at least "issuer"');
  }
  const allowInsecureHttp = options.allowInsecureHttp === true;
  const issuer = validIssuer(options.issuer, allowInsecureHttp);

  const endpoints: ResolvedOptions['endpoints'] = {};
  for (const name of ['token', 'introspection', 'userinfo', 'jwks'] as const) {
    const value = options.endpoints?.[name];
    if (value !== undefined) {
      endpoints[name] = parseEndpointUrl(`endpoints.${name}`, value, allowInsecureHttp);
    }
  }

  const identity = resolveIdentity(options, '');

  const v = options.verification ?? {};
  const verification: ResolvedOptions['verification'] = {
    strategy: v.strategy ?? 'auto',
    audience:
      v.audience === undefined ? undefined : stringList('verification.audience', v.audience),
    allowedClientIds:
      v.allowedClientIds === undefined
        ? undefined
        : new Set(stringList('verification.allowedClientIds', v.allowedClientIds)),
    requireSubjectIsClient: v.requireSubjectIsClient ?? false,
    algorithms: v.algorithms ?? ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clockToleranceSeconds: nonNegative(
      'verification.clockToleranceSeconds',
      v.clockToleranceSeconds,
      30,
    ),
    profile: v.profile ?? 'default',
    maxTokenLength: positive('verification.maxTokenLength', v.maxTokenLength, 8192),
    tokenLocations: v.tokenLocations ?? ['header'],
    realm: v.realm,
    cacheTtlSeconds: nonNegative('verification.cacheTtlSeconds', v.cacheTtlSeconds, 300),
    negativeCacheTtlSeconds: nonNegative(
      'verification.negativeCacheTtlSeconds',
      v.negativeCacheTtlSeconds,
      10,
    ),
    cacheMaxEntries: positive('verification.cacheMaxEntries', v.cacheMaxEntries, 10_000),
    jwksCooldownSeconds: nonNegative('verification.jwksCooldownSeconds', v.jwksCooldownSeconds, 30),
    jwksMaxAgeSeconds: positive('verification.jwksMaxAgeSeconds', v.jwksMaxAgeSeconds, 600),
    jwksStaleWindowSeconds: nonNegative(
      'verification.jwksStaleWindowSeconds',
      v.jwksStaleWindowSeconds,
      3600,
    ),
    retryAfterSeconds: positive('verification.retryAfterSeconds', v.retryAfterSeconds, 5),
  };
  if (!['default', 'rfc9068'].includes(verification.profile)) {
    throw new ConfigurationError('verification.profile', "expected 'default' or 'rfc9068'");
  }
  if (
    !Array.isArray(verification.tokenLocations) ||
    verification.tokenLocations.length === 0 ||
    verification.tokenLocations.some((l) => !TOKEN_LOCATIONS.includes(l))
  ) {
    throw new ConfigurationError(
      'verification.tokenLocations',
      "expected a non-empty list of 'header', 'query', 'body'",
    );
  }
  if (
    !Array.isArray(verification.algorithms) ||
    verification.algorithms.length === 0 ||
    verification.algorithms.some((a) => typeof a !== 'string' || !a || /^(none|HS\d+)$/i.test(a))
  ) {
    throw new ConfigurationError(
      'verification.algorithms',
      'expected a non-empty list of asymmetric JWS algorithms (no none, no HS*)',
    );
  }

  const r = options.tokenRenewal ?? {};
  const renewAfterFraction = r.renewAfterFraction ?? 0.8;
  if (
    typeof renewAfterFraction !== 'number' ||
    !(renewAfterFraction > 0 && renewAfterFraction <= 1)
  ) {
    throw new ConfigurationError('tokenRenewal.renewAfterFraction', 'expected a number in (0, 1]');
  }

  const resolved: ResolvedOptions = {
    issuer,
    endpoints,
    ...identity,
    tokenParams: tokenParams(options),
    tokenRenewal: {
      renewAfterFraction,
      renewBeforeExpirySeconds: nonNegative(
        'tokenRenewal.renewBeforeExpirySeconds',
        r.renewBeforeExpirySeconds,
        60,
      ),
      defaultLifetimeSeconds: positive(
        'tokenRenewal.defaultLifetimeSeconds',
        r.defaultLifetimeSeconds,
        300,
      ),
      maxLifetimeSeconds: positive('tokenRenewal.maxLifetimeSeconds', r.maxLifetimeSeconds, 86_400),
    },
    retry: {
      maxAttempts: positive('retry.maxAttempts', options.retry?.maxAttempts, 3),
      initialDelayMs: nonNegative('retry.initialDelayMs', options.retry?.initialDelayMs, 200),
      maxDelayMs: nonNegative('retry.maxDelayMs', options.retry?.maxDelayMs, 5000),
      deadlineMs: positive('retry.deadlineMs', options.retry?.deadlineMs, 15_000),
    },
    circuitBreaker: {
      failureThreshold: positiveInteger(
        'circuitBreaker.failureThreshold',
        options.circuitBreaker?.failureThreshold,
        5,
      ),
      cooldownMs: positive('circuitBreaker.cooldownMs', options.circuitBreaker?.cooldownMs, 30_000),
    },
    http: {
      timeoutMs: positive('http.timeoutMs', options.http?.timeoutMs, 5000),
      maxResponseBytes: positive('http.maxResponseBytes', options.http?.maxResponseBytes, 65_536),
    },
    authorizedHttp: {
      retryOnUnauthorized: oneOf(
        'authorizedHttp.retryOnUnauthorized',
        options.authorizedHttp?.retryOnUnauthorized,
        ['idempotent', 'all', 'never'],
      ),
    },
    verification,
    cache: {
      stores: cacheStores(options.cache?.stores),
      keyPrefix: keyPrefix(options.cache?.keyPrefix),
      encryptionKey: encryptionKey(options.cache?.encryptionKey),
      timeoutMs: positive('cache.timeoutMs', options.cache?.timeoutMs, 50),
    },
    allowInsecureHttp,
    clients: {},
  };
  return { ...resolved, clients: resolveClients(options, resolved) };
}

/** What a named client may set; everything else is the root's. */
const NAMED_CLIENT_OPTIONS: ReadonlySet<string> = new Set<keyof NamedClientOptions>([
  'clientId',
  'clientSecret',
  'clientAuthMethod',
  'privateKey',
  'clientAssertion',
  'scope',
  'audience',
  'resource',
  'extraParams',
]);
/** Root options that a named client shares and cannot set (everything but NAMED_CLIENT_OPTIONS). */
const ROOT_ONLY_OPTIONS: Readonly<Record<string, true>> = {
  issuer: true,
  endpoints: true,
  tokenRenewal: true,
  retry: true,
  circuitBreaker: true,
  http: true,
  authorizedHttp: true,
  verification: true,
  cache: true,
  allowInsecureHttp: true,
  clients: true,
};

/** Credentials that belong to a client id: a named client sets them only with its own `clientId`. */
const IDENTITY_OPTIONS = [
  'clientSecret',
  'privateKey',
  'clientAuthMethod',
  'clientAssertion',
] as const;
/** Names end up in DI tokens, logs and metric labels. */
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function resolveClients(
  options: OidcClientCredentialsModuleOptions,
  root: ResolvedOptions,
): Record<string, ResolvedOptions> {
  const clients = options.clients;
  if (clients === undefined) return {};
  if (typeof clients !== 'object' || clients === null || Array.isArray(clients)) {
    throw new ConfigurationError(
      'clients',
      'expected an object of named clients, e.g. { billing: { clientId, clientSecret, scope } }',
    );
  }
  return Object.fromEntries(
    Object.entries(clients).map(([name, entry]) => [
      name,
      resolveNamedClient(options, root, name, entry),
    ]),
  );
}

/**
 * Resolves a named client against the root (see `NamedClientOptions` for what it inherits) and
 * checks its credentials now, naming the option as `label.option` (e.g. `clients.billing.clientSecret`).
 */
export function resolveNamedClient(
  rootOptions: OidcClientCredentialsModuleOptions,
  root: ResolvedOptions,
  name: string,
  entry: NamedClientOptions,
  label = `clients.${name}`,
): ResolvedOptions {
  if (typeof name !== 'string' || !CLIENT_NAME.test(name) || name === DEFAULT_CLIENT_NAME) {
    throw new ConfigurationError(
      'clients',
      `"${sanitizeForLog(String(name), 64)}" is not a client name: expected 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, other than "${DEFAULT_CLIENT_NAME}"`,
    );
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new ConfigurationError(
      label,
      'expected an object with the client options (clientId, clientSecret, scope, …)',
    );
  }
  for (const key of Object.keys(entry)) {
    if (NAMED_CLIENT_OPTIONS.has(key)) continue;
    const option = `${label}.${sanitizeForLog(key, 64)}`;
    throw new ConfigurationError(
      option,
      Object.hasOwn(ROOT_ONLY_OPTIONS, key)
        ? 'is shared by every client: set it in the root options'
        : `unknown; a named client may set ${[...NAMED_CLIENT_OPTIONS].join(', ')}`,
    );
  }
  const ownIdentity = entry.clientId !== undefined;
  let identity: ClientIdentity;
  if (ownIdentity) {
    identity = resolveIdentity(entry, `${label}.`);
  } else {
    const stray = IDENTITY_OPTIONS.find((option) => entry[option] !== undefined);
    if (stray !== undefined) {
      throw new ConfigurationError(
        `${label}.clientId`,
        `required with ${label}.${stray}: without its own clientId a named client uses the root client's identity`,
      );
    }
    if (root.clientId === undefined) {
      throw new ConfigurationError(
        `${label}.clientId`,
        'required: the root options have no clientId to share',
      );
    }
    const { clientId, clientSecret, clientAuthMethod, privateKey, clientAssertion } = root;
    identity = { clientId, clientSecret, clientAuthMethod, privateKey, clientAssertion };
  }
  // The client's own parameters are checked under its label before the root's fill the gaps.
  tokenParams(entry, `${label}.`);
  const client: ResolvedOptions = {
    ...root,
    ...identity,
    tokenParams: tokenParams(inheritParams(rootOptions, entry)),
    clientName: name,
    // An inherited identity's problems are the root options' to fix.
    credentialsOptionPrefix: ownIdentity ? `${label}.` : undefined,
    clients: {},
  };
  assertOutboundCredentials(client);
  return client;
}

/** The options that identify a client to the ID service, resolved. */
type ClientIdentity = Pick<
  ResolvedOptions,
  'clientId' | 'clientSecret' | 'clientAuthMethod' | 'privateKey' | 'clientAssertion'
>;

/**
 * Checks a client's identity options (the root's, or a named client's own) and applies their
 * defaults. Errors name each option after `optionPrefix` (`''` for the root,
 * `clients.<name>.` for a named client). Whether the credentials are complete is checked later,
 * by {@link assertOutboundCredentials}.
 */
function resolveIdentity(
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

function inheritParams(
  root: OidcClientCredentialsModuleOptions,
  entry: NamedClientOptions,
): NamedClientOptions {
  return {
    scope: entry.scope ?? root.scope,
    audience: entry.audience ?? root.audience,
    resource: entry.resource ?? root.resource,
    extraParams: entry.extraParams ?? root.extraParams,
  };
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
 * Whether any outbound credential option is set (`clientId`, `clientSecret` or `privateKey`),
 * complete or not: a service that sets none is inbound only.
 */
export function hasAnyClientCredential(options: ClientCredentialOptions): boolean {
  const { clientId, clientSecret, privateKey } = options;
  return clientId !== undefined || clientSecret !== undefined || privateKey !== undefined;
}

/**
 * Options needed only when a side is used are checked when that side starts (e.g. the token
 * provider asserts a client id and a credential) so an inbound-only service needs no secret.
 * Throws, naming the missing option, unless {@link hasClientCredentials}.
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
    `required with ${options.clientAuthMethod}`,
  );
}

function validIssuer(value: string, allowInsecureHttp: boolean): string {
  const url = parseEndpointUrl('issuer', value, allowInsecureHttp);
  // An empty "?" or "#" leaves url.search and url.hash empty but still breaks the discovery URL.
  if (url.search || value.includes('?')) {
    throw new ConfigurationError('issuer', 'must not contain a query');
  }
  if (value.includes('#')) throw new ConfigurationError('issuer', 'must not contain a fragment');
  return value;
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

function tokenParams(options: NamedClientOptions, prefix = ''): [string, string][] {
  const params: [string, string][] = [];
  if (options.scope !== undefined) {
    params.push(['scope', stringList(`${prefix}scope`, options.scope).join(' ')]);
  }
  for (const name of ['audience', 'resource'] as const) {
    const value = options[name];
    if (value !== undefined) {
      for (const item of stringList(`${prefix}${name}`, value)) params.push([name, item]);
    }
  }
  for (const [key, value] of Object.entries(options.extraParams ?? {})) {
    if (RESERVED_TOKEN_PARAMS.has(key)) {
      throw new ConfigurationError(
        `${prefix}extraParams.${key}`,
        'is set by the library and cannot be overridden',
      );
    }
    if (typeof value !== 'string')
      throw new ConfigurationError(`${prefix}extraParams.${key}`, 'expected a string');
    params.push([key, value]);
  }
  return params;
}

function stringList(option: string, value: string | string[]): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || list.some((item) => typeof item !== 'string' || item.length === 0)) {
    throw new ConfigurationError(
      option,
      'expected a non-empty string or list of non-empty strings',
    );
  }
  return list;
}

function optionalString(option: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value.length === 0)) {
    throw new ConfigurationError(option, 'expected a non-empty string');
  }
}

/** The value if it is one of `allowed`, the first of them (the default) if absent. */
function oneOf<T extends string>(option: string, value: T | undefined, allowed: readonly T[]): T {
  if (value === undefined) return allowed[0];
  if (!allowed.includes(value)) {
    throw new ConfigurationError(
      option,
      `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
    );
  }
  return value;
}

function positive(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigurationError(option, 'expected a positive number');
  }
  return value;
}

function positiveInteger(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigurationError(option, 'expected a positive integer');
  }
  return value;
}

function nonNegative(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(option, 'expected a number ≥ 0');
  }
  return value;
}

function cacheStores(value: Keyv[] | undefined): Keyv[] {
  if (value === undefined) return [];
  const isStore = (store: unknown) =>
    typeof store === 'object' &&
    store !== null &&
    ['get', 'set', 'delete', 'on', 'off'].every(
      (method) => typeof (store as Record<string, unknown>)[method] === 'function',
    );
  if (!Array.isArray(value) || !value.every(isStore)) {
    throw new ConfigurationError(
      'cache.stores',
      "expected a list of Keyv instances, e.g. [createKeyv('redis://…')] from @keyv/redis",
    );
  }
  return [...value];
}

function keyPrefix(value: string | undefined): string {
  if (value === undefined) return 'oidc-cc';
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(value)) {
    throw new ConfigurationError(
      'cache.keyPrefix',
      'expected 1 to 64 printable ASCII characters without spaces',
    );
  }
  return value;
}

function encryptionKey(value: string | Buffer | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const key = typeof value === 'string' ? Buffer.from(value, 'base64') : value;
  if (key.length !== 32) {
    throw new ConfigurationError(
      'cache.encryptionKey',
      'expected 32 bytes (base64 string or Buffer)',
    );
  }
  return key;
}

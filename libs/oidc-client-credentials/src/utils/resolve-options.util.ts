import type { JWK } from 'jose';
import type { Keyv } from 'keyv';
import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  ClientAuthMethod,
  OidcClientCredentialsModuleOptions,
  OidcEndpoints,
  TokenLocation,
  VerificationOptions,
} from '../interfaces/oidc-client-credentials-options.interface.js';
import { parseEndpointUrl } from './endpoint-url.util.js';

/** Options after validation, with every default applied. Built once at startup. */
export interface ResolvedOptions {
  issuer: string;
  endpoints: { [K in keyof OidcEndpoints]?: URL };
  clientId?: string;
  clientSecret?: string;
  clientAuthMethod: ClientAuthMethod;
  privateKey?: JWK;
  clientAssertion: { audience: 'issuer' | 'token_endpoint'; explicitType: boolean };
  /** Token request parameters besides grant_type and client authentication, in a stable order. */
  tokenParams: [string, string][];
  tokenRenewal: {
    renewAfterFraction: number;
    renewBeforeExpirySeconds: number;
    defaultLifetimeSeconds: number;
    maxLifetimeSeconds: number;
  };
  retry: { maxAttempts: number; initialDelayMs: number; maxDelayMs: number; deadlineMs: number };
  circuitBreaker: { failureThreshold: number; cooldownMs: number };
  http: { timeoutMs: number; maxResponseBytes: number };
  authorizedHttp: { retryOnUnauthorized: 'idempotent' | 'all' | 'never' };
  verification: Required<Omit<VerificationOptions, 'audience' | 'allowedClientIds' | 'realm'>> & {
    audience?: string[];
    allowedClientIds?: ReadonlySet<string>;
    realm?: string;
  };
  cache: { stores: Keyv[]; keyPrefix: string; encryptionKey?: Buffer; timeoutMs: number };
  allowInsecureHttp: boolean;
}

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

  const clientAuthMethod = options.clientAuthMethod ?? 'client_secret_basic';
  if (!AUTH_METHODS.includes(clientAuthMethod)) {
    throw new ConfigurationError('clientAuthMethod', `expected one of ${AUTH_METHODS.join(', ')}`);
  }
  optionalString('clientId', options.clientId);
  optionalString('clientSecret', options.clientSecret);
  if (clientAuthMethod === 'private_key_jwt') {
    if (options.clientSecret !== undefined) {
      throw new ConfigurationError(
        'clientSecret',
        'must not be set with private_key_jwt (one client authentication method per request)',
      );
    }
    if (options.privateKey !== undefined) validatePrivateKey(options.privateKey);
  }

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
    verification.algorithms.length === 0 ||
    verification.algorithms.some((a) => /^(none|HS\d+)$/i.test(a))
  ) {
    throw new ConfigurationError(
      'verification.algorithms',
      'expected a non-empty list of asymmetric JWS algorithms (no none, no HS*)',
    );
  }

  const r = options.tokenRenewal ?? {};
  const renewAfterFraction = r.renewAfterFraction ?? 0.8;
  if (!(renewAfterFraction > 0 && renewAfterFraction <= 1)) {
    throw new ConfigurationError('tokenRenewal.renewAfterFraction', 'expected a number in (0, 1]');
  }

  return {
    issuer,
    endpoints,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuthMethod,
    privateKey: options.privateKey,
    clientAssertion: {
      audience: options.clientAssertion?.audience ?? 'issuer',
      explicitType: options.clientAssertion?.explicitType ?? false,
    },
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
      retryOnUnauthorized: options.authorizedHttp?.retryOnUnauthorized ?? 'idempotent',
    },
    verification,
    cache: {
      stores: cacheStores(options.cache?.stores),
      keyPrefix: keyPrefix(options.cache?.keyPrefix),
      encryptionKey: encryptionKey(options.cache?.encryptionKey),
      timeoutMs: positive('cache.timeoutMs', options.cache?.timeoutMs, 50),
    },
    allowInsecureHttp,
  };
}

/**
 * Options needed only when a side is used are checked when that side starts (e.g. the token
 * provider asserts a client id and a credential) so an inbound-only service needs no secret.
 */
export function assertOutboundCredentials(options: ResolvedOptions): void {
  if (!options.clientId) {
    throw new ConfigurationError('clientId', 'required to request tokens');
  }
  if (options.clientAuthMethod === 'private_key_jwt') {
    if (!options.privateKey) {
      throw new ConfigurationError(
        'privateKey',
        'required with private_key_jwt: a private JWK with kid and alg',
      );
    }
  } else if (!options.clientSecret) {
    throw new ConfigurationError('clientSecret', `required with ${options.clientAuthMethod}`);
  }
}

function validIssuer(value: string, allowInsecureHttp: boolean): string {
  const url = parseEndpointUrl('issuer', value, allowInsecureHttp);
  if (url.search) throw new ConfigurationError('issuer', 'must not contain a query');
  return value;
}

function validatePrivateKey(key: JWK): void {
  if (typeof key !== 'object' || key === null || typeof key.kty !== 'string') {
    throw new ConfigurationError('privateKey', 'expected a private JWK object');
  }
  if (key.kty === 'oct' || (!('d' in key) && key.kty !== 'oct')) {
    throw new ConfigurationError('privateKey', 'expected an asymmetric private JWK (with "d")');
  }
  if (typeof key.alg !== 'string') {
    throw new ConfigurationError('privateKey', 'the JWK must name its "alg" (e.g. RS256, ES256)');
  }
}

function tokenParams(options: OidcClientCredentialsModuleOptions): [string, string][] {
  const params: [string, string][] = [];
  if (options.scope !== undefined) {
    params.push(['scope', stringList('scope', options.scope).join(' ')]);
  }
  for (const name of ['audience', 'resource'] as const) {
    const value = options[name];
    if (value !== undefined) {
      for (const item of stringList(name, value)) params.push([name, item]);
    }
  }
  for (const [key, value] of Object.entries(options.extraParams ?? {})) {
    if (RESERVED_TOKEN_PARAMS.has(key)) {
      throw new ConfigurationError(
        `extraParams.${key}`,
        'is set by the library and cannot be overridden',
      );
    }
    if (typeof value !== 'string')
      throw new ConfigurationError(`extraParams.${key}`, 'expected a string');
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

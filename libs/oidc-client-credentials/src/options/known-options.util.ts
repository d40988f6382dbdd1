import { ConfigurationError } from '../errors/configuration.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { closestKey } from './closest-key.util.js';
import type { OidcClientCredentialsModuleExtras } from '../oidc-client-credentials.module-definition.js';
import type {
  NamedClientIssuerOptions,
  NamedClientOptions,
  OidcClientCredentialsModuleOptions,
} from './oidc-client-credentials-options.interface.js';

/**
 * A key whose value its section's resolver checks. Objects held there — a private JWK, Keyv
 * stores, a strategy instance, `extraParams` — are data: their keys are not option names.
 */
const VALUE = 'value';

/** What a known key holds: a value, a section of options, or a map of free names to sections. */
type KnownKey =
  typeof VALUE | OptionSection | { readonly eachOf: OptionSection; readonly expected: string };

/** One level of the options tree: the keys it knows, and what the check does with the others. */
export interface OptionSection {
  /** What the value must be, said when it is not an object. */
  readonly expected: string;
  readonly keys: Readonly<Record<string, KnownKey>>;
  /** Why a key that belongs elsewhere is refused here (e.g. a root-only key in a named client). */
  readonly elsewhere?: (key: string) => string | undefined;
  /** Keys that are not options but may arrive with them, and are left alone. */
  readonly passThrough?: readonly string[];
  /**
   * Introduces the known keys in every refusal of an unknown one, for a section that takes fewer
   * keys than one might expect (a named client). Others list them only when none is close.
   */
  readonly takes?: string;
  /** `true` or `false` is taken too, as the whole value (e.g. `verifyOnStartup: true`). */
  readonly orBoolean?: boolean;
}

/** The type of the module option `K`, a section of options. */
type SectionOf<K extends keyof OidcClientCredentialsModuleOptions> = NonNullable<
  OidcClientCredentialsModuleOptions[K]
>;

type VerificationSection = SectionOf<'verification'>;
type TrustedIssuerEntry = NonNullable<VerificationSection['issuers']>[number];

/** A section whose keys are exactly those of `T`: a key added to `T` and not here fails to compile. */
function section<T>(
  keys: Record<keyof T, KnownKey>,
  elsewhere?: OptionSection['elsewhere'],
): OptionSection {
  return { expected: 'expected an object', keys, elsewhere };
}

const ENDPOINTS = section<SectionOf<'endpoints'>>({
  token: VALUE,
  introspection: VALUE,
  userinfo: VALUE,
  jwks: VALUE,
});

const CLIENT_ASSERTION = section<SectionOf<'clientAssertion'>>({
  audience: VALUE,
  explicitType: VALUE,
  file: VALUE,
  get: VALUE,
});

const TOKEN_RENEWAL = section<SectionOf<'tokenRenewal'>>({
  renewAfterFraction: VALUE,
  renewBeforeExpirySeconds: VALUE,
  defaultLifetimeSeconds: VALUE,
  maxLifetimeSeconds: VALUE,
  proactive: VALUE,
  prefetch: VALUE,
  maxParameterSets: VALUE,
});

const RETRY = section<SectionOf<'retry'>>({
  maxAttempts: VALUE,
  initialDelayMs: VALUE,
  maxDelayMs: VALUE,
  deadlineMs: VALUE,
});

const CIRCUIT_BREAKER = section<SectionOf<'circuitBreaker'>>({
  failureThreshold: VALUE,
  cooldownMs: VALUE,
});

const HTTP = section<SectionOf<'http'>>({
  timeoutMs: VALUE,
  maxResponseBytes: VALUE,
  // A Dispatcher or a fetch function is data, not options.
  dispatcher: VALUE,
  fetch: VALUE,
  proxy: VALUE,
});

const MTLS = section<SectionOf<'mtls'>>({ cert: VALUE, key: VALUE, ca: VALUE });

const AUTHORIZED_HTTP = section<SectionOf<'authorizedHttp'>>(
  // `resources` maps origins (free names) to indicators: its resolver checks it.
  { retryOnUnauthorized: VALUE, resources: VALUE },
  (key) =>
    key === 'allowInsecureHttp'
      ? 'not an option of the module: its HttpServices follow the root "allowInsecureHttp"'
      : undefined,
);

/** One entry of `verification.issuers` (checked entry by entry: the list is an array). */
export const TRUSTED_ISSUER = section<TrustedIssuerEntry>({
  issuer: VALUE,
  audience: VALUE,
  endpoints: section<NonNullable<TrustedIssuerEntry['endpoints']>>({
    jwks: VALUE,
    introspection: VALUE,
    userinfo: VALUE,
  }),
  strategy: VALUE,
  clientId: VALUE,
  clientSecret: VALUE,
});

const RESOURCE_METADATA = section<NonNullable<VerificationSection['resourceMetadata']>>({
  resource: VALUE,
  scopesSupported: VALUE,
  resourceName: VALUE,
  resourceDocumentation: VALUE,
});

const INTROSPECTION = section<NonNullable<VerificationSection['introspection']>>({
  signedResponse: VALUE,
});

const VERIFICATION = section<SectionOf<'verification'>>({
  strategy: VALUE,
  audience: VALUE,
  warnOnMissingAudience: VALUE,
  allowedClientIds: VALUE,
  requireSubjectIsClient: VALUE,
  algorithms: VALUE,
  clockToleranceSeconds: VALUE,
  profile: VALUE,
  maxTokenLength: VALUE,
  tokenLocations: VALUE,
  realm: VALUE,
  cacheTtlSeconds: VALUE,
  negativeCacheTtlSeconds: VALUE,
  cacheMaxEntries: VALUE,
  jwksCooldownSeconds: VALUE,
  jwksMaxAgeSeconds: VALUE,
  jwksStaleWindowSeconds: VALUE,
  retryAfterSeconds: VALUE,
  // An array: each entry is checked against TRUSTED_ISSUER by the verification resolver.
  issuers: VALUE,
  issuerResolver: VALUE,
  resourceMetadata: RESOURCE_METADATA,
  introspection: INTROSPECTION,
  dpop: VALUE,
  dpopAlgorithms: VALUE,
  dpopProofMaxAgeSeconds: VALUE,
  dpopNonce: VALUE,
  trustForwardedHeaders: VALUE,
  mtls: VALUE,
  clientCertificateHeader: VALUE,
});

const VERIFY_ON_STARTUP: OptionSection = {
  ...section<Exclude<SectionOf<'verifyOnStartup'>, boolean>>({ outbound: VALUE, inbound: VALUE }),
  expected: 'expected true, false or { outbound?: boolean, inbound?: boolean }',
  orBoolean: true,
};

const CACHE = section<SectionOf<'cache'>>({
  stores: VALUE,
  keyPrefix: VALUE,
  encryptionKey: VALUE,
  timeoutMs: VALUE,
});

type ClientKeys = Partial<Record<keyof NamedClientOptions, KnownKey>>;

/**
 * The keys that identify a client at the ID service. A named client without its own `clientId`
 * is the root's client and sets none of them.
 */
const IDENTITY_KEYS = {
  clientId: VALUE,
  clientSecret: VALUE,
  clientAuthMethod: VALUE,
  privateKey: VALUE,
  clientAssertion: CLIENT_ASSERTION,
  mtls: MTLS,
} as const satisfies ClientKeys;

/** Token request parameters: each one a named client sets replaces the root's. */
const TOKEN_PARAM_KEYS = {
  scope: VALUE,
  audience: VALUE,
  resource: VALUE,
  // Any further token request parameters: their names are the ID service's.
  extraParams: VALUE,
} as const satisfies ClientKeys;

/** DPoP: `true`, or its options (a private key held there is data, not options). */
const DPOP: OptionSection = {
  ...section<Exclude<NonNullable<NamedClientOptions['dpop']>, boolean>>({
    alg: VALUE,
    privateKey: VALUE,
  }),
  expected: 'expected true, false or { alg?: string, privateKey?: JWK | CryptoKey | DpopSigner }',
  orBoolean: true,
};

/** How a client's tokens are bound to it: each client's own, else the root's. */
const SENDER_CONSTRAINT_KEYS = { dpop: DPOP } as const satisfies ClientKeys;

/** The keys a named client shares with the root options. */
type SharedClientKey = Exclude<keyof NamedClientOptions, keyof NamedClientIssuerOptions>;

/** Everything a named client may set that the root may set too, with the same meaning. */
const CLIENT_KEYS = {
  ...IDENTITY_KEYS,
  ...TOKEN_PARAM_KEYS,
  ...SENDER_CONSTRAINT_KEYS,
} satisfies Record<SharedClientKey, KnownKey>;

/** A named client's own ID service: its issuer and, at most, its token endpoint. */
const CLIENT_ISSUER_KEYS = {
  issuer: VALUE,
  endpoints: section<NonNullable<NamedClientIssuerOptions['endpoints']>>({ token: VALUE }),
} as const satisfies Record<keyof NamedClientIssuerOptions, KnownKey>;

/** A named client's options (`clients.<name>`, `forFeature(name, options)`). */
export const NAMED_CLIENT_OPTIONS: OptionSection = {
  expected: 'expected an object with the client options (clientId, clientSecret, scope, …)',
  keys: { ...CLIENT_KEYS, ...CLIENT_ISSUER_KEYS } satisfies Record<
    keyof NamedClientOptions,
    KnownKey
  >,
  takes: 'a named client may set',
  elsewhere: (key) =>
    Object.hasOwn(ROOT_ONLY_KEYS, key)
      ? 'is shared by every client: set it in the root options'
      : undefined,
};

/** Options shared by every client: the root's only. */
const ROOT_ONLY_KEYS = {
  issuer: VALUE,
  endpoints: ENDPOINTS,
  tokenRenewal: TOKEN_RENEWAL,
  retry: RETRY,
  circuitBreaker: CIRCUIT_BREAKER,
  http: HTTP,
  authorizedHttp: AUTHORIZED_HTTP,
  verification: VERIFICATION,
  cache: CACHE,
  allowInsecureHttp: VALUE,
  verifyOnStartup: VERIFY_ON_STARTUP,
  clients: {
    expected:
      'expected an object of named clients, e.g. { billing: { clientId, clientSecret, scope } }',
    // The client names are free; each entry is checked as a named client.
    eachOf: NAMED_CLIENT_OPTIONS,
  },
} as const satisfies Partial<
  Record<Exclude<keyof OidcClientCredentialsModuleOptions, SharedClientKey>, KnownKey>
>;

/**
 * The module definition's extras. `forRoot` takes them out of the options, but a `forRootAsync`
 * factory may return them with the options (one object for both): they are not options, and
 * have their effect only next to `useFactory`.
 */
const EXTRA_KEYS = {
  isGlobal: VALUE,
  clientNames: VALUE,
} as const satisfies Record<keyof OidcClientCredentialsModuleExtras, KnownKey>;

/** The module options: every key at every depth. */
export const MODULE_OPTIONS: OptionSection = {
  expected: 'expected an object with at least "issuer"',
  keys: { ...ROOT_ONLY_KEYS, ...CLIENT_KEYS } satisfies Record<
    keyof OidcClientCredentialsModuleOptions,
    KnownKey
  >,
  passThrough: Object.keys(EXTRA_KEYS),
};

/** The identity options a named client may set only with its own `clientId`. */
export const CREDENTIAL_KEYS = Object.keys(IDENTITY_KEYS).filter(
  (key): key is Exclude<keyof typeof IDENTITY_KEYS, 'clientId'> => key !== 'clientId',
);

/** The token request parameters, which a named client inherits one by one. */
export const TOKEN_PARAM_OPTION_KEYS = Object.keys(
  TOKEN_PARAM_KEYS,
) as (keyof typeof TOKEN_PARAM_KEYS)[];

/**
 * Refuses every key of `value` that `known` does not know, at any depth, naming its full path
 * and the closest known key at its level. Values are checked by the resolvers, not here.
 *
 * @param path Where `value` sits (`''` for the module options, `clients.billing` for a client).
 */
export function assertKnownOptions(value: unknown, known: OptionSection, path = ''): void {
  if (!isObject(value)) throw new ConfigurationError(path || 'options', known.expected);
  for (const key of Object.keys(value)) {
    const option = join(path, key);
    const entry = Object.hasOwn(known.keys, key) ? known.keys[key] : undefined;
    if (entry === undefined) {
      if (known.passThrough?.includes(key)) continue;
      throw new ConfigurationError(option, unknownKeyProblem(known, path, key));
    }
    const child = (value as Record<string, unknown>)[key];
    if (entry === VALUE || child === undefined) continue;
    if ('eachOf' in entry) {
      if (!isObject(child)) throw new ConfigurationError(option, entry.expected);
      for (const [name, item] of Object.entries(child)) {
        assertKnownOptions(item, entry.eachOf, join(option, name));
      }
    } else if (!(entry.orBoolean === true && typeof child === 'boolean')) {
      assertKnownOptions(child, entry, option);
    }
  }
}

function unknownKeyProblem(known: OptionSection, path: string, key: string): string {
  const elsewhere = known.elsewhere?.(key);
  if (elsewhere !== undefined) return elsewhere;
  const names = Object.keys(known.keys);
  const closest = closestKey(key, names);
  const suggestion = closest === undefined ? '' : `did you mean "${join(path, closest)}"?`;
  if (known.takes === undefined && suggestion) return `unknown; ${suggestion}`;
  const takes = known.takes ?? (path ? `"${path}" takes` : 'the options are');
  return `unknown; ${takes} ${names.join(', ')}${suggestion && `; ${suggestion}`}`;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An option's path for messages; a key from the options is made printable and short. */
function join(path: string, key: string): string {
  const name = sanitizeForLog(key, 64) ?? '';
  return path ? `${path}.${name}` : name;
}

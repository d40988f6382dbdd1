import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  NamedClientOptions,
  OidcClientCredentialsModuleOptions,
} from './oidc-client-credentials-options.interface.js';
import { resolveResources } from './authorized-http-options.util.js';
import { TOKEN_PARAM_OPTION_KEYS } from './known-options.util.js';
import {
  nonNegative,
  oneOf,
  optionalBoolean,
  positive,
  positiveInteger,
  stringList,
} from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';

/** Parameters the library sets itself on every token request. */
const RESERVED_TOKEN_PARAMS = new Set([
  'grant_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
]);

/** Parameter sets of `getToken({ scope, resource, audience })` kept per client by default. */
export const DEFAULT_MAX_PARAMETER_SETS = 32;

/** How outbound tokens are requested, kept and renewed, shared by every client. */
export type OutboundPolicy = Pick<
  ResolvedOptions,
  'tokenRenewal' | 'retry' | 'circuitBreaker' | 'authorizedHttp'
>;

/** Checks the outbound policy options and applies their defaults. */
export function resolveOutboundPolicy(options: OidcClientCredentialsModuleOptions): OutboundPolicy {
  const r = options.tokenRenewal ?? {};
  const renewAfterFraction = r.renewAfterFraction ?? 0.8;
  if (
    typeof renewAfterFraction !== 'number' ||
    !(renewAfterFraction > 0 && renewAfterFraction <= 1)
  ) {
    throw new ConfigurationError('tokenRenewal.renewAfterFraction', 'expected a number in (0, 1]');
  }
  return {
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
      proactive: optionalBoolean('tokenRenewal.proactive', r.proactive, true),
      prefetch: optionalBoolean('tokenRenewal.prefetch', r.prefetch, false),
      maxParameterSets: positiveInteger(
        'tokenRenewal.maxParameterSets',
        r.maxParameterSets,
        DEFAULT_MAX_PARAMETER_SETS,
      ),
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
    authorizedHttp: {
      retryOnUnauthorized: oneOf(
        'authorizedHttp.retryOnUnauthorized',
        options.authorizedHttp?.retryOnUnauthorized,
        ['idempotent', 'all', 'never'],
      ),
      ...resourcesOption(options),
    },
  };
}

/**
 * The token request parameters (`scope`, `audience`, `resource`, `extraParams`) in a stable
 * order, each checked and named after `prefix` (`clients.<name>.` for a named client).
 */
export function tokenParams(options: NamedClientOptions, prefix = ''): [string, string][] {
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

/** A named client's token request parameters: each one it leaves out is the root's. */
export function inheritTokenParams(
  root: OidcClientCredentialsModuleOptions,
  entry: NamedClientOptions,
): NamedClientOptions {
  return Object.fromEntries(
    TOKEN_PARAM_OPTION_KEYS.map((key) => [key, entry[key] ?? root[key]]),
  ) as NamedClientOptions;
}

/** `authorizedHttp.resources`, when set. */
function resourcesOption(
  options: OidcClientCredentialsModuleOptions,
): Pick<ResolvedOptions['authorizedHttp'], 'resources'> {
  const resources = resolveResources(
    'authorizedHttp.resources',
    options.authorizedHttp?.resources,
    options.allowInsecureHttp === true,
  );
  return resources === undefined ? {} : { resources };
}

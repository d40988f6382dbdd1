import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  OidcClientCredentialsModuleOptions,
  TokenLocation,
  VerificationStrategyName,
} from './oidc-client-credentials-options.interface.js';
import { nonNegative, optionalBoolean, positive, stringList } from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';
import { resolveInboundIssuers } from './inbound-issuers-options.util.js';
import { resolveSenderConstraint } from './sender-constraint-options.util.js';

const TOKEN_LOCATIONS: readonly TokenLocation[] = ['header', 'query', 'body'];
/** The built-in strategies that check `verification.audience` (userinfo answers carry no `aud`). */
const AUDIENCE_CHECKING_STRATEGIES: readonly VerificationStrategyName[] = [
  'jwt',
  'introspection',
  'auto',
];

/** Checks the inbound verification options and applies their defaults. */
export function resolveVerification(
  options: OidcClientCredentialsModuleOptions,
): ResolvedOptions['verification'] {
  const v = options.verification ?? {};
  const verification: ResolvedOptions['verification'] = {
    strategy: v.strategy ?? 'auto',
    audience:
      v.audience === undefined ? undefined : stringList('verification.audience', v.audience),
    warnOnMissingAudience: optionalBoolean(
      'verification.warnOnMissingAudience',
      v.warnOnMissingAudience,
      true,
    ),
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
    ...resolveInboundIssuers(v, options.allowInsecureHttp === true),
    ...resolveSenderConstraint(options),
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
  return verification;
}

/**
 * The startup warning for a verification setup that accepts tokens issued for any API of the
 * issuer: no `verification.audience`, with a built-in strategy that would check it. Undefined when
 * an audience is set, the strategy cannot check one (userinfo, or the application's own), or
 * `verification.warnOnMissingAudience` is `false`. Log it once, where the inbound side is built.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068#section-4 (aud identifies the resource server)
 */
export function missingAudienceWarning(options: ResolvedOptions): string | undefined {
  const { audience, strategy, warnOnMissingAudience, issuers } = options.verification;
  if (issuers !== undefined && warnOnMissingAudience) return issuersWithoutAudience(options);
  if (audience !== undefined || !warnOnMissingAudience) return undefined;
  if (typeof strategy !== 'string' || !AUDIENCE_CHECKING_STRATEGIES.includes(strategy)) {
    return undefined;
  }
  return (
    'verification.audience is not set: tokens the issuer grants for any of its APIs are accepted here, ' +
    "not only those meant for this one. Set verification.audience to this API's identifier (the " +
    '"aud" its tokens carry), or set verification.warnOnMissingAudience: false if any audience is intended.'
  );
}

/** The warning for `verification.issuers` entries that check no audience (neither theirs nor the root's). */
function issuersWithoutAudience(options: ResolvedOptions): string | undefined {
  const { audience, strategy, issuers = [] } = options.verification;
  const fallback = typeof strategy === 'string' ? strategy : 'auto';
  const unchecked = issuers.filter(
    (entry) =>
      (entry.audience ?? audience) === undefined &&
      AUDIENCE_CHECKING_STRATEGIES.includes(entry.strategy ?? fallback),
  );
  if (unchecked.length === 0) return undefined;
  return (
    `No audience is checked for the tokens of ${unchecked.map((entry) => `"${entry.issuer}"`).join(', ')}: ` +
    'tokens those issuers grant for any of their APIs are accepted here. Set verification.audience, or ' +
    'the audience of those verification.issuers entries, or set verification.warnOnMissingAudience: false if any audience is intended.'
  );
}

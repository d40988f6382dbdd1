import type { SharedCache } from '../../cache/shared-cache.provider.js';
import { ConfigurationError } from '../../errors/configuration.error.js';
import { IssuerMetadataProvider } from '../../idp/issuer-metadata.provider.js';
import type { OidcClientCredentialsEvents } from '../../observability/oidc-client-credentials-events.provider.js';
import { hasClientCredentials } from '../../options/identity-options.util.js';
import type { ResolvedTrustedIssuer } from '../../options/inbound-issuers-options.util.js';
import type { VerificationStrategyName } from '../../options/oidc-client-credentials-options.interface.js';
import type { ResolvedOptions } from '../../options/resolved-options.js';
import { AutoVerificationStrategy } from '../auto.strategy.js';
import { IntrospectionVerificationStrategy } from '../introspection.strategy.js';
import { JwksProvider } from '../jwks.provider.js';
import { JwtVerificationStrategy } from '../jwt.strategy.js';
import type { TokenVerificationStrategy } from '../token-verification.strategy.js';
import { UserinfoVerificationStrategy } from '../userinfo.strategy.js';
import type { VerificationCache } from '../verification-cache.provider.js';

/** Everything that verifies the tokens of one trusted issuer, and nothing of any other. */
export interface IssuerVerifier {
  /** The issuer identifier, exactly as configured. */
  readonly issuer: string;
  readonly strategyName: VerificationStrategyName;
  /** The options it is verified with (see {@link issuerOptions}). */
  readonly options: ResolvedOptions;
  /** Its own discovery, endpoints and hardened fetch. */
  readonly metadata: IssuerMetadataProvider;
  /** Its own JWKS. */
  readonly jwks: JwksProvider;
  /** The built-in strategy of this issuer, on its own options (so its own cache namespace). */
  readonly strategy: TokenVerificationStrategy;
  /** Whether its strategy introspects a token that is not a JWT. */
  readonly introspectsOpaqueTokens: boolean;
}

/** What every issuer's verifier shares with the module. */
export interface IssuerVerifierContext {
  readonly cache: VerificationCache;
  readonly events?: OidcClientCredentialsEvents;
  readonly shared?: SharedCache;
}

/**
 * The options one issuer is verified with: the root's verification policy (algorithms, profile,
 * clock tolerance, caches, JWKS timing, HTTP limits) with this issuer's identifier, endpoints,
 * audience, strategy and introspection credentials. The root's credentials and endpoints go only
 * to an entry for the root issuer that sets none of its own.
 */
export function issuerOptions(
  root: ResolvedOptions,
  entry: ResolvedTrustedIssuer,
): ResolvedOptions {
  const isRoot = entry.issuer === root.issuer;
  const ownEndpoints = Object.keys(entry.endpoints).length > 0;
  const ownCredentials = entry.clientId !== undefined;
  const inherits = isRoot && !ownCredentials;
  const rootStrategy = root.verification.strategy;
  return {
    ...root,
    issuer: entry.issuer,
    endpoints: isRoot && !ownEndpoints ? root.endpoints : { ...entry.endpoints },
    clientId: inherits ? root.clientId : entry.clientId,
    clientSecret: inherits ? root.clientSecret : entry.clientSecret,
    clientAuthMethod: inherits ? root.clientAuthMethod : 'client_secret_basic',
    privateKey: inherits ? root.privateKey : undefined,
    clientAssertion: inherits ? root.clientAssertion : { audience: 'issuer', explicitType: false },
    // The root's client certificate is for the root's ID service only.
    mtls: inherits ? root.mtls : undefined,
    verification: {
      ...root.verification,
      strategy: entry.strategy ?? (typeof rootStrategy === 'string' ? rootStrategy : 'auto'),
      audience: entry.audience ?? root.verification.audience,
      issuers: undefined,
      issuerResolver: undefined,
    },
    clients: {},
  };
}

/**
 * Builds one issuer's verifier: its metadata provider, JWKS and strategy.
 *
 * @throws ConfigurationError when its strategy introspects and it has no credentials.
 */
export function createIssuerVerifier(
  options: ResolvedOptions,
  index: number,
  context: IssuerVerifierContext,
): IssuerVerifier {
  const name = options.verification.strategy as VerificationStrategyName;
  const credentials = hasClientCredentials(options);
  if (name === 'introspection' && !credentials) {
    throw new ConfigurationError(
      `verification.issuers[${index}].clientId`,
      "introspection needs this service's client id and secret at that issuer",
    );
  }
  const metadata = new IssuerMetadataProvider(options);
  const jwks = new JwksProvider(metadata, options, context.events, context.shared);
  const { cache } = context;
  const jwt = new JwtVerificationStrategy(options, jwks, cache);
  const introspection = new IntrospectionVerificationStrategy(options, metadata, cache, jwks);
  const strategies: Record<VerificationStrategyName, () => TokenVerificationStrategy> = {
    jwt: () => jwt,
    introspection: () => introspection,
    userinfo: () => new UserinfoVerificationStrategy(options, metadata, cache),
    auto: () => new AutoVerificationStrategy(options, metadata, jwt, introspection, cache),
  };
  return {
    issuer: options.issuer,
    strategyName: name,
    options,
    metadata,
    jwks,
    strategy: strategies[name](),
    introspectsOpaqueTokens: name === 'introspection' || (name === 'auto' && credentials),
  };
}

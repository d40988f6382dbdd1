import { ConfigurationError } from '../errors/configuration.error.js';
import { parseEndpointUrl } from './endpoint-url.util.js';
import { assertKnownOptions, TRUSTED_ISSUER } from './known-options.util.js';
import type {
  IssuerResolver,
  TrustedIssuerOptions,
  VerificationOptions,
  VerificationStrategyName,
} from './oidc-client-credentials-options.interface.js';
import { optionalBoolean, optionalString, stringList } from './option-values.util.js';

/** The `verification` keys resolved here. */
export type InboundIssuerOptionKey =
  'issuers' | 'issuerResolver' | 'resourceMetadata' | 'introspection';

/** The strategies an entry of `verification.issuers` may name. */
const ISSUER_STRATEGIES: readonly VerificationStrategyName[] = [
  'auto',
  'jwt',
  'introspection',
  'userinfo',
];

/** Where RFC 9728 puts the metadata of a protected resource (§3.1). */
export const RESOURCE_METADATA_WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** One trusted issuer, checked. Inheritance from the root happens where its verifier is built. */
export interface ResolvedTrustedIssuer {
  issuer: string;
  audience?: string[];
  endpoints: { jwks?: URL; introspection?: URL; userinfo?: URL };
  /** Absent: the root's `verification.strategy` when a built-in name, else `'auto'`. */
  strategy?: VerificationStrategyName;
  clientId?: string;
  clientSecret?: string;
}

/** `verification.resourceMetadata`, checked, with where the document is served. */
export interface ResolvedResourceMetadata {
  resource: string;
  /** The document's URL (`resource_metadata` of the challenges). */
  url: string;
  /** The document's path on this server. */
  path: string;
  scopesSupported?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
}

/** The resolved form of the keys of {@link InboundIssuerOptionKey}. */
export interface ResolvedInboundIssuerOptions {
  /** Absent: the root `issuer` alone. */
  issuers?: readonly ResolvedTrustedIssuer[];
  issuerResolver?: IssuerResolver;
  resourceMetadata?: ResolvedResourceMetadata;
  introspection: { signedResponse: boolean };
}

/**
 * Checks `verification.issuers`, `issuerResolver`, `resourceMetadata` and `introspection`.
 *
 * @throws ConfigurationError naming the option, at startup.
 */
export function resolveInboundIssuers(
  v: VerificationOptions,
  allowInsecureHttp: boolean,
): ResolvedInboundIssuerOptions {
  const resolved: ResolvedInboundIssuerOptions = {
    introspection: resolveIntrospection(v.introspection),
  };
  if (v.issuers !== undefined) {
    resolved.issuers = resolveIssuers(v.issuers, allowInsecureHttp);
    if (v.strategy !== undefined && typeof v.strategy !== 'string') {
      throw new ConfigurationError(
        'verification.issuers',
        'cannot be combined with a verification.strategy of your own: name a built-in strategy per issuer, or route issuers in your strategy',
      );
    }
  }
  if (v.issuerResolver !== undefined) {
    if (resolved.issuers === undefined) {
      throw new ConfigurationError('verification.issuerResolver', 'needs verification.issuers');
    }
    if (typeof v.issuerResolver !== 'function') {
      throw new ConfigurationError(
        'verification.issuerResolver',
        'expected a function (token) => issuer | undefined',
      );
    }
    resolved.issuerResolver = v.issuerResolver;
  }
  if (v.resourceMetadata !== undefined) {
    resolved.resourceMetadata = resolveResourceMetadata(v.resourceMetadata, allowInsecureHttp);
  }
  return resolved;
}

function resolveIntrospection(
  value: VerificationOptions['introspection'],
): ResolvedInboundIssuerOptions['introspection'] {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new ConfigurationError(
      'verification.introspection',
      'expected { signedResponse?: boolean }',
    );
  }
  return {
    signedResponse: optionalBoolean(
      'verification.introspection.signedResponse',
      value?.signedResponse,
      false,
    ),
  };
}

function resolveIssuers(value: unknown, allowInsecureHttp: boolean): ResolvedTrustedIssuer[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigurationError(
      'verification.issuers',
      'expected a non-empty list of { issuer, audience?, endpoints?, strategy?, clientId?, clientSecret? }',
    );
  }
  const seen = new Set<string>();
  return value.map((entry: unknown, index) => {
    const path = `verification.issuers[${index}]`;
    assertKnownOptions(entry, TRUSTED_ISSUER, path);
    const resolved = resolveIssuer(entry as TrustedIssuerOptions, path, allowInsecureHttp);
    if (seen.has(resolved.issuer)) {
      throw new ConfigurationError(`${path}.issuer`, 'is listed twice');
    }
    seen.add(resolved.issuer);
    return resolved;
  });
}

function resolveIssuer(
  entry: TrustedIssuerOptions,
  path: string,
  allowInsecureHttp: boolean,
): ResolvedTrustedIssuer {
  const issuer = validIssuerUrl(`${path}.issuer`, entry.issuer, allowInsecureHttp);
  optionalString(`${path}.clientId`, entry.clientId);
  optionalString(`${path}.clientSecret`, entry.clientSecret);
  if (entry.clientSecret !== undefined && entry.clientId === undefined) {
    throw new ConfigurationError(`${path}.clientId`, 'required with clientSecret');
  }
  if (entry.strategy !== undefined && !ISSUER_STRATEGIES.includes(entry.strategy)) {
    throw new ConfigurationError(
      `${path}.strategy`,
      `expected one of ${ISSUER_STRATEGIES.map((s) => `'${s}'`).join(', ')}`,
    );
  }
  const endpoints: ResolvedTrustedIssuer['endpoints'] = {};
  for (const name of ['jwks', 'introspection', 'userinfo'] as const) {
    const url = entry.endpoints?.[name];
    if (url !== undefined) {
      endpoints[name] = parseEndpointUrl(`${path}.endpoints.${name}`, url, allowInsecureHttp);
    }
  }
  return {
    issuer,
    audience:
      entry.audience === undefined ? undefined : stringList(`${path}.audience`, entry.audience),
    endpoints,
    strategy: entry.strategy,
    clientId: entry.clientId,
    clientSecret: entry.clientSecret,
  };
}

/** An issuer identifier: an https URL (http on loopback or with allowInsecureHttp), no query or fragment. */
function validIssuerUrl(option: string, value: unknown, allowInsecureHttp: boolean): string {
  const url = parseEndpointUrl(option, value, allowInsecureHttp);
  const text = value as string;
  if (url.search || text.includes('?'))
    throw new ConfigurationError(option, 'must not contain a query');
  if (text.includes('#')) throw new ConfigurationError(option, 'must not contain a fragment');
  return text;
}

function resolveResourceMetadata(
  value: NonNullable<VerificationOptions['resourceMetadata']>,
  allowInsecureHttp: boolean,
): ResolvedResourceMetadata {
  if (typeof value !== 'object' || value === null) {
    throw new ConfigurationError('verification.resourceMetadata', 'expected { resource, … }');
  }
  const option = 'verification.resourceMetadata';
  const resource = validIssuerUrl(`${option}.resource`, value.resource, allowInsecureHttp);
  const url = new URL(resource);
  // RFC 9728 §3.1: the well-known segment goes between the host and the resource's path.
  const path = `${RESOURCE_METADATA_WELL_KNOWN}${url.pathname === '/' ? '' : url.pathname}`;
  const scopes = value.scopesSupported;
  if (
    scopes !== undefined &&
    (!Array.isArray(scopes) ||
      scopes.some(
        (scope) => typeof scope !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope),
      ))
  ) {
    throw new ConfigurationError(
      `${option}.scopesSupported`,
      'expected a list of scope names (printable ASCII, no space, " or \\)',
    );
  }
  optionalString(`${option}.resourceName`, value.resourceName);
  if (value.resourceDocumentation !== undefined) {
    parseEndpointUrl(`${option}.resourceDocumentation`, value.resourceDocumentation, true);
  }
  return {
    resource,
    url: `${url.origin}${path}`,
    path,
    scopesSupported: scopes === undefined ? undefined : [...scopes],
    resourceName: value.resourceName,
    resourceDocumentation: value.resourceDocumentation,
  };
}

import type { ResolvedOptions } from '../../options/resolved-options.js';

/** The RFC 9728 protected resource metadata this module serves (§2). */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  dpop_signing_alg_values_supported?: string[];
  resource_name?: string;
  resource_documentation?: string;
}

/**
 * The metadata document of `verification.resourceMetadata`: `resource`; the trusted issuers
 * (`verification.issuers`, else the root `issuer`) as `authorization_servers`; `scopes_supported`
 * from the option, else `collectedScopes` (what `@RequireScopes()` names in the app), left out
 * when empty; `bearer_methods_supported` from `verification.tokenLocations`; the DPoP proof
 * algorithms when the guard takes DPoP proofs.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9728#section-2
 */
export function protectedResourceMetadata(
  options: ResolvedOptions,
  collectedScopes: readonly string[],
): ProtectedResourceMetadata | undefined {
  const v = options.verification;
  const configured = v.resourceMetadata;
  if (!configured) return undefined;
  const scopes = configured.scopesSupported ?? [...new Set(collectedScopes)].sort();
  const dpop = dpopAlgorithms(v);
  return {
    resource: configured.resource,
    authorization_servers: v.issuers?.map((entry) => entry.issuer) ?? [options.issuer],
    ...(scopes.length > 0 ? { scopes_supported: scopes } : {}),
    bearer_methods_supported: [...v.tokenLocations],
    ...(dpop ? { dpop_signing_alg_values_supported: dpop } : {}),
    ...(configured.resourceName === undefined ? {} : { resource_name: configured.resourceName }),
    ...(configured.resourceDocumentation === undefined
      ? {}
      : { resource_documentation: configured.resourceDocumentation }),
  };
}

/** The DPoP proof algorithms the guard accepts, when it takes DPoP proofs at all. */
function dpopAlgorithms(verification: object): string[] | undefined {
  const { dpop, dpopAlgorithms: algorithms } = verification as {
    dpop?: unknown;
    dpopAlgorithms?: unknown;
  };
  if (dpop === false || dpop === 'off' || !Array.isArray(algorithms)) return undefined;
  const names = algorithms.filter((alg): alg is string => typeof alg === 'string');
  return names.length > 0 ? names : undefined;
}

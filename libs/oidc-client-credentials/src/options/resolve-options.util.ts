import { resolveCache } from './cache-options.util.js';
import { assertDpopSharable, definedDpop, resolveDpop } from './dpop-options.util.js';
import { assertTlsClientAuthAlone, definedMtls, resolveMtls } from './http-options.util.js';
import { resolveIdServiceOptions } from './id-service-options.util.js';
import { resolveIdentity } from './identity-options.util.js';
import { assertKnownOptions, MODULE_OPTIONS } from './known-options.util.js';
import { resolveClients } from './named-client-options.util.js';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { resolveOutboundPolicy, tokenParams } from './outbound-options.util.js';
import type { ResolvedOptions } from './resolved-options.js';
import { resolveVerification } from './verification-options.util.js';

/**
 * Validates module options and applies defaults. Every problem is a `ConfigurationError`
 * naming the option, thrown at startup rather than on the first request; so is every key that is
 * not an option, at any depth (a misspelt `verification.audiences` would otherwise leave the
 * audience unchecked).
 */
export function resolveOptions(options: OidcClientCredentialsModuleOptions): ResolvedOptions {
  assertKnownOptions(options, MODULE_OPTIONS);
  const allowInsecureHttp = options.allowInsecureHttp === true;
  const root: ResolvedOptions = {
    ...resolveIdServiceOptions(options, allowInsecureHttp),
    ...resolveIdentity(options, ''),
    ...definedMtls(resolveMtls(options.mtls, '', options.http)),
    tokenParams: tokenParams(options),
    ...definedDpop(resolveDpop(options.dpop)),
    ...resolveOutboundPolicy(options),
    verification: resolveVerification(options),
    cache: resolveCache(options.cache),
    allowInsecureHttp,
    clients: {},
  };
  assertDpopSharable(root);
  assertTlsClientAuthAlone(root);
  return { ...root, clients: resolveClients(options, root) };
}

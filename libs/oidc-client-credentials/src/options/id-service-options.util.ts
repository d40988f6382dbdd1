import { ConfigurationError } from '../errors/configuration.error.js';
import { parseEndpointUrl } from './endpoint-url.util.js';
import { resolveHttp } from './http-options.util.js';
import type {
  OidcClientCredentialsModuleOptions,
  VerifyOnStartupOptions,
} from './oidc-client-credentials-options.interface.js';
import { optionalBoolean } from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';

/**
 * Where the ID service is and how it is called: `issuer`, `endpoints`, `http`, and whether it is
 * checked at startup (`verifyOnStartup`).
 */
export type IdServiceOptions = Pick<
  ResolvedOptions,
  'issuer' | 'endpoints' | 'http' | 'verifyOnStartup'
>;

/** Checks the options that locate the ID service and limit calls to it. */
export function resolveIdServiceOptions(
  options: OidcClientCredentialsModuleOptions,
  allowInsecureHttp: boolean,
): IdServiceOptions {
  return {
    issuer: validIssuer(options.issuer, allowInsecureHttp),
    endpoints: endpoints(options.endpoints, allowInsecureHttp),
    http: resolveHttp(options.http),
    verifyOnStartup: verifyOnStartup(options.verifyOnStartup),
  };
}

/** The sides checked at startup: `true` both, `false` (the default) neither, an object its own. */
function verifyOnStartup(value: unknown): ResolvedOptions['verifyOnStartup'] {
  if (value === undefined || typeof value === 'boolean') {
    return { outbound: value === true, inbound: value === true };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(
      'verifyOnStartup',
      'expected true, false or { outbound?: boolean, inbound?: boolean }',
    );
  }
  const sides = value as VerifyOnStartupOptions;
  return {
    outbound: optionalBoolean('verifyOnStartup.outbound', sides.outbound, false),
    inbound: optionalBoolean('verifyOnStartup.inbound', sides.inbound, false),
  };
}

/**
 * An issuer identifier as discovery takes it: an absolute https URL (http on loopback, or with
 * `allowInsecureHttp`), without query or fragment. `option` names it in the error.
 */
export function validIssuer(value: string, allowInsecureHttp: boolean, option = 'issuer'): string {
  const url = parseEndpointUrl(option, value, allowInsecureHttp);
  // An empty "?" or "#" leaves url.search and url.hash empty but still breaks the discovery URL.
  if (url.search || value.includes('?')) {
    throw new ConfigurationError(option, 'must not contain a query');
  }
  if (value.includes('#')) throw new ConfigurationError(option, 'must not contain a fragment');
  return value;
}

function endpoints(
  given: OidcClientCredentialsModuleOptions['endpoints'],
  allowInsecureHttp: boolean,
): ResolvedOptions['endpoints'] {
  const resolved: ResolvedOptions['endpoints'] = {};
  for (const name of ['token', 'introspection', 'userinfo', 'jwks'] as const) {
    const value = given?.[name];
    if (value !== undefined) {
      resolved[name] = parseEndpointUrl(`endpoints.${name}`, value, allowInsecureHttp);
    }
  }
  return resolved;
}

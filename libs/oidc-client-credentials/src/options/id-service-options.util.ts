import { ConfigurationError } from '../errors/configuration.error.js';
import { parseEndpointUrl } from './endpoint-url.util.js';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { positive } from './option-values.util.js';
import type { ResolvedOptions } from './resolved-options.js';

/** Where the ID service is and how it is called: `issuer`, `endpoints`, `http`. */
export type IdServiceOptions = Pick<ResolvedOptions, 'issuer' | 'endpoints' | 'http'>;

/** Checks the options that locate the ID service and limit calls to it. */
export function resolveIdServiceOptions(
  options: OidcClientCredentialsModuleOptions,
  allowInsecureHttp: boolean,
): IdServiceOptions {
  return {
    issuer: validIssuer(options.issuer, allowInsecureHttp),
    endpoints: endpoints(options.endpoints, allowInsecureHttp),
    http: {
      timeoutMs: positive('http.timeoutMs', options.http?.timeoutMs, 5000),
      maxResponseBytes: positive('http.maxResponseBytes', options.http?.maxResponseBytes, 65_536),
    },
  };
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

import type * as oauth from 'oauth4webapi';
import { EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { ConfigurationError } from '../errors/configuration.error.js';
import { DiscoveryError } from '../errors/discovery.error.js';
import { parseEndpointUrl } from '../options/endpoint-url.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { createKeepAliveAgent, createSafeFetch, type SafeFetch } from './safe-fetch.util.js';

/** Metadata fields of the endpoints this library calls. */
type CalledEndpoint =
  'token_endpoint' | 'introspection_endpoint' | 'userinfo_endpoint' | 'jwks_uri';

/** oauth4webapi's request options: the hardened fetch, and plain HTTP where the URL checks allowed it. */
export interface IdServiceRequestOptions {
  [oauth.customFetch]: SafeFetch;
  [oauth.allowInsecureRequests]: boolean;
}

/** What a token request needs of the ID service: the metadata, the transport, where to report. */
export interface IdServiceCalls {
  /** Authorization server metadata with at least `endpoint` present (mTLS aliases applied). */
  require(endpoint: CalledEndpoint): Promise<oauth.AuthorizationServer>;
  requestOptions(): IdServiceRequestOptions;
  /** An endpoint named by discovery looked gone: the next lookup discovers again. */
  reportEndpointFailure(endpoint: CalledEndpoint): void;
  /** Closes the connections of a transport the module made. */
  close?(): Promise<void>;
}

/** The hardened fetch of one transport, and how to close what the module made for it. */
export interface IdServiceTransport {
  readonly fetch: SafeFetch;
  close(): Promise<void>;
}

/** How many idle keep-alive connections to the ID service live, in milliseconds. */
const KEEP_ALIVE_MS = 10_000;

/**
 * The transport of calls to the ID service: the user's `http.fetch` or `http.dispatcher` as given
 * (the user owns them), else an undici dispatcher the module owns — an `EnvHttpProxyAgent` with
 * `http.proxy: 'env'`, a keep-alive `Agent` otherwise — that presents the `mtls` certificate and
 * trusts `mtls.ca` when they are set. The limits (`timeoutMs`, `maxResponseBytes`, no redirects)
 * apply to each.
 */
export function createIdServiceTransport(
  http: ResolvedOptions['http'],
  mtls?: ResolvedOptions['mtls'],
): IdServiceTransport {
  const limits = { timeoutMs: http.timeoutMs, maxResponseBytes: http.maxResponseBytes };
  if (http.fetch !== undefined) {
    return { fetch: createSafeFetch(limits, { fetch: http.fetch }), close: closeNothing };
  }
  if (http.dispatcher !== undefined) {
    return {
      fetch: createSafeFetch(limits, { dispatcher: http.dispatcher }),
      close: closeNothing,
    };
  }
  const tls = mtls && {
    cert: mtls.cert,
    key: mtls.key,
    ...(mtls.ca === undefined ? {} : { ca: mtls.ca }),
  };
  const dispatcher: Dispatcher =
    http.proxy === 'env'
      ? new EnvHttpProxyAgent({
          keepAliveTimeout: KEEP_ALIVE_MS,
          // `connect` for hosts reached directly (NO_PROXY), `requestTls` inside a proxy's tunnel.
          ...(tls && { connect: tls, requestTls: tls }),
        })
      : createKeepAliveAgent(tls);
  return {
    fetch: createSafeFetch(limits, { dispatcher }),
    close: () => dispatcher.close().catch(() => undefined),
  };
}

const closeNothing = () => Promise.resolve();

/** The endpoints that have an mTLS alias (RFC 8705 §5) where this library calls them. */
const ALIASED = [
  ['token_endpoint', 'token'],
  ['introspection_endpoint', 'introspection'],
  ['userinfo_endpoint', 'userinfo'],
] as const;

/** The metadata with its mTLS aliases in place, once per metadata object. */
const aliasedMetadata = new WeakMap<oauth.AuthorizationServer, oauth.AuthorizationServer>();

/**
 * The metadata a client with a certificate calls: each of the token, introspection and userinfo
 * endpoints replaced by its `mtls_endpoint_aliases` entry (RFC 8705 §5), unless the endpoint is
 * set explicitly in `endpoints`. An alias is checked like any discovered endpoint.
 *
 * @throws DiscoveryError when an alias is not an acceptable URL.
 */
export function withMtlsAliases(
  as: oauth.AuthorizationServer,
  options: Pick<ResolvedOptions, 'endpoints' | 'allowInsecureHttp'>,
): oauth.AuthorizationServer {
  const aliases = as.mtls_endpoint_aliases;
  if (aliases === undefined) return as;
  const known = aliasedMetadata.get(as);
  if (known !== undefined) return known;
  const aliased: {
    -readonly [K in keyof oauth.AuthorizationServer]: oauth.AuthorizationServer[K];
  } = { ...as };
  for (const [field, option] of ALIASED) {
    const alias = aliases[field];
    if (alias === undefined || options.endpoints[option] !== undefined) continue;
    try {
      aliased[field] = parseEndpointUrl(
        `mtls_endpoint_aliases.${field}`,
        alias,
        options.allowInsecureHttp,
      ).href;
    } catch (error) {
      const reason =
        error instanceof ConfigurationError
          ? error.message.replace(/^Invalid option "[^"]*": /, '')
          : 'not a URL';
      throw new DiscoveryError(
        `The ID service's mtls_endpoint_aliases.${field} is refused: ${reason}`,
      );
    }
  }
  aliasedMetadata.set(as, aliased);
  return aliased;
}

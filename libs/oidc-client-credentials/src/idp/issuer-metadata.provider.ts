import { Inject, Injectable } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from '../errors/configuration.error.js';
import { DiscoveryError } from '../errors/discovery.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { parseEndpointUrl } from '../options/endpoint-url.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { createSafeFetch, type SafeFetch } from './safe-fetch.util.js';

/** Metadata fields of the endpoints this library calls. */
export type EndpointName =
  'token_endpoint' | 'introspection_endpoint' | 'userinfo_endpoint' | 'jwks_uri';

const OPTION_OF: Record<EndpointName, keyof ResolvedOptions['endpoints']> = {
  token_endpoint: 'token',
  introspection_endpoint: 'introspection',
  userinfo_endpoint: 'userinfo',
  jwks_uri: 'jwks',
};

/**
 * The ID service's metadata: explicit endpoints win; anything else comes from discovery, fetched
 * once (concurrent callers share the fetch; a failure is not cached, so the next call retries).
 * Also owns the hardened `fetch` and oauth4webapi request options every ID-service call uses.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.3 (issuer must match exactly)
 */
@Injectable()
export class IssuerMetadataProvider {
  /** `fetch` with redirect refusal, timeout and body size cap. */
  readonly fetch: SafeFetch;
  private discovered?: Promise<oauth.AuthorizationServer>;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
  ) {
    this.fetch = createSafeFetch(options.http);
  }

  /** oauth4webapi request options: our fetch, and plain HTTP only where our URL checks allowed it. */
  requestOptions(): { [oauth.customFetch]: SafeFetch; [oauth.allowInsecureRequests]: boolean } {
    return { [oauth.customFetch]: this.fetch, [oauth.allowInsecureRequests]: true };
  }

  /**
   * Authorization server metadata with at least `endpoint` present.
   * @throws DiscoveryError when discovery fails or the endpoint is not published.
   */
  async require(endpoint: EndpointName): Promise<oauth.AuthorizationServer> {
    const explicit = this.explicitMetadata();
    if (explicit[endpoint]) return explicit;
    const discovered = await this.discover();
    if (!discovered[endpoint]) {
      throw new DiscoveryError(
        `The ID service publishes no ${endpoint}; set endpoints.${OPTION_OF[endpoint]}`,
      );
    }
    return discovered;
  }

  /**
   * {@link require} for verifying a token: the token cannot be checked now, which is not a reason
   * to refuse it.
   * @throws ValidatorUnavailableError (`OIDC_CC_DISCOVERY_FAILED`, answered 503) instead of
   *   `DiscoveryError`.
   */
  requireForVerification(endpoint: EndpointName): Promise<oauth.AuthorizationServer> {
    return this.require(endpoint).catch(throwUnavailableForVerification);
  }

  /**
   * {@link discover} for verifying a token.
   * @throws ValidatorUnavailableError (`OIDC_CC_DISCOVERY_FAILED`, answered 503) instead of
   *   `DiscoveryError`.
   */
  discoverForVerification(): Promise<oauth.AuthorizationServer> {
    return this.discover().catch(throwUnavailableForVerification);
  }

  /** Discovered metadata merged with explicit endpoints; fetched at most once successfully. */
  discover(): Promise<oauth.AuthorizationServer> {
    this.discovered ??= this.fetchMetadata().catch((error: unknown) => {
      this.discovered = undefined;
      throw error;
    });
    return this.discovered;
  }

  private explicitMetadata(): oauth.AuthorizationServer {
    const { endpoints, issuer } = this.options;
    return {
      issuer,
      token_endpoint: endpoints.token?.href,
      introspection_endpoint: endpoints.introspection?.href,
      userinfo_endpoint: endpoints.userinfo?.href,
      jwks_uri: endpoints.jwks?.href,
    };
  }

  private async fetchMetadata(): Promise<oauth.AuthorizationServer> {
    const issuer = new URL(this.options.issuer);
    let metadata: oauth.AuthorizationServer;
    try {
      const response = await oauth.discoveryRequest(issuer, this.requestOptions());
      metadata = await oauth.processDiscoveryResponse(issuer, response);
    } catch (error) {
      throw new DiscoveryError(`Discovery of ${issuer.origin} failed: ${describe(error)}`, {
        cause: error,
      });
    }
    // oauth4webapi compares normalised URLs; the issuer must be identical to the configured string.
    if (metadata.issuer !== this.options.issuer) {
      throw new DiscoveryError(
        `Discovered issuer does not match the configured issuer "${this.options.issuer}" exactly`,
      );
    }
    const merged: {
      -readonly [K in keyof oauth.AuthorizationServer]: oauth.AuthorizationServer[K];
    } = {
      ...metadata,
    };
    for (const [field, option] of Object.entries(OPTION_OF) as [
      EndpointName,
      keyof ResolvedOptions['endpoints'],
    ][]) {
      const explicit = this.options.endpoints[option];
      if (explicit) {
        merged[field] = explicit.href;
      } else if (metadata[field] !== undefined) {
        try {
          merged[field] = parseEndpointUrl(
            field,
            metadata[field],
            this.options.allowInsecureHttp,
          ).href;
        } catch (error) {
          const reason = error instanceof ConfigurationError ? error.message : 'invalid URL';
          throw new DiscoveryError(`Discovered ${reason}`);
        }
      }
    }
    return merged;
  }
}

/** A `DiscoveryError` as the verification's `ValidatorUnavailableError`; anything else as is. */
function throwUnavailableForVerification(error: unknown): never {
  if (error instanceof DiscoveryError) {
    throw ValidatorUnavailableError.of('OIDC_CC_DISCOVERY_FAILED', error.message, error);
  }
  throw error;
}

function describe(error: unknown): string {
  // Duck-typed: errors from fetch may come from another realm (e.g. a test VM) and fail instanceof.
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  if (typeof message !== 'string') return 'unknown error';
  return typeof name === 'string' && name !== 'Error' ? `${name}: ${message}` : message;
}

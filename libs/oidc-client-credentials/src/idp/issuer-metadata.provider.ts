import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import * as oauth from 'oauth4webapi';
import { ConfigurationError } from '../errors/configuration.error.js';
import { DiscoveryError } from '../errors/discovery.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { parseEndpointUrl } from '../options/endpoint-url.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { fullJitterDelayMs, parseRetryAfter, sleep } from './backoff.util.js';
import {
  answeredCall,
  isNetworkFailure,
  printableUrl,
  readOAuthError,
  unansweredCall,
} from './endpoint-failure.util.js';
import { mediaType } from './media-type.util.js';
import type { SafeFetch } from './safe-fetch.util.js';
import {
  createIdServiceTransport,
  withMtlsAliases,
  type IdServiceCalls,
  type IdServiceTransport,
} from './id-service-transport.util.js';

/** Metadata fields of the endpoints this library calls. */
export type EndpointName =
  'token_endpoint' | 'introspection_endpoint' | 'userinfo_endpoint' | 'jwks_uri';

/** Discovered metadata is fetched again after this long (the ID service may have moved an endpoint). */
export const DISCOVERY_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/**
 * Shortest time between two discovery fetches once metadata is known: a refresh after an endpoint
 * failed, or after a failed refresh.
 */
export const REDISCOVERY_COOLDOWN_MS = 30_000;

const OPTION_OF: Record<EndpointName, keyof ResolvedOptions['endpoints']> = {
  token_endpoint: 'token',
  introspection_endpoint: 'introspection',
  userinfo_endpoint: 'userinfo',
  jwks_uri: 'jwks',
};

/** What the ID service must answer at the discovery URL. */
const EXPECTED_METADATA = "expected 200 with the ID service's metadata";

/** One discovery attempt that failed, and whether another attempt may succeed. */
class FailedAttempt {
  constructor(
    readonly error: DiscoveryError,
    readonly transient: boolean,
    readonly retryAfterSeconds?: number,
    /** Nothing is published there (404, 410): the next well-known URL may have it. */
    readonly notFound?: { url: string; status: number },
  ) {}
}

/** Metadata in use and when it was fetched. */
interface KnownMetadata {
  metadata: oauth.AuthorizationServer;
  fetchedAt: number;
  /** The same metadata as a settled promise, so a lookup allocates nothing. */
  settled: Promise<oauth.AuthorizationServer>;
}

/**
 * The ID service's metadata: explicit endpoints win; anything else comes from discovery.
 *
 * - Concurrent callers share one discovery. The first one retries transient failures
 *   (unreachable, timeout, 5xx, 408, 429) with backoff within `retry.maxAttempts` and
 *   `retry.deadlineMs`, as token requests are; a failure is not kept, the next call discovers again.
 * - Discovered metadata is fetched again after {@link DISCOVERY_MAX_AGE_MS}, and after an endpoint
 *   it names looked gone ({@link reportEndpointFailure}), at most once per
 *   {@link REDISCOVERY_COOLDOWN_MS}, in one attempt: while a refresh fails, the metadata already
 *   known stays in use.
 * - Failures name the URL fetched (never its query), the system error code or HTTP status, and
 *   the ID service's `error` when it sent one.
 *
 * Also owns the hardened `fetch` and oauth4webapi request options every ID-service call uses.
 *
 * - Discovery asks OpenID Connect's well-known URL first and, only when nothing is there (404,
 *   410), RFC 8414's `oauth-authorization-server` one.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1 (where the metadata is)
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.3 (issuer must match exactly)
 */
@Injectable()
export class IssuerMetadataProvider implements IdServiceCalls, OnApplicationShutdown {
  /**
   * `fetch` with redirect refusal, timeout and body size cap, through the configured transport
   * (`http.dispatcher`, `http.fetch`, `http.proxy`, the root client's `mtls` certificate).
   */
  readonly fetch: SafeFetch;
  private readonly transport: IdServiceTransport;
  /** The calls of outbound clients with a certificate other than the root's, by client name. */
  private readonly clientCalls = new Map<string, IdServiceCalls>();
  private readonly logger = new Logger(IssuerMetadataProvider.name);
  private known?: KnownMetadata;
  private inflight?: Promise<oauth.AuthorizationServer>;
  private lastAttemptAt = -Infinity;
  private refreshWanted = false;
  private reportedRefreshFailure = false;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
  ) {
    this.transport = createIdServiceTransport(options.http, options.mtls);
    this.fetch = this.transport.fetch;
  }

  /** Closes the connections of the transports the module made (never a dispatcher of yours). */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([
      this.transport.close(),
      ...[...this.clientCalls.values()].map((calls) => calls.close?.()),
    ]);
  }

  /**
   * The token requests of one outbound client: this provider's, or — for a client whose `mtls`
   * certificate is not the root's — the same metadata with that client's certificate on the
   * wire and its `mtls_endpoint_aliases`.
   */
  forClient(client: ResolvedOptions): IdServiceCalls {
    if (client.mtls === this.options.mtls) return this;
    const name = client.clientName ?? '';
    let calls = this.clientCalls.get(name);
    if (calls === undefined) {
      const transport = createIdServiceTransport(this.options.http, client.mtls);
      const options = { [oauth.customFetch]: transport.fetch, [oauth.allowInsecureRequests]: true };
      const mtls = client.mtls !== undefined;
      calls = {
        require: (endpoint) =>
          this.requireMetadata(endpoint).then((as) =>
            mtls ? withMtlsAliases(as, this.options) : as,
          ),
        requestOptions: () => options,
        reportEndpointFailure: (endpoint) => this.reportEndpointFailure(endpoint),
        close: () => transport.close(),
      };
      this.clientCalls.set(name, calls);
    }
    return calls;
  }

  /** oauth4webapi request options: our fetch, and plain HTTP only where our URL checks allowed it. */
  requestOptions(): { [oauth.customFetch]: SafeFetch; [oauth.allowInsecureRequests]: boolean } {
    return { [oauth.customFetch]: this.fetch, [oauth.allowInsecureRequests]: true };
  }

  /**
   * Authorization server metadata with at least `endpoint` present.
   * @throws DiscoveryError when discovery fails or the endpoint is not published.
   */
  require(endpoint: EndpointName): Promise<oauth.AuthorizationServer> {
    // With a certificate, the token, introspection and userinfo endpoints' mTLS aliases (RFC 8705 §5).
    if (this.options.mtls === undefined) return this.requireMetadata(endpoint);
    return this.requireMetadata(endpoint).then((as) => withMtlsAliases(as, this.options));
  }

  private async requireMetadata(endpoint: EndpointName): Promise<oauth.AuthorizationServer> {
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

  /**
   * Discovered metadata merged with explicit endpoints: the known metadata while it is fresh,
   * else one discovery shared by every caller.
   */
  discover(): Promise<oauth.AuthorizationServer> {
    if (this.inflight) return this.inflight;
    const known = this.known;
    if (known && !this.refreshDue(known)) return known.settled;
    return this.startDiscovery(known);
  }

  /**
   * Says that a discovered endpoint failed as if it had moved (nothing listens there, unknown
   * host, 404): the next lookup discovers again, at most once per {@link REDISCOVERY_COOLDOWN_MS}.
   * Explicit endpoints are not affected.
   */
  reportEndpointFailure(endpoint: EndpointName): void {
    if (this.options.endpoints[OPTION_OF[endpoint]] !== undefined || !this.known) return;
    this.refreshWanted = true;
  }

  private refreshDue(known: KnownMetadata): boolean {
    const now = Date.now();
    const due = this.refreshWanted || now - known.fetchedAt >= DISCOVERY_MAX_AGE_MS;
    return due && now - this.lastAttemptAt >= REDISCOVERY_COOLDOWN_MS;
  }

  private startDiscovery(previous: KnownMetadata | undefined): Promise<oauth.AuthorizationServer> {
    this.lastAttemptAt = Date.now();
    // A refresh is one attempt: its callers wait for it, and the known metadata is its fallback.
    const maxAttempts = previous ? 1 : this.options.retry.maxAttempts;
    const request = this.discoverWithRetries(maxAttempts).then(
      (metadata) => {
        this.known = { metadata, fetchedAt: Date.now(), settled: Promise.resolve(metadata) };
        this.refreshWanted = false;
        if (this.reportedRefreshFailure) {
          this.reportedRefreshFailure = false;
          this.logger.log("The ID service's metadata could be fetched again");
        }
        return metadata;
      },
      (error: unknown) => {
        if (!previous || !(error instanceof DiscoveryError)) throw error;
        if (!this.reportedRefreshFailure) {
          this.reportedRefreshFailure = true;
          this.logger.warn(
            `${error.message}; the metadata fetched before stays in use, next attempt in ${REDISCOVERY_COOLDOWN_MS / 1000} s at the earliest`,
          );
        }
        return previous.metadata;
      },
    );
    this.inflight = request;
    const settled = () => {
      if (this.inflight === request) this.inflight = undefined;
    };
    request.then(settled, settled);
    return request;
  }

  /** Attempts until success, a final failure, `maxAttempts` or `retry.deadlineMs`. */
  private async discoverWithRetries(maxAttempts: number): Promise<oauth.AuthorizationServer> {
    const { retry } = this.options;
    const deadline = Date.now() + retry.deadlineMs;
    for (let attempt = 1; ; attempt += 1) {
      const outcome = await this.discoverOnce();
      if (!(outcome instanceof FailedAttempt)) return outcome;
      const retryAfterMs = (outcome.retryAfterSeconds ?? 0) * 1000;
      const delay = Math.max(fullJitterDelayMs(attempt, retry), retryAfterMs);
      if (!outcome.transient || attempt >= maxAttempts || Date.now() + delay >= deadline) {
        throw outcome.error;
      }
      this.logger.debug(`${outcome.error.message}; attempt ${attempt}, retrying in ${delay} ms`);
      await sleep(delay);
    }
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

  /**
   * One discovery: OpenID Connect's `/.well-known/openid-configuration` (appended to the issuer's
   * path), and only when that is not there (404, 410) RFC 8414's
   * `/.well-known/oauth-authorization-server` (inserted before the issuer's path, §3.1). Any
   * other failure of the first (5xx, timeout, invalid metadata) is the answer: the issuer does
   * publish there.
   */
  private async discoverOnce(): Promise<oauth.AuthorizationServer | FailedAttempt> {
    const issuer = new URL(this.options.issuer);
    const openid = await this.discoverAt(issuer, 'oidc');
    if (!(openid instanceof FailedAttempt) || !openid.notFound) return openid;
    const oauth2 = await this.discoverAt(issuer, 'oauth2');
    if (!(oauth2 instanceof FailedAttempt) || !oauth2.notFound) return oauth2;
    const { url, status } = oauth2.notFound;
    return new FailedAttempt(
      new DiscoveryError(
        `${openid.error.message}; GET ${printableUrl(url)} (RFC 8414) answered HTTP ${status} too`,
      ),
      false,
      undefined,
      oauth2.notFound,
    );
  }

  /** One discovery request at the well-known URL of `algorithm`: the merged metadata, or why not. */
  private async discoverAt(
    issuer: URL,
    algorithm: 'oidc' | 'oauth2',
  ): Promise<oauth.AuthorizationServer | FailedAttempt> {
    let fetched = wellKnownUrl(issuer, algorithm);
    const recordingFetch = ((url, init) => {
      fetched = String(url);
      return this.fetch(url, init);
    }) as SafeFetch;
    let response: Response;
    try {
      response = await oauth.discoveryRequest(issuer, {
        ...this.requestOptions(),
        [oauth.customFetch]: recordingFetch,
        algorithm,
      });
    } catch (error) {
      const reason = unansweredCall('GET', fetched, error, this.options.http.timeoutMs);
      return failed(reason, isNetworkFailure(error), error);
    }
    if (response.status !== 200) return this.statusFailure(fetched, response);
    let metadata: oauth.AuthorizationServer;
    try {
      metadata = await oauth.processDiscoveryResponse(issuer, response);
    } catch (error) {
      return failed(this.invalidMetadataReason(fetched, response, error), false, error);
    }
    if (metadata.issuer !== this.options.issuer) {
      return failed(this.issuerMismatch(fetched, metadata.issuer), false);
    }
    return this.merged(fetched, metadata);
  }

  private async statusFailure(fetched: string, response: Response): Promise<FailedAttempt> {
    const { status } = response;
    const oauthError = await readOAuthError(response);
    const note =
      status >= 300 && status < 400
        ? 'a redirect, which is not followed'
        : status === 404 || status === 410
          ? `${EXPECTED_METADATA}; is "issuer" right?`
          : EXPECTED_METADATA;
    const transient = status >= 500 || status === 408 || status === 429;
    return new FailedAttempt(
      new DiscoveryError(
        `Discovery failed: ${answeredCall('GET', fetched, status, oauthError, note)}`,
      ),
      transient,
      parseRetryAfter(response.headers.get('retry-after')),
      status === 404 || status === 410 ? { url: fetched, status } : undefined,
    );
  }

  private invalidMetadataReason(fetched: string, response: Response, error: unknown): string {
    if (error instanceof oauth.OperationProcessingError) {
      if (error.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
        const body = (error.cause as { body?: { issuer?: unknown } } | undefined)?.body;
        return this.issuerMismatch(fetched, body?.issuer);
      }
      if (error.code === oauth.RESPONSE_IS_NOT_JSON || error.code === oauth.PARSE_ERROR) {
        const type = sanitizeForLog(mediaType(response), 60) ?? 'no content-type';
        return `GET ${printableUrl(fetched)} answered HTTP 200 with ${type}, not JSON metadata`;
      }
    }
    // oauth4webapi's messages are fixed texts naming a member, never its value.
    const message = error instanceof Error ? error.message.replace(/"/g, '') : 'unreadable';
    return `GET ${printableUrl(fetched)} answered invalid metadata: ${sanitizeForLog(message)}`;
  }

  private issuerMismatch(fetched: string, discovered: unknown): string {
    const named =
      typeof discovered === 'string' ? `"${sanitizeForLog(discovered, 200)}"` : 'no string';
    return `GET ${printableUrl(fetched)} names the issuer ${named}, but the configured issuer is "${sanitizeForLog(this.options.issuer, 200)}"; they must be identical`;
  }

  /** Discovered metadata with the explicit endpoints over it, each discovered one checked. */
  private merged(
    fetched: string,
    metadata: oauth.AuthorizationServer,
  ): oauth.AuthorizationServer | FailedAttempt {
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
          const reason =
            error instanceof ConfigurationError
              ? error.message.replace(/^Invalid option "[^"]*": /, '')
              : 'not a URL';
          return failed(`GET ${printableUrl(fetched)} names a ${field} that is refused: ${reason}`);
        }
      }
    }
    return merged;
  }
}

function failed(reason: string, transient = false, cause?: unknown): FailedAttempt {
  const options = cause === undefined ? undefined : { cause };
  return new FailedAttempt(new DiscoveryError(`Discovery failed: ${reason}`, options), transient);
}

/**
 * Where oauth4webapi looks for the metadata: OpenID Connect's well-known path after the issuer's
 * path; RFC 8414's before it (§3.1: `https://h/tenant` → `https://h/.well-known/oauth-authorization-server/tenant`).
 */
function wellKnownUrl(issuer: URL, algorithm: 'oidc' | 'oauth2'): string {
  const url = new URL(issuer.href);
  url.pathname =
    algorithm === 'oidc'
      ? `${url.pathname}/.well-known/openid-configuration`.replace('//', '/')
      : `/.well-known/oauth-authorization-server${url.pathname.replace(/\/$/, '')}`;
  return url.href;
}

/** A `DiscoveryError` as the verification's `ValidatorUnavailableError`; anything else as is. */
function throwUnavailableForVerification(error: unknown): never {
  if (error instanceof DiscoveryError) {
    throw ValidatorUnavailableError.of('OIDC_CC_DISCOVERY_FAILED', error.message, error);
  }
  throw error;
}

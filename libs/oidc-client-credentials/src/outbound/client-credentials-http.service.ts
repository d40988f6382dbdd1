import { HttpService } from '@nestjs/axios';
import axios, {
  AxiosHeaders,
  isAxiosError,
  type AxiosInstance,
  type AxiosResponse,
  type InternalAxiosRequestConfig,
} from 'axios';
import { ConfigurationError } from '../errors/configuration.error.js';
import { OidcClientCredentialsError } from '../errors/oidc-client-credentials.error.js';
import type { AuthorizedHttpOptions } from '../options/oidc-client-credentials-options.interface.js';
import { resolveResources } from '../options/authorized-http-options.util.js';
import type { GetTokenOptions } from './client-credentials-token.interface.js';
import type { TokenProvider } from './token.provider.js';
import { isLoopbackHost } from '../options/endpoint-url.util.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';

/** Methods that may be repeated safely, so a refused call is retried with a new token. */
const IDEMPOTENT_METHODS = new Set(['get', 'head', 'options', 'put', 'delete']);

/** Per-request state, under a namespaced config key so it survives axios' config merging. */
const STATE = 'oidcClientCredentials';
interface RequestState {
  /** The Authorization header was set here (a caller's own header is never touched). */
  attached: boolean;
  /** This request is already the one retry after a 401. */
  retried: boolean;
  /** This request already answered the API's `use_dpop_nonce` challenge (RFC 9449 §9) once. */
  nonceRetried?: boolean;
}
/** The resource indicators of a request's origin (`resources` option), under a key of its own. */
const RESOURCE = 'oidcClientCredentialsResource';
type StatefulConfig = InternalAxiosRequestConfig & {
  [STATE]?: RequestState;
  [RESOURCE]?: string[];
};

const installed = new WeakSet<AxiosInstance>();

/**
 * Installs the client credentials interceptors on a user's own `HttpService` (from
 * `HttpModule.register(...)`, which has its own axios instance): every request gets
 * `Authorization: Bearer <token>` unless it already carries an Authorization header; a 401 from
 * the called API drops that token, obtains a new one and repeats the call once — for idempotent
 * methods (GET, HEAD, OPTIONS, PUT, DELETE) unless `retryOnUnauthorized` is `'all'` or `'never'`.
 * A second 401 is returned as it is. With `resources` (an allowlist from each API's origin to its
 * RFC 8707 resource indicators) each request carries the token of its origin's resource, and a
 * request to an origin not listed is refused before it is sent (`OIDC_CC_DESTINATION_NOT_ALLOWED`).
 *
 * @throws ConfigurationError for the process-wide default axios instance (plain `HttpModule`):
 *   tokens would then go with every axios call of the process.
 * @example
 * constructor(http: HttpService, tokens: TokenProvider) { withClientCredentials(http, tokens); }
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export function withClientCredentials<T extends HttpService>(
  httpService: T,
  tokenProvider: TokenProvider,
  options: AuthorizedHttpOptions = {},
): T {
  const instance = httpService.axiosRef;
  if (instance === axios) {
    throw new ConfigurationError(
      'httpService',
      'uses the global axios instance; register it with HttpModule.register({}) so tokens go only with its own requests',
    );
  }
  if (installed.has(instance)) return httpService;
  installed.add(instance);
  const mode = options.retryOnUnauthorized ?? 'idempotent';
  const resources = resolveResources(
    'authorizedHttp.resources',
    options.resources,
    options.allowInsecureHttp === true,
  );

  /** Sets the Authorization header (and with DPoP a fresh proof for this request) on `config`. */
  const authorize = async (config: StatefulConfig): Promise<string> => {
    const url = instance.getUri(config);
    const headers = await tokenProvider.getAuthorizationHeaders(
      { method: config.method ?? 'get', url },
      getTokenOptions(config),
    );
    config.headers.set('Authorization', headers.authorization);
    if (headers.dpop !== undefined) config.headers.set('DPoP', headers.dpop);
    return headers.authorization;
  };

  instance.interceptors.request.use(async (config: StatefulConfig) => {
    config.headers = AxiosHeaders.from(config.headers);
    if (config.headers.has('authorization')) return config;
    if (!options.allowInsecureHttp) assertTransportSecurity(instance.getUri(config));
    if (resources !== undefined) config[RESOURCE] = resourceOf(resources, instance.getUri(config));
    await authorize(config);
    config[STATE] = {
      attached: true,
      retried: config[STATE]?.retried ?? false,
      nonceRetried: config[STATE]?.nonceRetried ?? false,
    };
    return config;
  });

  /**
   * With DPoP, the one retry after an API's 401 `use_dpop_nonce` challenge with its `DPoP-Nonce`
   * (kept for the origin): same token, a new proof with the nonce. The API refused before
   * handling the request, so any method is sent again.
   */
  const retryWithNonce = (
    config: StatefulConfig | undefined,
    status: number,
    headers: unknown,
  ): Promise<AxiosResponse> | null => {
    const state = config?.[STATE];
    if (!config || !state?.attached || state.nonceRetried || !tokenProvider.dpopEnabled) {
      return null;
    }
    const url = instance.getUri(config);
    const answer = { status, headers: headers as Record<string, unknown> | undefined };
    if (!tokenProvider.handleDpopNonce(url, answer)) return null;
    return authorize(config).then(() => {
      config[STATE] = { ...state, attached: true, nonceRetried: true };
      return instance.request(config);
    });
  };

  /**
   * The one retry after a 401, with a new token; `refused()` (the 401 as the caller gets it) when
   * there is no new token to try (the token provider renews at most once per 30 s).
   */
  const retryIfRefused = (
    config: StatefulConfig | undefined,
    refused: () => Promise<AxiosResponse>,
  ): Promise<AxiosResponse> | null => {
    const state = config?.[STATE];
    if (!config || !state?.attached || state.retried) return null;
    if (mode === 'never') return null;
    if (mode === 'idempotent' && !IDEMPOTENT_METHODS.has((config.method ?? 'get').toLowerCase())) {
      return null;
    }
    const sent = /^(?:Bearer|DPoP) (.+)$/.exec(
      String(config.headers.get('authorization') ?? ''),
    )?.[1];
    if (sent) tokenProvider.invalidate(sent);
    return tokenProvider.getToken(getTokenOptions(config)).then(async (next) => {
      if (next === sent) return refused();
      // Sent with the token in hand: the request interceptor leaves a set header alone.
      await authorize(config);
      config[STATE] = { ...state, attached: true, retried: true };
      return instance.request(config);
    });
  };

  /** With DPoP, the nonce an API hands out with any answer (RFC 9449 §9) is kept for its origin. */
  const keepNonce = (
    config: StatefulConfig | undefined,
    response: { status: number; headers?: unknown },
  ): void => {
    if (!config?.[STATE]?.attached || !tokenProvider.dpopEnabled) return;
    const headers = response.headers as Record<string, unknown> | undefined;
    tokenProvider.handleDpopNonce(instance.getUri(config), { status: response.status, headers });
  };

  instance.interceptors.response.use(
    // A caller whose validateStatus accepts 401 gets the same single retry.
    (response) => {
      const config = response.config as StatefulConfig;
      if (response.status !== 401) keepNonce(config, response);
      const retry =
        response.status === 401 &&
        (retryWithNonce(config, response.status, response.headers) ??
          retryIfRefused(config, () => Promise.resolve(withoutToken(response))));
      return retry || withoutToken(response);
    },
    (error: unknown) => {
      if (!isAxiosError(error)) return Promise.reject(error);
      if (error.response && error.response.status !== 401) {
        keepNonce(error.config as StatefulConfig | undefined, error.response);
      }
      if (error.response?.status === 401) {
        const config = error.config as StatefulConfig | undefined;
        const retry =
          retryWithNonce(config, 401, error.response.headers) ??
          retryIfRefused(config, () => Promise.reject(withoutToken(error)));
        if (retry) return retry;
      }
      return Promise.reject(withoutToken(error));
    },
  );
  return httpService;
}

/**
 * `getToken()` options of a request: its abort signal, so a cancelled call stops waiting, and the
 * resource indicators of its origin with `resources`.
 */
function getTokenOptions(config: StatefulConfig): GetTokenOptions | undefined {
  const signal = config.signal instanceof AbortSignal ? config.signal : undefined;
  const resource = config[RESOURCE];
  if (signal === undefined && resource === undefined) return undefined;
  return { ...(signal && { signal }), ...(resource && { resource }) };
}

/**
 * The resource indicators listed for the origin a request goes to; a request to an origin not
 * listed is refused here, before it is sent, so no token of this client ever reaches it.
 */
function resourceOf(resources: Readonly<Record<string, string[]>>, uri: string): string[] {
  let origin: string | undefined;
  try {
    origin = new URL(uri).origin;
  } catch {
    origin = undefined;
  }
  const listed = origin !== undefined && Object.hasOwn(resources, origin);
  if (!listed) {
    throw new OidcClientCredentialsError(
      'OIDC_CC_DESTINATION_NOT_ALLOWED',
      `No token is sent to ${origin === undefined ? 'a request without an absolute URL' : sanitizeForLog(origin, 200)}: authorizedHttp.resources does not list this origin; the request was not sent`,
    );
  }
  return resources[origin!]!;
}

/**
 * Refuses to attach a bearer token to a request that would carry it in clear text: only `https:`
 * URLs, and `http:` to a loopback host (RFC 6750 §5.3). A URL that is not absolute (no `baseURL`
 * for a relative one) is refused too: where it would go cannot be told.
 */
function assertTransportSecurity(uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new OidcClientCredentialsError(
      'OIDC_CC_INSECURE_REQUEST',
      'A bearer token is sent to absolute https URLs only; this request has no absolute URL (set baseURL or an absolute url)',
    );
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  throw new OidcClientCredentialsError(
    'OIDC_CC_INSECURE_REQUEST',
    `A bearer token is sent over https only (or http to a loopback host); not to ${url.protocol}//${sanitizeForLog(url.host, 100)} (allowInsecureHttp is for development)`,
  );
}

/**
 * Takes the token this module attached out of what reaches the caller (a response, or an
 * AxiosError), so that logging it — `console.log(error)`, `JSON.stringify(error)`, an error
 * reporter — never shows the token: the Authorization header leaves the config (sending that
 * config again attaches the current token afresh), and the Node request, whose raw header text
 * still holds it, is kept but no longer enumerable. A caller's own Authorization header is theirs.
 */
function withoutToken<T extends { config?: StatefulConfig; request?: unknown; response?: object }>(
  holder: T,
): T {
  const response = holder.response as { config?: StatefulConfig } | undefined;
  let attached = false;
  for (const config of new Set([holder.config, response?.config])) {
    const state = config?.[STATE];
    if (!config || !state?.attached) continue;
    attached = true;
    config.headers.delete('authorization');
    config.headers.delete('dpop');
    config[STATE] = { ...state, attached: false };
  }
  if (!attached) return holder;
  for (const target of [holder, holder.response]) {
    if (target && 'request' in target) {
      try {
        Object.defineProperty(target, 'request', { enumerable: false });
      } catch {
        // A non-configurable property stays as it is; the header is gone from the config anyway.
      }
    }
  }
  return holder;
}

/**
 * An `HttpService` (from @nestjs/axios) with its own axios instance that sends the client
 * credentials token with every request; see {@link withClientCredentials}. Registered and
 * exported by `OidcClientCredentialsModule`.
 *
 * @example
 * constructor(private readonly http: ClientCredentialsHttpService) {}
 * const { data } = await firstValueFrom(this.http.get('https://orders.example.com/orders'));
 */
export class ClientCredentialsHttpService extends HttpService {
  constructor(
    tokenProvider: TokenProvider,
    options: AuthorizedHttpOptions = {},
    instance: AxiosInstance = axios.create(),
  ) {
    super(instance);
    withClientCredentials(this, tokenProvider, options);
  }
}

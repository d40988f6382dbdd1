import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { errorCode } from '../errors/error-code.util.js';
import { TokenRequestError } from '../errors/token-request.error.js';
import type {
  AuthorizationHeaders,
  ClientCredentialsToken,
  GetTokenOptions,
  TokenProviderStatus,
} from './client-credentials-token.interface.js';
import type {
  TokenClientEvent,
  TokenCredentialEvent,
} from '../observability/oidc-client-credentials-events.interface.js';
import type { CredentialStatus } from '../idp/credential-source.util.js';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { TokenAcquireSpan, traceTokenCacheHit } from '../observability/tracing.util.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { SharedCache } from '../cache/shared-cache.provider.js';
import {
  createClientAuthentication,
  type ClientAuthentication,
} from '../idp/client-authentication.util.js';
import { SharedTokenStore } from './shared-token.store.js';
import { createDpopKey, type DpopKey } from './dpop-key.util.js';
import {
  DpopProofs,
  isDpopNonceChallenge,
  type DpopProofRequest,
  type ResponseHeaders,
} from './dpop-proof.util.js';
import { SharedDpopKeyStore } from './shared-dpop-key.store.js';
import { TokenAcquisition } from './token-acquisition.util.js';
import { TokenRenewal } from './token-renewal.util.js';
import { ParameterSets, RecentlyUsed } from './token-parameters.util.js';
import {
  MemoryTokenCache,
  tokenCacheKey,
  type TokenCache,
  type TokenCacheEntry,
} from './token-cache.store.js';
import {
  assertOutboundCredentials,
  hasAnyClientCredential,
} from '../options/identity-options.util.js';
import { DEFAULT_CLIENT_NAME, type ResolvedOptions } from '../options/resolved-options.js';

export { REFUSAL_COOLDOWN_MS } from './token-acquisition.util.js';
export { RENEWAL_RETRY_BASE_MS, RENEWAL_RETRY_MAX_MS } from './token-renewal.util.js';
/** DI token of {@link TokenProvider}'s parent, which only a parameter set has (never provided). */
const PARAMETER_SET_OF = Symbol('TokenProvider parameter set of');
/** Shortest time between two tokens dropped by {@link TokenProvider.invalidate} (a 401 from an API). */
export const INVALIDATE_INTERVAL_MS = 30_000;

/**
 * Obtains access tokens with the OAuth 2.0 client credentials grant and keeps them: a cached
 * `getToken()` is a clock check and an already settled promise. Concurrent callers share one
 * request; inside the renewal window callers get the current token while one background renewal
 * runs; transient failures are retried with backoff within a deadline; refusals are not.
 *
 * With `cache.stores`, instances share the token: an in-process miss reads the shared store, and
 * one instance (holding a Redis lease) fetches while the others wait for its result. A cached
 * `getToken()` still never touches the network.
 *
 * Named clients (`clients` option, `forFeature`) are further instances, each with its own cache
 * entry, single flight and circuit; inject them with `@InjectTokenProvider(name)`.
 *
 * @example
 * constructor(private readonly tokens: TokenProvider) {}
 * const token = await this.tokens.getToken();
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.4
 */
@Injectable()
export class TokenProvider
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown
{
  /** `'default'` for the root client, else the name of this named client. */
  readonly clientName: string;
  private readonly logger: Logger;
  private readonly events: OidcClientCredentialsEvents;
  /** The payload of this client's cache events, built once: a cache hit allocates nothing. */
  private readonly clientEvent: TokenClientEvent;
  private lastAcquisition?: TokenProviderStatus['lastAcquisition'];
  private readonly cache: TokenCache = new MemoryTokenCache();
  private readonly cacheKey: string;
  private readonly sharedTokens?: SharedTokenStore;
  /** The last token the called API refused; a shared copy of it is not taken back. */
  private refusedToken?: string;
  /** When {@link invalidate} last dropped a token. */
  private invalidatedAt = -Infinity;
  private authentication?: Promise<ClientAuthentication>;
  /** {@link authentication} once made. */
  private authenticationNow?: ClientAuthentication;
  /** With `dpop`: the proofs of this client's key, made (or shared by the fleet) once. */
  private dpop?: Promise<DpopProofs>;
  /** {@link dpop} once made. */
  private dpopNow?: DpopProofs;
  private readonly sharedDpopKey?: SharedDpopKeyStore;
  /** The key each DPoP-bound token was issued for (the current key may have moved on since). */
  private readonly boundKeys = new WeakMap<ClientCredentialsToken, DpopKey>();
  private inflight?: Promise<TokenCacheEntry>;
  private readonly acquisition: TokenAcquisition;
  private readonly renewal: TokenRenewal;
  /** What each call's parameters name, remembered for the next call passing the same. */
  private parameterSetKeys?: ParameterSets;

  /** The tokens of `getToken({ scope, resource, audience })`, one client per parameter set. */
  private parameterSets?: RecentlyUsed<TokenProvider>;

  constructor(
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) private readonly options: ResolvedOptions,
    private readonly metadata: IssuerMetadataProvider,
    @Optional() private readonly sharedCache?: SharedCache,
    @Optional() events?: OidcClientCredentialsEvents,
    /**
     * For the client of one parameter set: the client it belongs to, whose credentials, DPoP key
     * and circuit it shares. Never provided by Nest.
     */
    @Optional() @Inject(PARAMETER_SET_OF) private readonly parent?: TokenProvider,
  ) {
    this.clientName = options.clientName ?? DEFAULT_CLIENT_NAME;
    this.logger = new Logger(
      options.clientName === undefined ? TokenProvider.name : `TokenProvider:${options.clientName}`,
    );
    this.events = events ?? new OidcClientCredentialsEvents();
    this.clientEvent = Object.freeze({ client: this.clientName });
    this.cacheKey = tokenCacheKey(options);
    this.acquisition = new TokenAcquisition(
      options,
      metadata,
      this.logger,
      this.events,
      this.clientEvent,
      parent?.acquisition.circuit,
    );
    this.renewal = new TokenRenewal(
      {
        current: () => this.cache.get(this.cacheKey),
        inflight: () => this.inflight !== undefined,
        renew: () => this.sharedRequest(true),
      },
      this.acquisition,
      this.logger,
      options.tokenRenewal.proactive,
    );
    if (sharedCache?.enabled) {
      this.sharedTokens = new SharedTokenStore(sharedCache, this.cacheKey, options, undefined, () =>
        this.boundThumbprint(),
      );
      if (options.dpop !== undefined && options.dpop.privateKey === undefined && !parent) {
        this.sharedDpopKey = new SharedDpopKeyStore(sharedCache, this.cacheKey, options);
      }
    }
  }

  /**
   * A service that sets a client credential (`clientSecret` or `privateKey`) requests tokens, so
   * the rest of its credentials are checked at startup and the error names the missing option
   * before the first call. A service without one (inbound only, with at most a `clientId`) boots,
   * and `getToken()` rejects with the same error.
   */
  async onModuleInit(): Promise<void> {
    if (!hasAnyClientCredential(this.options)) return;
    await this.clientAuthentication();
    await this.dpopProofs();
  }

  /**
   * With `tokenRenewal.prefetch`, fetches the token while the application bootstraps. A failure
   * is logged, not thrown (`verifyOnStartup` is what stops a start): the first caller tries again.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.options.tokenRenewal.prefetch || !hasAnyClientCredential(this.options)) return;
    try {
      await this.getToken();
    } catch (error) {
      this.logger.warn(
        `Token prefetch failed (${errorCode(error) ?? 'unexpected error'}); the first caller requests the token`,
      );
    }
  }

  /** Stops the renewal timer: nothing of this client keeps the process alive or runs after it. */
  onModuleDestroy(): void {
    this.renewal.stop();
    for (const set of this.parameterSets?.values() ?? []) set.renewal.stop();
  }

  /** See {@link onModuleDestroy}; also called when only shutdown hooks run. */
  onApplicationShutdown(): void {
    this.onModuleDestroy();
  }

  /**
   * The client of the parameter set a call asks for (`scope`, `resource`, `audience`), or
   * `undefined` for this client's own: a call that sets none, or sets them as configured.
   */
  private parameterSet(options: GetTokenOptions | undefined): TokenProvider | undefined {
    if (options === undefined) return undefined;
    const { maxParameterSets } = this.options.tokenRenewal;
    // Calls pass the same values in a few spellings at most: four per set are remembered.
    this.parameterSetKeys ??= new ParameterSets(this.options.tokenParams, 4 * maxParameterSets);
    const wanted = this.parameterSetKeys.of(options);
    if (wanted === undefined) return undefined;
    this.parameterSets ??= new RecentlyUsed(maxParameterSets, (set) => set.renewal.stop());
    let set = this.parameterSets.get(wanted.key);
    if (set === undefined) {
      set = new TokenProvider(
        { ...this.options, tokenParams: wanted.params },
        this.metadata,
        this.sharedCache,
        this.events,
        this,
      );
      this.parameterSets.set(wanted.key, set);
    }
    return set;
  }

  /**
   * The access token: the cached one until its renewal point, then still the cached one while a
   * single background renewal runs, a new one once it has expired.
   *
   * With `scope`, `resource` or `audience`, the token of that parameter set (see
   * `TokenRequestParameters`).
   *
   * @throws TokenRequestError (code `OIDC_CC_TOKEN_*`) when no valid token can be had.
   * @throws ConfigurationError when the outbound credentials are not configured.
   * @throws OidcClientCredentialsError `OIDC_CC_TOKEN_PARAMETERS_INVALID` for a parameter that
   *   cannot be sent (a resource that is not an absolute URI, a scope with a quote…).
   */
  getToken(options?: GetTokenOptions): Promise<string> {
    if (options !== undefined) {
      let set: TokenProvider | undefined;
      try {
        set = this.parameterSet(options);
      } catch (error) {
        return Promise.reject(error);
      }
      if (set !== undefined) return set.getToken(ownOptions(options));
    }
    if (options?.forceRefresh !== true) {
      const entry = this.usableEntry();
      if (entry !== undefined) return entry.resolved;
    }
    return this.acquire(options).then((entry) => entry.token.accessToken);
  }

  /** Like {@link getToken}, with the token's type, local expiry time and granted scope. */
  async getTokenResponse(options?: GetTokenOptions): Promise<ClientCredentialsToken> {
    const set = this.parameterSet(options);
    if (set !== undefined) return set.getTokenResponse(ownOptions(options));
    if (options?.forceRefresh !== true) {
      const entry = this.usableEntry();
      if (entry !== undefined) return entry.token;
    }
    return (await this.acquire(options)).token;
  }

  /**
   * Forgets `accessToken` if it is still the cached token, e.g. because the called API refused it
   * with 401; the next {@link getToken} then obtains a new one. A token that was already replaced
   * is left alone, so many 401s for the same token cause one renewal. With a shared cache, the
   * shared copy is removed too and never taken back by this instance.
   *
   * At most once per {@link INVALIDATE_INTERVAL_MS}: an API that refuses every token (a wrong
   * audience, say) must not turn each of its calls into a request to the ID service.
   *
   * @returns whether the cached token was dropped.
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1 (invalid_token)
   */
  invalidate(accessToken: string): boolean {
    const entry = this.cache.get(this.cacheKey);
    if (entry === undefined || entry.token.accessToken !== accessToken) {
      // The token of a parameter set (`getToken({ resource })`) is that set's to drop.
      for (const set of this.parameterSets?.values() ?? []) {
        if (set.cache.get(set.cacheKey)?.token.accessToken === accessToken) {
          return set.invalidate(accessToken);
        }
      }
      return false;
    }
    const now = Date.now();
    // A clock set back since the last drop does not extend the wait.
    if (now >= this.invalidatedAt && now - this.invalidatedAt < INVALIDATE_INTERVAL_MS) {
      return false;
    }
    this.invalidatedAt = now;
    this.cache.delete(this.cacheKey);
    this.refusedToken = accessToken;
    void this.sharedTokens?.discard(accessToken);
    return true;
  }

  /** The hot path: a clock check, and a background renewal once the renewal point has passed. */
  private usableEntry(): TokenCacheEntry | undefined {
    const entry = this.cache.get(this.cacheKey);
    if (entry !== undefined) {
      const now = Date.now();
      if (now < entry.renewAt) {
        this.renewal.noteRead(now);
        this.events.emit('token.cache.hit', this.clientEvent);
        traceTokenCacheHit(this.clientName, now);
        return entry;
      }
      if (now < entry.expiresAt) {
        this.renewal.noteRead(now);
        this.renewal.renewInBackground(now);
        this.events.emit('token.cache.hit', this.clientEvent);
        traceTokenCacheHit(this.clientName, now);
        return entry;
      }
      this.cache.delete(this.cacheKey);
    }
    this.events.emit('token.cache.miss', this.clientEvent);
    return undefined;
  }

  private acquire(options?: GetTokenOptions): Promise<TokenCacheEntry> {
    this.renewal.noteRead(Date.now());
    const shared = this.sharedRequest();
    const signal = options?.signal;
    if (signal === undefined) return shared;
    // The caller stops waiting; the shared request is not cancelled.
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      shared.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /** Single flight: every caller joins the request in progress, or starts the only one. */
  private sharedRequest(renewal = false): Promise<TokenCacheEntry> {
    if (this.inflight) return this.inflight;
    const refused = this.acquisition.cooldownError(Date.now());
    if (refused) return Promise.reject(refused);
    const request = this.fetchToken(renewal);
    this.inflight = request;
    // Registered before any caller's handlers, so a caller retrying on failure starts afresh.
    const clear = () => {
      if (this.inflight === request) this.inflight = undefined;
    };
    request.then(clear, clear);
    return request;
  }

  /**
   * Where this client stands — cached token expiry, circuit, last acquisition — read from memory
   * without requesting anything (health checks use it).
   */
  status(): TokenProviderStatus {
    const { clientId } = this.options;
    const expiresAt = this.cache.get(this.cacheKey)?.expiresAt;
    const credential = this.credentialStatus();
    return {
      client: this.clientName,
      ...(clientId === undefined ? {} : { clientId }),
      configured: hasAnyClientCredential(this.options),
      ...(expiresAt !== undefined && expiresAt > Date.now() ? { tokenExpiresAt: expiresAt } : {}),
      ...(this.renewal.scheduledAt === undefined ? {} : { renewsAt: this.renewal.scheduledAt }),
      circuit: this.acquisition.circuit.state,
      ...(this.dpopNow === undefined ? {} : { dpopThumbprint: this.dpopNow.key.thumbprint }),
      ...(credential === undefined ? {} : { credential }),
      ...(this.lastAcquisition === undefined ? {} : { lastAcquisition: this.lastAcquisition }),
    };
  }

  /** One acquisition, reported as an event and kept as the last outcome for {@link status}. */
  private async fetchToken(renewal: boolean): Promise<TokenCacheEntry> {
    const startedAt = Date.now();
    const span = TokenAcquireSpan.start(this.clientName, renewal);
    try {
      const { entry, source } = await (span
        ? span.run(() => this.obtainToken(span))
        : this.obtainToken());
      span?.succeeded(source === 'shared-cache' ? 'shared' : 'network');
      this.lastAcquisition = { ok: true, at: Date.now() };
      this.events.emit(renewal ? 'token.renewed' : 'token.fetched', {
        client: this.clientName,
        clientId: this.options.clientId!,
        source,
        expiresInSeconds: Math.max(0, Math.floor((entry.expiresAt - Date.now()) / 1000)),
        ...(entry.token.scope === undefined ? {} : { scope: entry.token.scope }),
        durationMs: Date.now() - startedAt,
        ...(source === 'token-endpoint' ? this.credentialEvent() : {}),
      });
      return entry;
    } catch (error) {
      const code = errorCode(error) ?? 'UNEXPECTED_ERROR';
      span?.failed(code);
      this.lastAcquisition = { ok: false, at: Date.now(), code };
      const details = error instanceof TokenRequestError ? error.details : {};
      this.events.emit('token.failed', {
        client: this.clientName,
        ...(this.options.clientId === undefined ? {} : { clientId: this.options.clientId }),
        code,
        ...(details.status === undefined ? {} : { status: details.status }),
        ...(details.error === undefined ? {} : { error: details.error }),
        renewal,
        durationMs: Date.now() - startedAt,
        ...this.credentialEvent(),
      });
      throw error;
    }
  }

  /** Through the shared store when there is one; the result is cached here. */
  private async obtainToken(span?: TokenAcquireSpan): Promise<{
    entry: TokenCacheEntry;
    source: 'token-endpoint' | 'shared-cache';
  }> {
    const authentication = await this.clientAuthentication();
    const dpop = await this.dpopProofs();
    // The fleet's key may have been replaced (a store flushed, say): requested tokens follow it.
    if (dpop && this.sharedDpopKey) dpop.key = await this.sharedDpopKey.sync(dpop.key);
    const request = async (recheck?: () => Promise<TokenCacheEntry | undefined>) => {
      const key = dpop?.key;
      const entry = await this.acquisition.request(authentication, recheck, span?.attempted, dpop);
      if (key !== undefined && entry.token.tokenType === 'dpop')
        this.boundKeys.set(entry.token, key);
      return entry;
    };
    const shared = this.sharedTokens;
    if (shared === undefined) {
      const entry = await request();
      if (entry.cacheable) this.keep(entry, true);
      return { entry, source: 'token-endpoint' };
    }
    // The token being replaced (renewal, forced refresh, refused by the API) is not taken back.
    const stale = this.cache.get(this.cacheKey)?.token.accessToken ?? this.refusedToken;
    let requested = false;
    const entry = await shared.obtain((recheck) => {
      requested = true;
      return request(recheck);
    }, stale);
    // A shared DPoP token is read only when bound to this client's current key.
    if (dpop && entry.token.tokenType === 'dpop' && !this.boundKeys.has(entry.token)) {
      this.boundKeys.set(entry.token, dpop.key);
    }
    // Jittered here, once: its timer fires at this jittered point.
    if (entry.expiresAt > Date.now()) this.keep(shared.jittered(entry), false);
    return { entry, source: requested ? 'token-endpoint' : 'shared-cache' };
  }

  /** Caches `entry` and sets its renewal timer (jittered unless `entry` already is). */
  private keep(entry: TokenCacheEntry, jitter: boolean): void {
    this.cache.set(this.cacheKey, entry);
    this.renewal.schedule(entry, jitter);
  }

  /** The thumbprint of the key new tokens are bound to; `undefined` without DPoP or before it. */
  private boundThumbprint(): string | undefined {
    return this.dpopNow?.key.thumbprint;
  }

  /** The DPoP proofs of this client, its key made (or taken from the fleet) on first use. */
  private dpopProofs(): Promise<DpopProofs | undefined> {
    const dpop = this.options.dpop;
    if (dpop === undefined) return Promise.resolve(undefined);
    // A parameter set's tokens are bound to its client's key.
    const parent = this.parent;
    if (parent !== undefined) {
      this.dpop ??= parent.dpopProofs().then((proofs) => (this.dpopNow = proofs!));
      return this.dpop;
    }
    this.dpop ??= (async () => {
      const make = () => createDpopKey(dpop, this.options.credentialsOptionPrefix);
      const key = this.sharedDpopKey ? await this.sharedDpopKey.obtain(make) : await make();
      this.dpopNow = new DpopProofs(key);
      return this.dpopNow;
    })();
    // A failure (a key that cannot sign) is the same error at each call, as credentials are.
    return this.dpop;
  }

  /** Whether this client requests DPoP-bound tokens (the `dpop` option). */
  get dpopEnabled(): boolean {
    return this.options.dpop !== undefined;
  }

  /**
   * The RFC 7638 SHA-256 thumbprint of this client's DPoP public key — the `cnf.jkt` the ID
   * service binds its tokens to — or `undefined` without DPoP.
   */
  async dpopThumbprint(): Promise<string | undefined> {
    return (await this.dpopProofs())?.key.thumbprint;
  }

  /**
   * The headers that authorize one request with this client's token, for HTTP clients other than
   * the module's HttpServices (fetch, got, undici, gRPC metadata): `authorization` (`Bearer
   * <token>`, or `DPoP <token>` with the `dpop` option) and, with DPoP, `dpop`: a fresh proof
   * for this method and URL (RFC 9449 §4.2: `htm`, `htu` without query and fragment, `iat`,
   * `jti`, `ath`, and the API's last `DPoP-Nonce`). Build them anew for every request, retry
   * included; a proof is for one request only.
   *
   * @example
   * const headers = await tokens.getAuthorizationHeaders({ method: 'GET', url });
   * let response = await fetch(url, { headers });
   * if (tokens.handleDpopNonce(url, response)) {
   *   response = await fetch(url, { headers: await tokens.getAuthorizationHeaders({ method: 'GET', url }) });
   * }
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
   */
  async getAuthorizationHeaders(
    request: Pick<DpopProofRequest, 'method' | 'url'>,
    options?: GetTokenOptions,
  ): Promise<AuthorizationHeaders> {
    const set = this.parameterSet(options);
    if (set !== undefined) return set.getAuthorizationHeaders(request, ownOptions(options));
    const token = await this.getTokenResponse(options);
    if (token.tokenType !== 'dpop') return { authorization: `Bearer ${token.accessToken}` };
    const proofs = (await this.dpopProofs())!;
    const dpop = await proofs.proof(
      { method: request.method, url: request.url, accessToken: token.accessToken },
      this.boundKeys.get(token),
    );
    return { authorization: `DPoP ${token.accessToken}`, dpop };
  }

  /**
   * Reads an API's answer to a request sent with {@link getAuthorizationHeaders}: keeps its
   * `DPoP-Nonce` for that origin's next proofs, and says whether the answer was a 401
   * `use_dpop_nonce` challenge (RFC 9449 §9) — then send the request once more with new headers
   * (never more than once: a second challenge is the API's answer).
   */
  handleDpopNonce(
    url: string | URL,
    response: { status: number; headers?: ResponseHeaders },
  ): boolean {
    const proofs = this.dpopNow;
    if (proofs === undefined) return false;
    proofs.rememberNonce(url, response.headers);
    return isDpopNonceChallenge(response.status, response.headers);
  }

  /** Credentials are checked and a private key imported once; a failure is remembered. */
  private clientAuthentication(): Promise<ClientAuthentication> {
    if (this.parent !== undefined) return this.parent.clientAuthentication();
    this.authentication ??= (async () => {
      assertOutboundCredentials(this.options);
      this.authenticationNow = await createClientAuthentication(this.options);
      return this.authenticationNow;
    })();
    return this.authentication;
  }

  /** Which credential the client authenticates with and when it was last read; never its value. */
  private credentialStatus(): CredentialStatus | undefined {
    if (this.parent !== undefined) return this.parent.credentialStatus();
    return this.authenticationNow?.credential?.();
  }

  /** {@link credentialStatus} as events carry it. */
  private credentialEvent(): { credential?: TokenCredentialEvent } {
    const status = this.credentialStatus();
    if (status === undefined) return {};
    const { source, readAt } = status;
    return { credential: { source, ...(readAt === undefined ? {} : { readAt }) } };
  }
}

/** A call's options without its token request parameters, for its parameter set's client. */
function ownOptions(options: GetTokenOptions | undefined): GetTokenOptions | undefined {
  const { forceRefresh, signal } = options ?? {};
  return forceRefresh === undefined && signal === undefined ? undefined : { forceRefresh, signal };
}

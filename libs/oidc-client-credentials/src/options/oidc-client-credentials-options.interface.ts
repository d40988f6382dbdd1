import type { Type } from '@nestjs/common';
import type { CryptoKey, JWK } from 'jose';
import type { Keyv } from 'keyv';
import type { Dispatcher } from 'undici';
import type { TokenVerificationStrategy } from '../strategies/token-verification.strategy.js';
import type { JwsSigner } from '../idp/jws-signer.util.js';

/**
 * How this service authenticates to the ID service's token (and introspection) endpoint.
 *
 * - `client_secret_basic` (default): `Authorization: Basic` with the id and secret each
 *   form-urlencoded first (RFC 6749 §2.3.1).
 * - `client_secret_post`: `client_id` and `client_secret` in the form body.
 * - `client_secret_query`: `client_id` and `client_secret` in the URL query of the POST, for ID
 *   services that take them only there. Compatibility only; secrets in URLs end up in access logs.
 * - `private_key_jwt`: a signed assertion (RFC 7523), fresh for every request (signed with
 *   `privateKey`), or one read from `clientAssertion.file` / `clientAssertion.get`.
 * - `client_secret_jwt`: an assertion signed with HS256 over the client secret (RFC 7523), fresh
 *   for every request.
 * - `tls_client_auth` / `self_signed_tls_client_auth`: mutual TLS with the certificate of `mtls`
 *   (RFC 8705 §2); the request carries `client_id` and no secret.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 */
export type ClientAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'client_secret_query'
  | 'private_key_jwt'
  | 'client_secret_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth';

/**
 * A client secret read when it is needed (from a vault, a secret manager): asked before each
 * token request, and once more after the ID service refuses the secret (`invalid_client`), so a
 * secret rotated under a running service costs one extra token request. It must settle within the
 * token request's deadline (`retry.deadlineMs`), which `signal` aborts (pass it on to `fetch`, say);
 * cache in it what should not be fetched each time.
 */
export type ClientSecretProvider = (context: CredentialRequestContext) => Promise<string>;

/** What a credential provider is called with. */
export interface CredentialRequestContext {
  /** Aborts at the token request's deadline: the value is not waited for after it. */
  readonly signal: AbortSignal;
}

/**
 * A DPoP key that signs elsewhere (a KMS, an HSM): the JWS algorithm, a `sign()` over the JWS
 * signing input that answers the signature as JWS wants it (raw `r||s` for ES256, not DER), and
 * the public JWK every proof carries.
 */
export interface DpopSigner extends JwsSigner {
  /** The public key (no private members), as the proofs' `jwk` header. */
  readonly jwk: JWK;
}

/**
 * DPoP (RFC 9449): tokens bound to a key this client holds. Each token request and each call of
 * the module's HttpServices carries a fresh proof signed with it.
 */
export interface DpopOptions {
  /**
   * JWS algorithm of the proofs: of the generated key, or of `privateKey` when its JWK has no
   * `alg`. One of `ES256` (default), `ES384`, `ES512`, `PS256`, `PS384`, `PS512`, `RS256`,
   * `RS384`, `RS512`, `EdDSA`, `Ed25519`.
   */
  alg?: string;
  /**
   * A key of your own instead of a generated one: a private JWK, a private `CryptoKey`, or a
   * {@link DpopSigner}. Without it the library generates a key pair per client (with
   * `cache.stores`, one per client for the whole fleet, sealed with `cache.encryptionKey`).
   */
  privateKey?: JWK | CryptoKey | DpopSigner;
}

/** Explicit ID service endpoints; each one given makes its discovery unnecessary. */
export interface OidcEndpoints {
  token?: string;
  introspection?: string;
  userinfo?: string;
  jwks?: string;
}

/** When a cached outbound token is renewed, and how long a token without `expires_in` lives. */
export interface TokenRenewalOptions {
  /** Start renewing after this fraction of the lifetime has passed. Default `0.8`. */
  renewAfterFraction?: number;
  /** Start renewing at the latest this many seconds before expiry. Default `60`. */
  renewBeforeExpirySeconds?: number;
  /** Lifetime assumed when the ID service omits `expires_in`. Default `300`; never infinite. */
  defaultLifetimeSeconds?: number;
  /** Upper bound on a token's cached lifetime, whatever `expires_in` says. Default `86400`. */
  maxLifetimeSeconds?: number;
  /**
   * Renew on a timer at the renewal point (with jitter), even when no caller asks then, so a
   * caller rarely waits for a token. A token nobody read for a whole lifetime is not renewed
   * again. With `cache.stores`, one instance renews for all. Default `true`.
   */
  proactive?: boolean;
  /** Fetch the token while the application bootstraps, before the first caller. Default `false`. */
  prefetch?: boolean;
  /**
   * How many parameter sets of `getToken({ scope, resource, audience })` one client keeps a token
   * for, besides its own: one more forgets the least recently used one (its token and renewal
   * timer), which is requested anew when asked for again. Default `32`.
   */
  maxParameterSets?: number;
}

/** Retries of transient token endpoint failures (network, timeout, 5xx, 429). */
export interface RetryOptions {
  /** Attempts in total, the first included. Default `3`. */
  maxAttempts?: number;
  /** First backoff delay; doubles each attempt, with full jitter. Default `200`. */
  initialDelayMs?: number;
  /** Largest single backoff delay. Default `5000`. */
  maxDelayMs?: number;
  /** Overall deadline for one token acquisition, retries included. Default `15000`. */
  deadlineMs?: number;
}

/**
 * The token endpoint's circuit breaker. After `failureThreshold` acquisitions in a row have failed
 * transiently (unreachable, timeout, 5xx, 408, 429 — each after its retries), the circuit opens
 * for `cooldownMs`: `getToken()` then fails fast with `OIDC_CC_TOKEN_ENDPOINT_CIRCUIT_OPEN` and no
 * request is sent, while a still-valid cached token keeps being served. After the cooldown one
 * probe (a single attempt) goes through: success closes the circuit, failure opens it again.
 */
export interface CircuitBreakerOptions {
  /** Consecutive failed acquisitions that open the circuit. Default `5`. */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe may go through. Default `30000`. */
  cooldownMs?: number;
}

/** A client certificate for mutual TLS (RFC 8705), as PEM strings. */
export interface MtlsOptions {
  /** The client's certificate (PEM), with its chain after it if the ID service needs one. */
  cert: string;
  /** Its private key (PEM, unencrypted). Never logged nor shown in an error. */
  key: string;
  /** CA certificates (PEM) the ID service's certificate is checked against, instead of Node's. */
  ca?: string;
}

/** Limits of every HTTP call the library makes to the ID service, and the way it goes there. */
export interface HttpLimitsOptions {
  /** Per-request timeout. Default `5000`. */
  timeoutMs?: number;
  /** Largest response body accepted. Default `65536`. */
  maxResponseBytes?: number;
  /**
   * The undici `Dispatcher` every call to the ID service goes through (discovery, JWKS, token,
   * introspection, userinfo): a `ProxyAgent`, an `EnvHttpProxyAgent`, an `Agent` with a private
   * CA (`connect: { ca }`) or a client certificate. You own it: the module does not close it.
   * Default: a keep-alive `Agent` of the module's own. Not with `fetch` or `proxy`.
   */
  dispatcher?: Dispatcher;
  /**
   * A fetch-compatible function for every call to the ID service instead (e.g. one that adds
   * headers or goes through a library of your own). The limits apply to it too: it is called with
   * `redirect: 'manual'` and a timeout signal, and its body is read under `maxResponseBytes`.
   * Not with `dispatcher` or `proxy`.
   */
  fetch?: (input: string | URL, init?: RequestInit) => Promise<Response>;
  /**
   * `'env'`: honour `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or their lowercase forms) for the
   * calls to the ID service, through undici's `EnvHttpProxyAgent`. Default: no proxy, whatever
   * the environment says. Not with `dispatcher` or `fetch`.
   */
  proxy?: 'env';
}

/** Options of the assertion sent with `private_key_jwt`. */
export interface ClientAssertionOptions {
  /**
   * `aud` of the assertion: the issuer identifier (default, immune to audience injection) or the
   * exact token endpoint URL.
   */
  audience?: 'issuer' | 'token_endpoint';
  /** Send `typ: client-authentication+jwt` (draft-ietf-oauth-rfc7523bis). Default `false`. */
  explicitType?: boolean;
  /**
   * A file holding a ready-made assertion JWT (a Kubernetes projected service account token, a
   * workload identity token), sent as `client_assertion` with the `jwt-bearer` assertion type
   * (RFC 7523 §2.2). Read again before a token request whenever its mtime changed; an expired JWT
   * in it fails at once, naming the file. Not with `get`, `privateKey`, `audience`, `explicitType`.
   */
  file?: string;
  /**
   * Gives a ready-made assertion JWT, asked before each token request (and once more after an
   * `invalid_client` refusal); sent as `file`'s is. Not with `file`, `privateKey`, `audience`,
   * `explicitType`.
   */
  get?: (context: CredentialRequestContext) => Promise<string>;
}

/**
 * Options of the token-attaching HttpService: its behaviour on a 401 from the called API, and
 * whether it sends tokens over plain `http://`. The module's own HttpServices take
 * `retryOnUnauthorized` from the module's `authorizedHttp` and `allowInsecureHttp` from the root
 * options; `allowInsecureHttp` here is for `withClientCredentials()` on an HttpService of your own.
 */
export interface AuthorizedHttpOptions {
  /** Renew the token and retry once on 401: for idempotent methods (default), all, or never. */
  retryOnUnauthorized?: 'idempotent' | 'all' | 'never';
  /**
   * An allowlist from each called API's origin to its RFC 8707 resource indicator(s): a request
   * to a listed origin carries a token requested for that resource (`getToken({ resource })`, so
   * its audience is that API); a request to any other origin is refused before it is sent
   * (`OIDC_CC_DESTINATION_NOT_ALLOWED`) and no token leaves. Default: absent, every request gets
   * the client's own token. Keys are origins (`https://api.example.com`, with a port if not the
   * default), values absolute URIs without fragment.
   *
   * @example
   * resources: { 'https://orders.example.com': 'https://orders.example.com/' }
   */
  resources?: Record<string, string | string[]>;
  /**
   * Send the token over `http://` to non-loopback hosts too. Development only. Default `false`:
   * a bearer token goes over TLS only (RFC 6750 §5.3).
   */
  allowInsecureHttp?: boolean;
}

/** Where the guard looks for the bearer token (RFC 6750 §2). Default `['header']`. */
export type TokenLocation = 'header' | 'query' | 'body';

/** Built-in verification strategy names; the registry's `BUILT_IN_STRATEGIES` has their classes. */
export type VerificationStrategyName = 'jwt' | 'introspection' | 'userinfo' | 'auto';

/**
 * One issuer whose tokens this service accepts (`verification.issuers`). Everything else of
 * `verification` (algorithms, profile, clock tolerance, caches, JWKS timing) is shared.
 */
export interface TrustedIssuerOptions {
  /**
   * The issuer identifier, compared with a JWT's `iss` exactly (an absolute `https://` URL;
   * `http://` on loopback hosts, or with `allowInsecureHttp`). Discovery is at its well-known URL.
   */
  issuer: string;
  /** When set, `aud` must contain one of these. Default: `verification.audience`. */
  audience?: string | string[];
  /**
   * Explicit endpoints of this issuer; each one given makes its discovery unnecessary. An entry
   * for the root `issuer` uses the root `endpoints` when it sets none.
   */
  endpoints?: Pick<OidcEndpoints, 'jwks' | 'introspection' | 'userinfo'>;
  /**
   * How this issuer's tokens are checked. Default: `verification.strategy` when it is a built-in
   * name, else `'auto'`.
   */
  strategy?: VerificationStrategyName;
  /**
   * This service's client id at this issuer, for introspection. An entry for the root `issuer`
   * uses the root's credentials when it sets none; other issuers never receive them.
   */
  clientId?: string;
  /** This service's client secret at this issuer, for introspection (Basic authentication). */
  clientSecret?: string;
}

/**
 * Picks the issuer of an opaque token (`verification.issuerResolver`): the `issuer` of one of
 * `verification.issuers`, or `undefined` to refuse the token (401); a resolver that throws is
 * answered 503. Not asked for JWTs, which are routed by their `iss`.
 */
export type IssuerResolver = (token: string) => string | undefined | Promise<string | undefined>;

/**
 * RFC 9728 protected resource metadata, served at `/.well-known/oauth-protected-resource` (with
 * the resource's path appended) and named by every `WWW-Authenticate` challenge.
 */
export interface ResourceMetadataOptions {
  /** This API's resource identifier: an absolute `https://` URL without query or fragment. */
  resource: string;
  /** `scopes_supported`. Default: every scope that `@RequireScopes()` names in the app. */
  scopesSupported?: string[];
  /** `resource_name`: a human-readable name of this API. */
  resourceName?: string;
  /** `resource_documentation`: a URL of this API's documentation for developers. */
  resourceDocumentation?: string;
}

/** How introspection answers are asked for and checked. */
export interface IntrospectionOptions {
  /**
   * Ask for a signed answer (RFC 9701, `Accept: application/token-introspection+jwt`) and trust it
   * only when it is a JWT of `typ` `token-introspection+jwt`, signed with a key of the issuer's
   * JWKS, from the issuer to this client. Anything else is answered 503. Default `false`.
   */
  signedResponse?: boolean;
}

/** Inbound verification options. */
export interface VerificationOptions {
  /** Which way tokens are checked. Default `'auto'`. */
  strategy?: VerificationStrategyName | Type<TokenVerificationStrategy> | TokenVerificationStrategy;
  /** When set, `aud` must contain one of these. */
  audience?: string | string[];
  /**
   * Log one warning at startup when `audience` is not set and the verification strategy would
   * check it (`jwt`, `introspection`, `auto`): tokens the issuer grants for any of its APIs are
   * then accepted. `false` when that is intended. Default `true`.
   */
  warnOnMissingAudience?: boolean;
  /** When set, the client (`client_id`, else `sub`) must be one of these. */
  allowedClientIds?: string[];
  /** Refuse tokens whose `sub` is not the client itself. Default `false`. */
  requireSubjectIsClient?: boolean;
  /** JWS algorithms accepted in JWT mode. Default `['RS256', 'PS256', 'ES256', 'EdDSA']`. */
  algorithms?: string[];
  /** Allowed clock skew for `exp`, `nbf`, `iat`. Default `30`. */
  clockToleranceSeconds?: number;
  /**
   * `'default'` accepts plain JWT access tokens (`typ` absent, `JWT` or `at+jwt`); `'rfc9068'`
   * demands `typ: at+jwt`, `client_id`, `jti`, `iat`.
   */
  profile?: 'default' | 'rfc9068';
  /** Bearer tokens longer than this are refused before parsing. Default `8192`. */
  maxTokenLength?: number;
  /** Where tokens are read from; locations not listed are not read at all. Default `['header']`. */
  tokenLocations?: TokenLocation[];
  /** `realm` of the `WWW-Authenticate` challenge (printable ASCII, no `"` or `\`). Default `'api'`. */
  realm?: string;
  /** Longest a positive result is cached, in seconds (never past `exp`). Default `300`. */
  cacheTtlSeconds?: number;
  /** How long an inactive/invalid result is cached, in seconds. Default `10`. */
  negativeCacheTtlSeconds?: number;
  /** Entries kept in the in-process cache. Default `10000`. */
  cacheMaxEntries?: number;
  /** JWKS refresh on unknown `kid`: at most once per this many seconds. Default `30`. */
  jwksCooldownSeconds?: number;
  /** JWKS is refetched after this many seconds. Default `600`. */
  jwksMaxAgeSeconds?: number;
  /** Last known keys keep working this long after the JWKS endpoint starts failing. Default `3600`. */
  jwksStaleWindowSeconds?: number;
  /** `Retry-After` sent with 503 when the ID service is unavailable. Default `5`. */
  retryAfterSeconds?: number;
  /**
   * Several trusted issuers: a JWT goes to the entry whose `issuer` is its `iss` exactly, and is
   * verified against that issuer alone; an `iss` not listed is refused without any request. Opaque
   * tokens: see `issuerResolver`. When set, only the issuers listed are trusted inbound (list the
   * root `issuer` too to keep trusting it). See docs/issuers.md.
   */
  issuers?: TrustedIssuerOptions[];
  /**
   * With `issuers`: picks the issuer of a token that is not a JWT. Without it such a token is
   * introspected at each listed issuer whose strategy introspects (`introspection`, `auto` with
   * credentials), in order, until one answers it active.
   */
  issuerResolver?: IssuerResolver;
  /** Serve RFC 9728 protected resource metadata and name it in every challenge. */
  resourceMetadata?: ResourceMetadataOptions;
  /** Introspection answers: signed ones (RFC 9701). */
  introspection?: IntrospectionOptions;
  /**
   * DPoP-bound tokens (RFC 9449, `cnf.jkt`): `'allowed'` (default) accepts them with
   * `Authorization: DPoP` and a valid `DPoP` proof, and plain bearer tokens too; `'required'`
   * accepts DPoP-bound tokens only. A DPoP-bound token sent with `Bearer` is always refused.
   * See docs/sender-constrained.md.
   */
  dpop?: 'allowed' | 'required';
  /**
   * JWS algorithms accepted for DPoP proofs (asymmetric only; `none` and HMAC refused). Default
   * `['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA', 'Ed25519']`; sent as the challenge's `algs`.
   */
  dpopAlgorithms?: string[];
  /**
   * How old a DPoP proof's `iat` may be, in seconds (plus `clockToleranceSeconds` either way); a
   * proof's `jti` is remembered this long to refuse its replay. Default `60`, at most `600`.
   */
  dpopProofMaxAgeSeconds?: number;
  /**
   * Demand a server nonce in every DPoP proof (RFC 9449 §9): a proof without a current one is
   * answered 401 `use_dpop_nonce` with a fresh `DPoP-Nonce`. Nonces are stateless and valid on every
   * instance sharing `cache.stores` and `cache.encryptionKey`. Default `false`.
   */
  dpopNonce?: boolean;
  /**
   * Take the scheme and host a DPoP proof's `htu` is compared with from `X-Forwarded-Proto` and
   * `X-Forwarded-Host` (first value), for apps behind a proxy that sets them and drops the
   * clients' own. Default `false`: the connection's scheme and the `Host` header.
   */
  trustForwardedHeaders?: boolean;
  /**
   * Certificate-bound tokens (RFC 8705, `cnf["x5t#S256"]`): `'allowed'` (default) accepts them when
   * the client certificate has that thumbprint, and other tokens too; `'required'` accepts only
   * certificate-bound tokens.
   */
  mtls?: 'allowed' | 'required';
  /**
   * Where the client certificate comes from. Default: the TLS connection (the Node server must
   * request one: `requestCert`). `'client-cert'`: the RFC 9440 `Client-Cert` header set by a
   * TLS-terminating proxy, which must remove any `Client-Cert` header the client sent.
   */
  clientCertificateHeader?: 'client-cert';
}

/**
 * Shared cache: several instances on one store share outbound tokens (one instance fetches, under
 * a Redis lease, while the others wait for its result) and inbound verification results. The
 * in-process cache stays in front, so a hit never waits on the network.
 *
 * @example
 * import { createKeyv } from '@keyv/redis';
 * cache: { stores: [createKeyv('redis://127.0.0.1:6379')], encryptionKey: process.env.CACHE_KEY }
 */
export interface SharedCacheOptions {
  /**
   * Keyv stores, as @nestjs/cache-manager takes them (e.g. `createKeyv('redis://…')`); read in
   * order, written together. Default none: in-process only. Only a @keyv/redis store gives the
   * lease that lets one instance fetch for all; with others, instances may fetch in parallel.
   * You own the stores: the module does not disconnect them.
   */
  stores?: Keyv[];
  /** Prefix of every key this module writes. Default `'oidc-cc'`. */
  keyPrefix?: string;
  /**
   * 32-byte key (base64 or Buffer): every value is stored encrypted and authenticated with
   * AES-256-GCM. Without it values are plain JSON, and whoever can write to the store can forge them.
   */
  encryptionKey?: string | Buffer;
  /**
   * Longest wait for one store call, in milliseconds; a slower or failing store is treated as a
   * miss and requests go on with the in-process cache. Default `50`.
   */
  timeoutMs?: number;
}

/**
 * Which sides are checked against the ID service while the app starts (`verifyOnStartup`); a
 * side left out is not.
 *
 * @example
 * verifyOnStartup: { outbound: true } // a service that only calls others
 */
export interface VerifyOnStartupOptions {
  /**
   * Request a token for the root client (when it has a credential) and for every named client:
   * the app does not start when the ID service is unreachable or refuses the credentials.
   */
  outbound?: boolean;
  /**
   * Fetch what verification needs: discovery when an endpoint comes from it, and the JWKS
   * (`jwt`, `auto`) or the presence of the introspection or userinfo endpoint (`introspection`,
   * `userinfo`). Nothing for a strategy of your own.
   */
  inbound?: boolean;
}

/**
 * Options of {@link OidcClientCredentialsModule.forRoot}.
 *
 * @example
 * OidcClientCredentialsModule.forRoot({
 *   issuer: 'https://id.example.com',
 *   clientId: 'billing',
 *   clientSecret: process.env.CLIENT_SECRET,
 *   scope: 'orders:read',
 * });
 */
export interface OidcClientCredentialsModuleOptions {
  /** Issuer identifier; discovery is at `{issuer}/.well-known/openid-configuration`. */
  issuer: string;
  /** Explicit endpoint URLs; they win over discovery. */
  endpoints?: OidcEndpoints;
  /** This service's client id at the ID service. */
  clientId?: string;
  /**
   * This service's client secret (not with `private_key_jwt`): a string, or a
   * {@link ClientSecretProvider} that reads it when a token is requested.
   */
  clientSecret?: string | ClientSecretProvider;
  /** Default `'client_secret_basic'`. */
  clientAuthMethod?: ClientAuthMethod;
  /**
   * The key that signs `private_key_jwt` assertions: a private JWK (with `kid` and `alg`), a
   * private `CryptoKey`, or a {@link JwsSigner} (a KMS or HSM key that never leaves it).
   */
  privateKey?: JWK | CryptoKey | JwsSigner;
  /** Assertion details for `private_key_jwt`, or a ready-made assertion from a file or a function. */
  clientAssertion?: ClientAssertionOptions;
  /** Scope(s) requested with the token. */
  scope?: string | string[];
  /** `audience` parameter(s) sent with the token request. */
  audience?: string | string[];
  /** RFC 8707 `resource` indicator(s) sent with the token request. */
  resource?: string | string[];
  /** Any further token request parameters. */
  extraParams?: Record<string, string>;
  /**
   * Request DPoP-bound tokens (RFC 9449) and send them with a proof of the key: `true` for a
   * generated ES256 key pair, or {@link DpopOptions}. Default off (bearer tokens). A named client
   * that leaves it out inherits the root's setting, with a key pair of its own when generated.
   */
  dpop?: boolean | DpopOptions;
  /**
   * Mutual TLS with the ID service (RFC 8705): this client's certificate, presented on every call
   * to the ID service and by the client's `ClientCredentialsHttpService` to the APIs it calls.
   * With `clientAuthMethod: 'tls_client_auth'` or `'self_signed_tls_client_auth'` it is the
   * client's credential; with any other method the tokens are bound to it
   * (`cnf["x5t#S256"]`). The token, introspection and userinfo requests go to the discovery
   * document's `mtls_endpoint_aliases` when it has them. A named client without its own
   * `clientId` uses the root's.
   */
  mtls?: MtlsOptions;
  /** Renewal timing of outbound tokens. */
  tokenRenewal?: TokenRenewalOptions;
  /** Retry policy of the token endpoint. */
  retry?: RetryOptions;
  /** Fail fast while the token endpoint keeps failing. */
  circuitBreaker?: CircuitBreakerOptions;
  /** Timeouts and size limits of calls to the ID service. */
  http?: HttpLimitsOptions;
  /**
   * The token-attaching HttpService's 401 behaviour. Whether it sends tokens over `http://` is
   * {@link allowInsecureHttp}, for the ID service and the called APIs alike.
   */
  authorizedHttp?: Omit<AuthorizedHttpOptions, 'allowInsecureHttp'>;
  /** Inbound verification. */
  verification?: VerificationOptions;
  /** Shared cache across instances. */
  cache?: SharedCacheOptions;
  /** Accept `http://` endpoints on non-loopback hosts. Development only. Default `false`. */
  allowInsecureHttp?: boolean;
  /**
   * Check the ID service while the app starts, so that a bad deploy (wrong URL, wrong secret, ID
   * service down) stops at `app.init()` / `app.listen()` instead of failing its first requests.
   * `true` checks both sides, an object the sides it sets (see {@link VerifyOnStartupOptions}).
   * Default `false`: nothing is fetched before it is first needed.
   */
  verifyOnStartup?: boolean | VerifyOnStartupOptions;
  /**
   * Further outbound clients by name (other identities, or other scopes of this one), each injected
   * with `@InjectTokenProvider(name)`. See {@link NamedClientOptions} for what they inherit.
   */
  clients?: Record<string, NamedClientOptions>;
}

/**
 * A named outbound client. It shares the root's `http`, `retry`, `circuitBreaker` policy,
 * `tokenRenewal`, `authorizedHttp` and `cache`, and has its own token cache entry, shared-cache
 * key, single flight and circuit. Without `issuer` it is a client of the root's issuer and shares
 * its endpoints and discovery.
 *
 * - Identity: without `clientId` it is the root's client (id, secret or private key, auth method);
 *   with `clientId` it brings its own credentials, nothing of the root's.
 * - `scope`, `audience`, `resource`, `extraParams`: each one set here replaces the root's; each one
 *   left out is the root's.
 * - `issuer` (another ID service): its own discovery, `clientId` and credentials required, and
 *   nothing of the root's identity, token parameters or `dpop` inherited. See docs/issuers.md.
 *
 * @example
 * clients: {
 *   billing: { clientId: 'billing', clientSecret: process.env.BILLING_SECRET, scope: 'invoices:write' },
 *   reports: { scope: 'reports:read' },
 *   partner: { issuer: 'https://id.partner.example', clientId: 'us', clientSecret: process.env.PARTNER_SECRET },
 * }
 */
export type NamedClientOptions = NamedClientIssuerOptions &
  Pick<
    OidcClientCredentialsModuleOptions,
    | 'clientId'
    | 'clientSecret'
    | 'clientAuthMethod'
    | 'privateKey'
    | 'clientAssertion'
    | 'scope'
    | 'audience'
    | 'resource'
    | 'extraParams'
    | 'dpop'
    | 'mtls'
  >;

/** The ID service of a named client that is not the root's (`clients.<name>.issuer`). */
export interface NamedClientIssuerOptions {
  /**
   * The issuer this client gets its tokens from, when not the root's: an absolute `https://` URL
   * (plain `http://` on loopback, as for the root `issuer`), discovered on its own (OpenID
   * Connect discovery, then RFC 8414). Requires the client's own `clientId` and credentials.
   */
  issuer?: string;
  /** With `issuer`: its token endpoint, which makes its discovery unnecessary. */
  endpoints?: Pick<OidcEndpoints, 'token'>;
}

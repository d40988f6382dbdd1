import {
  HttpException,
  Inject,
  Injectable,
  Logger,
  Optional,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { BearerRequestError } from '../errors/bearer-request.error.js';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { missingAudienceWarning } from '../options/verification-options.util.js';
import {
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
  type ResolvedOptions,
} from '../options/resolved-options.js';
import { CachedVerificationStrategy } from '../strategies/cached-verification.strategy.js';
import { TokenVerificationStrategy } from '../strategies/token-verification.strategy.js';
import { VerificationStrategyRegistry } from '../strategies/verification-strategy-registry.provider.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import {
  bearerAnswerFor,
  bearerRealm,
  challengeHeader,
  reportRefusal,
  transportRefusalOf,
  type BearerAnswer,
} from './bearer-answer.js';
import {
  bearerRequestParts,
  extractBearerToken,
  headerBearerCandidate,
  isB64Token,
} from './bearer-token.util.js';
import type { ClaimsPredicateFailure } from './require-claims.decorator.js';
import {
  checkRequirements,
  checkRouteRules,
  resolveVerifyWith,
  RoutePolicies,
} from './route-policy.util.js';
import { httpTransport } from './transports/http.transport.js';
import type { Refusal } from './transports/transport-adapter.interface.js';
import type { TransportRefusal } from './transports/transport-refusal.interface.js';
import {
  isGuardedTransport,
  SUPPORTED_CONTEXT_TYPES,
  TRANSPORT_ADAPTERS,
  type ContextTransport,
  type GuardedTransport,
} from './transports/transport-adapters.js';
import { checkedVerifiedToken, keepVerifiedToken } from './verified-tokens.js';
import { usedDpopScheme, withDpopScheme } from './sender-constraint/dpop-authorization.util.js';
import { SenderConstraintVerifier } from './sender-constraint/sender-constraint.verifier.js';

/** Options whose missing audience was already reported: once per app, however many guards. */
const warnedWithoutAudience = new WeakSet<ResolvedOptions>();

/** Logs the missing-audience warning the first time a guard is built for these options. */
function warnOnceWithoutAudience(options: ResolvedOptions, logger: Logger): void {
  if (warnedWithoutAudience.has(options)) return;
  warnedWithoutAudience.add(options);
  const warning = missingAudienceWarning(options);
  if (warning !== undefined) logger.warn(warning);
}

/**
 * Checks the bearer token of every request (RFC 6750) with the configured
 * {@link TokenVerificationStrategy} (or the route's `@VerifyWith()`), then the route's
 * requirements. A refused HTTP request gets an RFC 6750 challenge (400, 401, 403, or 503 with
 * `Retry-After` when the ID service cannot answer); GraphQL, microservice and WebSocket handlers
 * are guarded too, each refused with its transport's own error; other context types are denied.
 * Bodies and logs never hold the token.
 *
 * Use per route with `@UseGuards(ClientTokenGuard)` or app-wide as `APP_GUARD`, opening routes
 * with `@Public()`. Each step is a protected method a subclass can change: {@link checkRequest}
 * runs {@link extractToken} (or {@link extractTransportToken}) → {@link verifyToken} with
 * {@link strategyFor}'s strategy → {@link authorize}; a failure becomes {@link challenge} for HTTP
 * or {@link transportRefusal} otherwise, both answering as {@link answerFor} says.
 *
 * @example
 * @UseGuards(ClientTokenGuard)
 * @RequireScopes('orders:read')
 * @Get('orders')
 * list(@ClientId() clientId: string) {}
 * @see https://www.rfc-editor.org/rfc/rfc6750
 */
@Injectable()
export class ClientTokenGuard implements CanActivate {
  protected readonly logger = new Logger(ClientTokenGuard.name);
  protected readonly realm: string;
  private readonly routes: RoutePolicies;
  private readonly warned = new Set<string>();
  /** Whether a cached result may be answered synchronously (no subclass changed the async steps). */
  private readonly cachedHits: boolean;
  /** The same for GraphQL, microservice and WebSocket requests. */
  private readonly transportHits: boolean;
  /** Whether the HTTP token is read from the header alone, by {@link extractToken} as it is. */
  private readonly headerCandidate: boolean;
  /** Where `@VerifyWith()` choices come from (a property, so subclasses keep their constructors). */
  @Optional()
  @Inject(VerificationStrategyRegistry)
  protected readonly strategies?: VerificationStrategyRegistry;
  /** Checks the proof of possession of key-bound tokens (a property, as {@link strategies}). */
  @Optional()
  @Inject(SenderConstraintVerifier)
  protected readonly senderConstraints?: SenderConstraintVerifier;
  /** Built when the module's verifier is not injected (a guard made with `new`). */
  private ownSenderConstraints?: SenderConstraintVerifier;
  /** Where accepted and refused requests are reported (a property, as {@link strategies}). */
  @Optional()
  @Inject(OidcClientCredentialsEvents)
  protected readonly events?: OidcClientCredentialsEvents;

  constructor(
    protected readonly strategy: TokenVerificationStrategy,
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) protected readonly options: ResolvedOptions,
    protected readonly reflector: Reflector,
  ) {
    this.realm = bearerRealm(options.verification.realm);
    this.routes = new RoutePolicies(reflector);
    warnOnceWithoutAudience(options, this.logger);
    // A subclass that changes how a request is checked or its token verified keeps its own steps:
    // cached results are then answered through them, asynchronously.
    const steps = ClientTokenGuard.prototype;
    this.cachedHits =
      this.checkRequest === steps.checkRequest && this.verifyToken === steps.verifyToken;
    this.transportHits =
      this.cachedHits && this.canActivateTransport === steps.canActivateTransport;
    const { tokenLocations } = options.verification;
    this.headerCandidate =
      this.extractToken === steps.extractToken &&
      tokenLocations.length === 1 &&
      tokenLocations[0] === 'header';
  }

  /**
   * Lets `@Public()` routes through and checks the others. A token whose verified result is in
   * the strategy's in-process cache (a `CachedVerificationStrategy`, as the built-ins are) is
   * checked synchronously: `true`, with no promise, once the route's requirements are met. A
   * token it does not hold is verified from there, without being read again; any other request
   * is {@link checkRequest}'s promise.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.isPublic(context)) return Promise.resolve(true);
    const type = context.getType();
    if (type !== 'http') {
      if (this.transportHits && isGuardedTransport(type)) {
        const answer = this.answerFromCache(context, type);
        if (answer !== undefined) return answer;
      }
      return this.canActivateTransport(context, type);
    }
    if (this.cachedHits) {
      const answer = this.answerFromCache(context, 'http');
      if (answer !== undefined) return answer;
    }
    return this.checkRequest(context, 'http');
  }

  /**
   * Extract → verify → authorize, then keeps the verified token for the request (for
   * `@ClientId()`, `@TokenClaims()` and `getVerifiedToken()`) and reports it. A failure is thrown
   * as the transport's refusal: {@link challenge} for HTTP, {@link transportRefusal} otherwise.
   */
  protected async checkRequest(
    context: ExecutionContext,
    transport: ContextTransport,
  ): Promise<boolean> {
    let token: string | undefined;
    try {
      token =
        transport === 'http'
          ? this.extractToken(httpTransport.carrier(context))
          : this.extractTransportToken(context, transport);
      if (token === undefined) {
        throw new BearerRequestError('OIDC_CC_TOKEN_MISSING', 'missing', 'No bearer token');
      }
    } catch (error) {
      throw transport === 'http'
        ? this.challenge(error, context)
        : await this.transportRefusal(error, transport, context);
    }
    return this.checkExtracted(token, context, transport);
  }

  /**
   * The steps of {@link checkRequest} after extraction: {@link strategyFor}'s strategy (unless
   * given) → {@link verifyToken} → {@link checkSenderConstraint} → {@link admit}; a failure thrown
   * as the transport's refusal.
   */
  private async checkExtracted(
    token: string,
    context: ExecutionContext,
    transport: ContextTransport,
    strategy?: TokenVerificationStrategy,
  ): Promise<boolean> {
    try {
      const verified = await this.verifyToken(token, strategy ?? this.strategyFor(context));
      await this.checkSenderConstraint(token, verified, context, transport);
      this.admit(verified, context, transport);
      return true;
    } catch (error) {
      throw transport === 'http'
        ? this.challenge(error, context)
        : await this.transportRefusal(error, transport, context);
    }
  }

  /** Whether `@Public()` opens the route (a handler's marker wins over its controller's). */
  protected isPublic(context: ExecutionContext): boolean {
    return this.routes.of(context).isPublic;
  }

  /** Scopes the route requires: the controller's and the handler's together. */
  protected requiredScopes(context: ExecutionContext): readonly string[] {
    return this.routes.of(context).requiredScopes;
  }

  /**
   * The route's `@VerifyWith()` strategy (a handler's choice wins), else `verification.strategy`.
   * A choice that cannot be resolved is logged once and answered 503.
   */
  protected strategyFor(context: ExecutionContext): TokenVerificationStrategy {
    const policy = this.routes.of(context);
    if (policy.verifyWith === undefined) return this.strategy;
    return (policy.strategy ??= resolveVerifyWith(policy.verifyWith, this.strategies, this.logger));
  }

  /**
   * An HTTP request's token, from the enabled `verification.tokenLocations`: `undefined` without
   * bearer credentials; throws for malformed ones.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-2
   */
  protected extractToken(request: object): string | undefined {
    const { tokenLocations: locations, maxTokenLength } = this.options.verification;
    const parts = bearerRequestParts(request);
    const bearer = extractBearerToken(parts, { locations, maxTokenLength });
    return withDpopScheme(request, parts.authorization, bearer, maxTokenLength);
  }

  /**
   * Proof of possession of a key-bound token (`verified.confirmation`, its `cnf`): a valid DPoP
   * proof for `cnf.jkt` with the `DPoP` scheme, the client certificate for `cnf["x5t#S256"]`; and
   * `verification.dpop` / `verification.mtls` `'required'`. Synchronous (no promise) for a token
   * bound to no key sent with `Bearer`. GraphQL over HTTP carries proofs as HTTP does; the
   * microservice and WebSocket transports carry none, so key-bound tokens are refused there.
   *
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
   * @see https://www.rfc-editor.org/rfc/rfc8705#section-3
   */
  protected checkSenderConstraint(
    token: string,
    verified: VerifiedToken,
    context: ExecutionContext,
    transport: ContextTransport,
  ): void | Promise<void> {
    const request = TRANSPORT_ADAPTERS[transport].httpRequest?.(context);
    return this.senderConstraintVerifier().check({ token, verified, request });
  }

  /**
   * Asks the strategy, and refuses a result that is not a well-formed {@link VerifiedToken} (a
   * strategy bug: answered 503) or whose `expiresAt` has passed (a stale cached result).
   */
  protected async verifyToken(token: string, strategy = this.strategy): Promise<VerifiedToken> {
    const { clockToleranceSeconds } = this.options.verification;
    return checkedVerifiedToken(await strategy.verify(token), clockToleranceSeconds);
  }

  /**
   * The service's and the route's requirements ({@link requiredScopes}, `@RequireScopes.any()`,
   * `@AllowClients()`, `@RequireClaims()`), checked on every request (cached verification results
   * included): 401 `invalid_token` or 403 `insufficient_scope`.
   */
  protected authorize(token: VerifiedToken, context: ExecutionContext): void {
    const policy = this.routes.of(context);
    const required = this.requiredScopes(context);
    const anyOf = policy.anyOfScopes;
    if ((required.length > 0 || anyOf) && this.strategyFor(context).reportsScopes === false) {
      throw this.scopesUnverifiable(context, anyOf ? [...required, ...anyOf.flat()] : required);
    }
    checkRequirements(token, this.options.verification, required);
    checkRouteRules(token, policy, (failure) => this.claimsCheckFailed(context, failure));
  }

  /** A failure's answer, by the error's stable `code`; anything else fails closed with 503. */
  protected answerFor(error: unknown): BearerAnswer {
    return bearerAnswerFor(error, this.options.verification.retryAfterSeconds);
  }

  /**
   * The exception an HTTP refusal throws, after setting `WWW-Authenticate` (or `Retry-After` for
   * 503) on the response and logging the error's code (never its message: it could quote the token).
   *
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
   */
  protected challenge(error: unknown, context: ExecutionContext): HttpException {
    if (error instanceof HttpException) return error;
    return httpTransport.refuse(this.refusal(error, context, 'http'), context);
  }

  /** Other context types: {@link checkRequest} when a transport adapter reads them, else denied. */
  protected async canActivateTransport(context: ExecutionContext, type: string): Promise<boolean> {
    if (!isGuardedTransport(type)) return this.denyUnsupportedContext(context);
    return this.checkRequest(context, type);
  }

  /**
   * The token of a GraphQL operation (its HTTP request, read as HTTP requests are), of a
   * microservice message (its metadata, else the payload's `authorization` member) or of a
   * WebSocket message (the client's handshake). `undefined` when there is none.
   */
  protected extractTransportToken(
    context: ExecutionContext,
    transport: GuardedTransport,
  ): string | undefined {
    const adapter = TRANSPORT_ADAPTERS[transport];
    const parts = adapter.bearerParts(context);
    const { tokenLocations, maxTokenLength } = this.options.verification;
    if (parts === undefined) {
      const warning = adapter.missingPartsWarning;
      if (warning) this.warnOnce(`parts:${transport}`, () => warning);
      return undefined;
    }
    const locations = adapter.locations(tokenLocations);
    const bearer = extractBearerToken(parts, { locations, maxTokenLength });
    // GraphQL over HTTP carries DPoP proofs; the other transports carry no DPoP token.
    const request = adapter.httpRequest?.(context);
    if (request === undefined) return bearer;
    return withDpopScheme(request, parts.authorization, bearer, maxTokenLength);
  }

  /**
   * The error a refused GraphQL, microservice or WebSocket request throws, carrying
   * {@link refusalFor}: a `GraphqlRefusalError`, an `RpcException` (for a gRPC call carrying a
   * `GrpcRefusal`, sent as the call's status and trailers) or a `WsException`.
   */
  protected async transportRefusal(
    error: unknown,
    transport: GuardedTransport,
    context?: ExecutionContext,
  ): Promise<Error> {
    return TRANSPORT_ADAPTERS[transport].refuse(this.refusal(error, context, transport), context);
  }

  /** The HTTP answer as data, for the transports that have no headers. */
  protected refusalFor(answer: BearerAnswer): TransportRefusal {
    return transportRefusalOf(answer);
  }

  /** Unknown context types: deny rather than let requests through (warned once per type). */
  protected denyUnsupportedContext(context: ExecutionContext): boolean {
    const type = context.getType();
    this.warnOnce(
      `context:${type}`,
      () =>
        `ClientTokenGuard denies "${sanitizeForLog(type, 40)}" requests: only ${SUPPORTED_CONTEXT_TYPES} are supported`,
    );
    return false;
  }

  /**
   * The request checked synchronously when its token's verified result is cached (see
   * {@link canActivate}): `true` when it passes, a rejected promise with the transport's refusal
   * when the route refuses it. The steps run as on {@link checkRequest}'s path:
   * {@link extractToken} (or {@link extractTransportToken}), {@link strategyFor}, the cached
   * result checked as {@link verifyToken} checks one, {@link authorize}. A token with no cached
   * result (or a key-bound one) continues on that path after its extraction: the promise of
   * {@link verifyToken} and the steps after it. `undefined` when {@link checkRequest} must
   * answer: no token, a failed extraction, a strategy without a synchronous cache. With the
   * header-only default, the token's `b64token` check is left to a miss: a hit is keyed by the
   * exact string of a token that passed it, and a miss that fails it goes to {@link checkRequest}.
   */
  private answerFromCache(
    context: ExecutionContext,
    transport: ContextTransport,
  ): true | Promise<boolean> | undefined {
    let strategy: TokenVerificationStrategy;
    let verified: VerifiedToken | undefined;
    let token: string | undefined;
    // One reading of the clock for the lookup, the tracing check and the expiry check.
    const now = Date.now();
    try {
      token =
        transport !== 'http'
          ? this.extractTransportToken(context, transport)
          : this.headerCandidate
            ? headerBearerCandidate(
                httpTransport.carrier(context),
                this.options.verification.maxTokenLength,
              )
            : this.extractToken(httpTransport.carrier(context));
      if (token === undefined) return undefined;
      strategy = this.strategyFor(context);
      if (!(strategy instanceof CachedVerificationStrategy) || strategy.verify !== cachedVerify) {
        return undefined;
      }
      verified = strategy.cachedResult(token, bearerOnly, now);
    } catch {
      // The asynchronous path meets the same failure and answers it.
      return undefined;
    }
    if (verified === undefined) {
      // Not cached: verified without reading the token again, unless the header-only read left
      // the b64token check to the full extraction (which then refuses it).
      return transport === 'http' && this.headerCandidate && !isB64Token(token)
        ? undefined
        : this.checkExtracted(token, context, transport, strategy);
    }
    try {
      const { clockToleranceSeconds } = this.options.verification;
      const checked = checkedVerifiedToken(verified, clockToleranceSeconds, now);
      const proof = this.checkSenderConstraint(token, checked, context, transport);
      if (proof !== undefined) {
        // A key-bound token: its proof is checked asynchronously.
        return proof.then(
          () => {
            this.admit(checked, context, transport);
            return true;
          },
          (error: unknown) =>
            transport === 'http'
              ? Promise.reject(this.challenge(error, context))
              : this.transportRefusal(error, transport, context).then((refusal) =>
                  Promise.reject(refusal),
                ),
        );
      }
      this.admit(checked, context, transport);
      return true;
    } catch (error) {
      return transport === 'http'
        ? Promise.reject(this.challenge(error, context))
        : this.transportRefusal(error, transport, context).then((refusal) =>
            Promise.reject(refusal),
          );
    }
  }

  /**
   * A verified token admitted to the route: {@link authorize}, then kept for the request and
   * reported (`verification.succeeded`).
   */
  private admit(verified: VerifiedToken, context: ExecutionContext, transport: ContextTransport) {
    this.authorize(verified, context);
    keepVerifiedToken(context, TRANSPORT_ADAPTERS[transport], verified);
    if (this.events?.observed('verification.succeeded')) {
      this.events.emit('verification.succeeded', { clientId: verified.clientId });
    }
  }

  /**
   * A failure's answer in every form, reported unless a subclass threw an `HttpException`. A
   * request that used the DPoP scheme is answered in the DPoP challenge, with `DPoP-Nonce` when a
   * nonce is due.
   */
  private refusal(
    error: unknown,
    context?: ExecutionContext,
    transport?: ContextTransport,
  ): Refusal {
    let answer: BearerAnswer;
    if (error instanceof HttpException) {
      answer = { status: error.getStatus(), description: sanitizeForLog(error.message) ?? '' };
    } else {
      answer = this.answerFor(error);
      reportRefusal(error, answer, this.logger, this.events);
    }
    const request =
      context && transport ? TRANSPORT_ADAPTERS[transport].httpRequest?.(context) : undefined;
    if (answer.scheme === undefined && usedDpopScheme(request)) answer.scheme = 'DPoP';
    const verifier = this.senderConstraintVerifier();
    const dpop = { algorithms: verifier.dpopAlgorithms, required: verifier.dpopRequired };
    const resourceMetadata = this.options.verification.resourceMetadata?.url;
    return {
      answer,
      header: challengeHeader(this.realm, answer, resourceMetadata, dpop),
      headers: answer.dpopNonce === undefined ? undefined : [['DPoP-Nonce', answer.dpopNonce]],
      payload: this.refusalFor(answer),
    };
  }

  /** The module's {@link SenderConstraintVerifier}, else one of this guard's own. */
  private senderConstraintVerifier(): SenderConstraintVerifier {
    return (
      this.senderConstraints ??
      (this.ownSenderConstraints ??= new SenderConstraintVerifier(this.options))
    );
  }

  private warnOnce(key: string, message: () => string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.logger.warn(message());
  }

  /** A `@RequireClaims()` predicate that threw or answered no boolean: logged once per route. */
  private claimsCheckFailed(context: ExecutionContext, failure: ClaimsPredicateFailure): void {
    const route = `${context.getClass().name}.${context.getHandler().name}`;
    if (this.warned.has(`claims:${route}`)) return;
    this.warned.add(`claims:${route}`);
    const what =
      failure.kind === 'threw'
        ? `threw ${describeThrown(failure.error)}`
        : `returned ${failure.type} instead of a boolean (predicates are synchronous)`;
    this.logger.error(
      `${route}: a @RequireClaims() predicate ${what}; its requests are refused with 403`,
    );
  }

  /**
   * A route requiring scopes whose strategy reports none (userinfo) can never be satisfied: every
   * request is refused 403, and the misconfiguration is logged once per route, naming it.
   */
  private scopesUnverifiable(
    context: ExecutionContext,
    required: readonly string[],
  ): InsufficientScopeError {
    const route = `${context.getClass().name}.${context.getHandler().name}`;
    if (!this.warned.has(`scopes:${route}`)) {
      this.warned.add(`scopes:${route}`);
      this.logger.error(
        `${route} requires the scopes ${required.join(' ')}, but its verification strategy (userinfo) reports no scopes: every request is refused with 403. Verify this route with 'jwt' or 'introspection' (@VerifyWith()), or remove @RequireScopes().`,
      );
    }
    return new InsufficientScopeError(
      'OIDC_CC_SCOPES_UNVERIFIABLE',
      'The route requires scopes its verification strategy cannot report',
      required,
    );
  }
}

/** The cache lookup of the built-in `verify`: a subclass with its own `verify` is asked instead. */
const cachedVerify = CachedVerificationStrategy.prototype.verify;

/**
 * Whether a cached result may be answered without the asynchronous path: not for a token bound
 * to a key (`cnf`), whose proof of possession is checked there.
 */
function bearerOnly(result: VerifiedToken): boolean {
  return result.claims.cnf === undefined;
}

/** A thrown value for a log line: its name and message, made log-safe. */
function describeThrown(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const message = sanitizeForLog(error.message, 200);
  return `${sanitizeForLog(error.name, 60)}${message ? `: ${message}` : ''}`;
}

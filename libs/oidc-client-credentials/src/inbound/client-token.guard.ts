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
import { bearerRequestParts, extractBearerToken } from './bearer-token.util.js';
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
  /** Where `@VerifyWith()` choices come from (a property, so subclasses keep their constructors). */
  @Optional()
  @Inject(VerificationStrategyRegistry)
  protected readonly strategies?: VerificationStrategyRegistry;
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
  }

  /**
   * Lets `@Public()` routes through and checks the others. Not `async`: an HTTP request's promise
   * is {@link checkRequest}'s own.
   */
  canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.isPublic(context)) return Promise.resolve(true);
    const type = context.getType();
    if (type !== 'http') return this.canActivateTransport(context, type);
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
    try {
      const token =
        transport === 'http'
          ? this.extractToken(httpTransport.carrier(context))
          : this.extractTransportToken(context, transport);
      if (token === undefined) {
        throw new BearerRequestError('OIDC_CC_TOKEN_MISSING', 'missing', 'No bearer token');
      }
      const verified = await this.verifyToken(token, this.strategyFor(context));
      this.authorize(verified, context);
      keepVerifiedToken(context, TRANSPORT_ADAPTERS[transport], verified);
      if (this.events?.observed('verification.succeeded')) {
        this.events.emit('verification.succeeded', { clientId: verified.clientId });
      }
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
    return extractBearerToken(bearerRequestParts(request), { locations, maxTokenLength });
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
    return httpTransport.refuse(this.refusal(error), context);
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
    return extractBearerToken(parts, { locations, maxTokenLength });
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
    return TRANSPORT_ADAPTERS[transport].refuse(this.refusal(error), context);
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

  /** A failure's answer in every form, reported unless a subclass threw an `HttpException`. */
  private refusal(error: unknown): Refusal {
    let answer: BearerAnswer;
    if (error instanceof HttpException) {
      answer = { status: error.getStatus(), description: sanitizeForLog(error.message) ?? '' };
    } else {
      answer = this.answerFor(error);
      reportRefusal(error, answer, this.logger, this.events);
    }
    return {
      answer,
      header: challengeHeader(this.realm, answer),
      payload: this.refusalFor(answer),
    };
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

/** A thrown value for a log line: its name and message, made log-safe. */
function describeThrown(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const message = sanitizeForLog(error.message, 200);
  return `${sanitizeForLog(error.name, 60)}${message ? `: ${message}` : ''}`;
}

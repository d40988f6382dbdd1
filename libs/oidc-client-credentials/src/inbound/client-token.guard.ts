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
import { ConfigurationError } from '../errors/configuration.error.js';
import { errorCode } from '../errors/error-code.util.js';
import { InsufficientScopeError } from '../errors/insufficient-scope.error.js';
import {
  OidcClientCredentialsError,
  type OidcClientCredentialsErrorCode,
} from '../errors/oidc-client-credentials.error.js';
import { GraphqlRefusalError } from './transports/graphql-refusal.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type {
  GrpcRefusal,
  TransportRefusal,
  TransportRefusalCode,
} from './transports/transport-refusal.interface.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS } from '../options/resolved-options.js';
import { TokenVerificationStrategy } from '../strategies/token-verification.strategy.js';
import {
  bearerRequestParts,
  extractBearerToken,
  type BearerRequestParts,
} from './bearer-token.util.js';
import {
  graphqlBearerParts,
  grpcCallMetadata,
  grpcTrailers,
  isGuardedTransport,
  rpcBearerParts,
  transportLocations,
  verifiedTokenCarrier,
  wsBearerParts,
  type GuardedTransport,
} from './transports/execution-context.util.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { readRouteAccessPolicy, type RouteAccessPolicy } from './route-policy.util.js';
import { sanitizeForLog } from '../errors/sanitize.util.js';
import { buildBearerChallenge, type BearerErrorCode } from './www-authenticate.util.js';
import { VerificationStrategyRegistry } from '../strategies/verification-strategy-registry.provider.js';
import { VERIFY_WITH_METADATA, type VerifyWithStrategy } from './verify-with.decorator.js';

/** `realm` of the challenge when `verification.realm` is not set. */
export const DEFAULT_REALM = 'api';

/** How the guard answers a refused request. */
export interface BearerAnswer {
  /** 400, 401, 403 or 503. */
  status: number;
  /** RFC 6750 error code; absent for a request without credentials and for 503. */
  error?: BearerErrorCode;
  /** Short fixed text for `error_description` and the body's `message`; never from the token. */
  description: string;
  /** Required scopes, for `insufficient_scope`. */
  scope?: readonly string[];
  /** `Retry-After` in seconds, for 503. */
  retryAfterSeconds?: number;
}

/**
 * Verified tokens by the object they were checked for (request, message context, socket client). A
 * WeakMap rather than a property: adding one to Fastify's request objects (which Fastify keeps in
 * one shape) or to Node's would slow every later access to them.
 */
const verifiedTokens = new WeakMap<object, VerifiedToken>();
/**
 * A WebSocket client's verified tokens by the handler they were checked for. The client lives as
 * long as the connection and its messages interleave, so a token answers only for a handler the
 * guard checked it for, never for a public or unguarded one.
 */
const socketTokens = new WeakMap<object, Map<unknown, VerifiedToken>>();
const REALM = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

const INVALID_TOKEN_DESCRIPTIONS: Partial<Record<OidcClientCredentialsErrorCode, string>> = {
  OIDC_CC_TOKEN_EXPIRED: 'The access token expired',
  OIDC_CC_TOKEN_INACTIVE: 'The access token is not active',
  OIDC_CC_TOKEN_MALFORMED: 'The access token is malformed',
};
const UNAVAILABLE_CODES: ReadonlySet<string> = new Set<OidcClientCredentialsErrorCode>([
  'OIDC_CC_JWKS_UNAVAILABLE',
  'OIDC_CC_INTROSPECTION_UNAVAILABLE',
  'OIDC_CC_USERINFO_UNAVAILABLE',
  'OIDC_CC_DISCOVERY_FAILED',
  'OIDC_CC_VALIDATOR_UNAVAILABLE',
]);
const REFUSAL_CODES: Readonly<Record<number, TransportRefusalCode>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
};
/** The gRPC status code of each kind of refusal. */
const GRPC_STATUS_CODES: Readonly<Record<TransportRefusalCode, number>> = {
  BAD_REQUEST: 3, // INVALID_ARGUMENT
  FORBIDDEN: 7, // PERMISSION_DENIED
  SERVICE_UNAVAILABLE: 14, // UNAVAILABLE
  UNAUTHENTICATED: 16,
};

/**
 * The verified token the guard attached to a request (or to the `ExecutionContext` of any
 * transport's call), or `undefined` when the route is public or unguarded. For interceptors, other
 * guards (e.g. a rate-limit tracker per client) and middleware that runs after the guard. For
 * WebSocket messages pass the `ExecutionContext`: a socket's tokens are kept per handler.
 */
export function getVerifiedToken(target: object): VerifiedToken | undefined {
  if (!isExecutionContext(target)) return verifiedTokens.get(target);
  const carrier = verifiedTokenCarrier(target);
  if (carrier === undefined) return undefined;
  if (target.getType() === 'ws') return socketTokens.get(carrier)?.get(target.getHandler());
  return verifiedTokens.get(carrier);
}

/**
 * The verified token of the current request, for the parameter decorators. Throws when there is
 * none, so a decorator on a route the guard did not check can never yield `undefined` for a
 * security decision (the request fails with 500, which a first test run shows at once).
 */
export function requireVerifiedToken(context: ExecutionContext, decorator: string): VerifiedToken {
  const verified = getVerifiedToken(context);
  if (!verified) {
    throw new OidcClientCredentialsError(
      'OIDC_CC_VERIFIED_TOKEN_MISSING',
      `${decorator} needs ClientTokenGuard on this route (it is unguarded or marked @Public())`,
    );
  }
  return verified;
}

/**
 * Checks the bearer token of every request (RFC 6750) with the configured
 * {@link TokenVerificationStrategy} (or the route's `@VerifyWith()`), then the route's
 * requirements, and answers HTTP failures with an RFC 6750 challenge: 401 without an error code when there are no credentials, 400
 * `invalid_request`, 401 `invalid_token`, 403 `insufficient_scope`, or 503 with `Retry-After`
 * when the ID service cannot answer. Response bodies and logs never contain the token.
 *
 * Use per route with `@UseGuards(ClientTokenGuard)` or app-wide as `APP_GUARD`, opening routes
 * with `@Public()`. Its steps are protected methods, so a subclass can change one of them:
 * {@link checkRequest} runs {@link extractToken} (or {@link extractTransportToken}) →
 * {@link verifyToken} with {@link strategyFor}'s strategy → {@link authorize} for every transport,
 * and a failure becomes {@link challenge} for HTTP or {@link transportRefusal} otherwise, both
 * answering as {@link answerFor} says.
 *
 * GraphQL, microservice and WebSocket handlers are guarded too, each reading the token where its
 * transport carries it and refused with its own error (see docs/transports.md); any other context
 * type is denied.
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
  private readonly warnedContextTypes = new Set<string>();
  // Keyed by controller, then handler: one method can serve several controllers through inheritance.
  private readonly routePolicies = new WeakMap<object, WeakMap<object, RoutePolicy>>();
  private warnedMissingHandshake = false;
  /** Where `@VerifyWith()` choices come from (a property, so subclasses keep their constructors). */
  @Optional()
  @Inject(VerificationStrategyRegistry)
  protected readonly strategies?: VerificationStrategyRegistry;
  /** Accepted and refused requests are reported here (a property, so subclasses keep their constructors). */
  @Optional()
  @Inject(OidcClientCredentialsEvents)
  protected readonly events?: OidcClientCredentialsEvents;

  constructor(
    protected readonly strategy: TokenVerificationStrategy,
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) protected readonly options: ResolvedOptions,
    protected readonly reflector: Reflector,
  ) {
    const realm = options.verification.realm ?? DEFAULT_REALM;
    if (!REALM.test(realm)) {
      throw new ConfigurationError(
        'verification.realm',
        'expected printable ASCII without double quotes or backslashes',
      );
    }
    this.realm = realm;
  }

  /**
   * Lets `@Public()` routes through, and checks HTTP requests with {@link checkRequest} (other
   * context types with {@link canActivateTransport}). Not `async`: an HTTP request's promise is
   * {@link checkRequest}'s own.
   */
  canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.isPublic(context)) return Promise.resolve(true);
    const type = context.getType();
    if (type !== 'http') return this.canActivateTransport(context, type);
    return this.checkRequest(context, 'http');
  }

  /**
   * Extract → verify → authorize, then attaches the verified token to the request (for
   * `@ClientId()`, `@TokenClaims()` and {@link getVerifiedToken}) and reports it; HTTP and the
   * other transports alike. Any failure is thrown as the transport's refusal: {@link challenge}
   * for HTTP, {@link transportRefusal} otherwise.
   */
  protected async checkRequest(
    context: ExecutionContext,
    transport: 'http' | GuardedTransport,
  ): Promise<boolean> {
    try {
      let carrier: object | undefined;
      let token: string | undefined;
      if (transport === 'http') {
        carrier = context.switchToHttp().getRequest<object>();
        token = this.extractToken(carrier);
      } else {
        token = this.extractTransportToken(context, transport);
      }
      if (token === undefined) {
        throw new BearerRequestError('OIDC_CC_TOKEN_MISSING', 'missing', 'No bearer token');
      }
      const verified = await this.verifyToken(token, this.strategyFor(context));
      this.authorize(verified, context);
      carrier ??= verifiedTokenCarrier(context);
      if (carrier && transport === 'ws') {
        let byHandler = socketTokens.get(carrier);
        if (!byHandler) socketTokens.set(carrier, (byHandler = new Map()));
        byHandler.set(context.getHandler(), verified);
      } else if (carrier) {
        verifiedTokens.set(carrier, verified);
      }
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
    return this.routePolicy(context).isPublic;
  }

  /** Scopes the route requires: the controller's and the handler's together. */
  protected requiredScopes(context: ExecutionContext): readonly string[] {
    return this.routePolicy(context).requiredScopes;
  }

  /**
   * The strategy of the route: its `@VerifyWith()` choice (a handler's wins over its controller's),
   * else the module's `verification.strategy`. Resolved on the route's first request; a choice
   * that cannot be resolved is a configuration error, logged once and answered 503.
   */
  protected strategyFor(context: ExecutionContext): TokenVerificationStrategy {
    const policy = this.routePolicy(context);
    if (policy.verifyWith === undefined) return this.strategy;
    return (policy.strategy ??= this.resolveStrategy(policy.verifyWith));
  }

  /**
   * The route's metadata, read once per controller and handler: metadata does not change after
   * startup, and this runs on every request. `@Public()` and `@RequireScopes()` are read by
   * {@link readRouteAccessPolicy}, as the OpenAPI helper reads them.
   */
  private routePolicy(context: ExecutionContext): RoutePolicy {
    const controller = context.getClass();
    const handler = context.getHandler();
    let byHandler = this.routePolicies.get(controller);
    if (!byHandler) {
      byHandler = new WeakMap();
      this.routePolicies.set(controller, byHandler);
    }
    let policy = byHandler.get(handler);
    if (!policy) {
      policy = {
        ...readRouteAccessPolicy(this.reflector, controller, handler),
        verifyWith: this.reflector.getAllAndOverride<VerifyWithStrategy | undefined>(
          VERIFY_WITH_METADATA,
          [handler, controller],
        ),
      };
      byHandler.set(handler, policy);
    }
    return policy;
  }

  /**
   * Reads the token from the enabled locations (`verification.tokenLocations`). Returns
   * `undefined` when the request has no bearer credentials; throws for malformed ones.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-2
   */
  protected extractToken(request: object): string | undefined {
    return extractBearerToken(bearerRequestParts(request), {
      locations: this.options.verification.tokenLocations,
      maxTokenLength: this.options.verification.maxTokenLength,
    });
  }

  /**
   * A choice that cannot be resolved becomes a strategy that fails with the same error: logged
   * once here with its message (ours, naming the option), then answered 503 on every request.
   */
  private resolveStrategy(choice: VerifyWithStrategy): TokenVerificationStrategy {
    try {
      if (!this.strategies) {
        throw new ConfigurationError(
          '@VerifyWith()',
          'ClientTokenGuard was built without the VerificationStrategyRegistry of OidcClientCredentialsModule',
        );
      }
      return this.strategies.get(choice);
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      this.logger.error(error.message);
      return { verify: () => Promise.reject(error) };
    }
  }

  /**
   * Asks the strategy, and refuses a result that is not a well-formed {@link VerifiedToken} (a
   * strategy bug: answered 503) or whose `expiresAt` has passed (a stale cached result).
   */
  protected async verifyToken(
    token: string,
    strategy: TokenVerificationStrategy = this.strategy,
  ): Promise<VerifiedToken> {
    const verified = await strategy.verify(token);
    if (!isVerifiedToken(verified)) {
      throw new TypeError('The verification strategy returned a malformed result');
    }
    const now = Math.floor(Date.now() / 1000);
    if (
      verified.expiresAt !== undefined &&
      verified.expiresAt + this.options.verification.clockToleranceSeconds <= now
    ) {
      throw new TokenVerificationError('OIDC_CC_TOKEN_EXPIRED', 'The verified token has expired');
    }
    return verified;
  }

  /**
   * The route's and the service's requirements, checked on every request (cached verification
   * results included): `requireSubjectIsClient` (401 `invalid_token`), `allowedClientIds` and
   * `@RequireScopes()` (403 `insufficient_scope`).
   */
  protected authorize(token: VerifiedToken, context: ExecutionContext): void {
    const { requireSubjectIsClient, allowedClientIds } = this.options.verification;
    if (requireSubjectIsClient && token.subject !== token.clientId) {
      throw new TokenVerificationError(
        'OIDC_CC_TOKEN_INVALID',
        'The token does not identify the client itself (sub differs from the client id)',
      );
    }
    if (allowedClientIds && !allowedClientIds.has(token.clientId)) {
      throw new InsufficientScopeError(
        'OIDC_CC_CLIENT_NOT_ALLOWED',
        'The client is not in verification.allowedClientIds',
      );
    }
    const required = this.requiredScopes(context);
    // Exact matches only: `read` is not granted by `read:all` or `reader` (S53).
    if (required.length > 0 && !required.every((scope) => token.scopes.includes(scope))) {
      throw new InsufficientScopeError(
        'OIDC_CC_INSUFFICIENT_SCOPE',
        'The token lacks a required scope',
        required,
      );
    }
  }

  /**
   * Maps a failure to its answer. Errors are recognised by their stable `code`; anything else is
   * a bug and fails closed with 503 (a 401 would make correct clients drop good tokens).
   */
  protected answerFor(error: unknown): BearerAnswer {
    const code = errorCode(error);
    const retryAfterSeconds = this.options.verification.retryAfterSeconds;
    switch (code) {
      case 'OIDC_CC_TOKEN_MISSING':
        return { status: 401, description: 'Bearer token required' };
      case 'OIDC_CC_BEARER_REQUEST_INVALID':
        return {
          status: 400,
          error: 'invalid_request',
          description: 'Malformed bearer token request',
        };
      case 'OIDC_CC_INSUFFICIENT_SCOPE':
        return {
          status: 403,
          error: 'insufficient_scope',
          description: 'The access token lacks a required scope',
          scope: error instanceof InsufficientScopeError ? error.requiredScopes : undefined,
        };
      case 'OIDC_CC_CLIENT_NOT_ALLOWED':
        return {
          status: 403,
          error: 'insufficient_scope',
          description: 'The client is not allowed to call this service',
        };
      case 'OIDC_CC_TOKEN_INVALID':
      case 'OIDC_CC_TOKEN_EXPIRED':
      case 'OIDC_CC_TOKEN_INACTIVE':
      case 'OIDC_CC_TOKEN_MALFORMED':
        return {
          status: 401,
          error: 'invalid_token',
          description: INVALID_TOKEN_DESCRIPTIONS[code] ?? 'The access token is invalid',
        };
    }
    return {
      status: 503,
      description: 'Token verification is temporarily unavailable',
      retryAfterSeconds,
    };
  }

  /**
   * Sets `WWW-Authenticate` (or `Retry-After` for 503) on the response, logs the error's code
   * (never its message, which could quote the token) and returns the exception to throw.
   *
   * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
   */
  protected challenge(error: unknown, context: ExecutionContext): HttpException {
    if (error instanceof HttpException) return error;
    const answer = this.answerFor(error);
    this.logRefusal(error, answer);
    const [name, value] = this.challengeHeader(answer);
    setHeader(context.switchToHttp().getResponse<object>(), name, value);
    return new HttpException(
      {
        statusCode: answer.status,
        error: answer.error ?? (answer.status === 503 ? 'Service Unavailable' : 'Unauthorized'),
        message: answer.description,
      },
      answer.status,
    );
  }

  /**
   * GraphQL, microservice and WebSocket requests: {@link checkRequest}, as for HTTP, with the token
   * where the transport carries it ({@link extractTransportToken}) and the transport's own refusal
   * ({@link transportRefusal}). Any other context type is denied.
   */
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
    let parts: BearerRequestParts | undefined;
    if (transport === 'graphql') parts = graphqlBearerParts(context);
    else if (transport === 'rpc') parts = rpcBearerParts(context);
    else parts = this.handshakeParts(context.switchToWs().getClient<unknown>());
    if (parts === undefined) return undefined;
    return extractBearerToken(parts, {
      locations: transportLocations(transport, this.options.verification.tokenLocations),
      maxTokenLength: this.options.verification.maxTokenLength,
    });
  }

  /**
   * The error a refused GraphQL, microservice or WebSocket request gets, carrying
   * {@link refusalFor}: a {@link GraphqlRefusalError}, an `RpcException` or a `WsException`. A
   * gRPC call's `RpcException` carries a {@link GrpcRefusal} instead, which @grpc/grpc-js sends
   * as the call's status and trailers.
   */
  protected async transportRefusal(
    error: unknown,
    transport: GuardedTransport,
    context?: ExecutionContext,
  ): Promise<Error> {
    let answer: BearerAnswer;
    if (error instanceof HttpException) {
      answer = { status: error.getStatus(), description: sanitizeForLog(error.message) ?? '' };
    } else {
      answer = this.answerFor(error);
      this.logRefusal(error, answer);
    }
    const refusal = this.refusalFor(answer);
    if (transport === 'graphql') {
      return new GraphqlRefusalError(refusal, new Map([this.challengeHeader(answer)]));
    }
    if (transport === 'ws') return new (await wsException())(refusal);
    const RpcException = await rpcException();
    const callMetadata = context === undefined ? undefined : grpcCallMetadata(context);
    if (callMetadata === undefined) return new RpcException(refusal);
    const [name, value] = this.challengeHeader(answer);
    const grpcRefusal: GrpcRefusal = {
      code: GRPC_STATUS_CODES[refusal.code],
      details: refusal.message,
      metadata: grpcTrailers(callMetadata, name.toLowerCase(), value),
      refusal,
    };
    return new RpcException(grpcRefusal);
  }

  /** The HTTP answer as data, for the transports that have no headers. */
  protected refusalFor(answer: BearerAnswer): TransportRefusal {
    const refusal: TransportRefusal = {
      status: 'error',
      code: REFUSAL_CODES[answer.status] ?? 'SERVICE_UNAVAILABLE',
      statusCode: answer.status,
      message: answer.description,
    };
    if (answer.error) refusal.error = answer.error;
    if (answer.scope && answer.scope.length > 0) refusal.scope = answer.scope.join(' ');
    if (answer.status === 503) refusal.retryAfterSeconds = wholeRetryAfterSeconds(answer);
    return refusal;
  }

  /** Unknown context types: deny rather than let requests through. */
  protected denyUnsupportedContext(context: ExecutionContext): boolean {
    const type = context.getType();
    if (!this.warnedContextTypes.has(type)) {
      this.warnedContextTypes.add(type);
      this.logger.warn(
        `ClientTokenGuard denies "${sanitizeForLog(type, 40)}" requests: only http, graphql, rpc and ws are supported`,
      );
    }
    return false;
  }

  /** `WWW-Authenticate` with the RFC 6750 challenge, or `Retry-After` for 503. */
  private challengeHeader(answer: BearerAnswer): [string, string] {
    if (answer.status === 503) {
      return ['Retry-After', String(wholeRetryAfterSeconds(answer))];
    }
    return [
      'WWW-Authenticate',
      buildBearerChallenge({
        realm: this.realm,
        error: answer.error,
        errorDescription: answer.description,
        scope: answer.scope,
      }),
    ];
  }

  private handshakeParts(client: unknown): BearerRequestParts | undefined {
    const parts = wsBearerParts(client);
    if (parts === undefined && !this.warnedMissingHandshake) {
      this.warnedMissingHandshake = true;
      this.logger.warn(
        'A WebSocket message was refused: its client has no handshake to read a token from (with @nestjs/platform-ws, call attachHandshake(client, request) in handleConnection)',
      );
    }
    return parts;
  }

  private logRefusal(error: unknown, answer: BearerAnswer): void {
    const code = errorCode(error);
    if (this.events?.observed('verification.failed')) {
      this.events.emit('verification.failed', {
        code: code ?? 'UNEXPECTED_ERROR',
        status: answer.status,
      });
    }
    if (answer.status < 500) {
      this.logger.debug?.(`Bearer token refused with ${answer.status}: ${code}`);
    } else if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
      this.logger.warn(`Token verification unavailable (${code}); answered 503`);
    } else {
      const name = error instanceof Error ? sanitizeForLog(error.name, 60) : typeof error;
      this.logger.error(
        `Unexpected ${name}${code ? ` (${code})` : ''} while verifying a bearer token; answered 503`,
      );
    }
  }
}

interface RoutePolicy extends RouteAccessPolicy {
  verifyWith: VerifyWithStrategy | undefined;
  /** The `verifyWith` strategy, once resolved. */
  strategy?: TokenVerificationStrategy;
}

type ExceptionClass = new (error: string | object) => Error;
let rpcExceptionClass: Promise<ExceptionClass> | undefined;
let wsExceptionClass: Promise<ExceptionClass> | undefined;

/**
 * Nest's RPC filter answers only an `RpcException` with its payload (anything else becomes
 * "Internal server error"), so the app's own copy is loaded, once, when a message is refused.
 */
function rpcException(): Promise<ExceptionClass> {
  return (rpcExceptionClass ??= import('@nestjs/microservices').then((m) => m.RpcException));
}

/** As {@link rpcException}, for Nest's WebSocket filter and `WsException`. */
function wsException(): Promise<ExceptionClass> {
  return (wsExceptionClass ??= import('@nestjs/websockets').then((m) => m.WsException));
}

/** A 503 answer's `Retry-After`, in whole seconds as the header and the refusals carry it. */
function wholeRetryAfterSeconds(answer: BearerAnswer): number {
  return Math.ceil(answer.retryAfterSeconds ?? 1);
}

function isExecutionContext(value: object): value is ExecutionContext {
  const context = value as Partial<ExecutionContext>;
  return (
    typeof context.getType === 'function' &&
    typeof context.getHandler === 'function' &&
    typeof context.switchToHttp === 'function'
  );
}

function isVerifiedToken(value: unknown): value is VerifiedToken {
  if (typeof value !== 'object' || value === null) return false;
  const token = value as Partial<VerifiedToken>;
  return (
    typeof token.clientId === 'string' &&
    token.clientId.length > 0 &&
    Array.isArray(token.scopes) &&
    token.scopes.every((scope) => typeof scope === 'string') &&
    (token.subject === undefined || typeof token.subject === 'string') &&
    (token.expiresAt === undefined || Number.isFinite(token.expiresAt)) &&
    typeof token.claims === 'object' &&
    token.claims !== null
  );
}

function setHeader(response: object, name: string, value: string): void {
  const res = response as {
    header?: (name: string, value: string) => unknown;
    setHeader?: (name: string, value: string) => unknown;
  };
  // Fastify's reply and Express's response both have header(); a bare Node response setHeader().
  if (typeof res.header === 'function') res.header(name, value);
  else if (typeof res.setHeader === 'function') res.setHeader(name, value);
}

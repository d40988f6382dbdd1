import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { BearerRequestError } from '../../errors/bearer-request.error.js';
import { OidcClientCredentialsEvents } from '../../observability/oidc-client-credentials-events.provider.js';
import {
  OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS,
  type ResolvedOptions,
} from '../../options/resolved-options.js';
import { TokenVerificationStrategy } from '../../strategies/token-verification.strategy.js';
import type { VerifiedToken } from '../../strategies/verified-token.interface.js';
import { bearerAnswerFor, reportRefusal } from '../bearer-answer.js';
import { extractBearerToken } from '../bearer-token.util.js';
import { checkRequirements } from '../route-policy.util.js';
import { checkedVerifiedToken } from '../verified-tokens.js';
import { headerValues, isObject } from './header-values.js';

/** graphql-ws' close code for a connection it refuses, used for an expired token too. */
const FORBIDDEN = 4403;
/** RFC 6455 "Try Again Later": the ID service could not be asked; the client retries. */
const TRY_AGAIN_LATER = 1013;
const WEBSOCKET_OPEN = 1;
/** The longest delay `setTimeout` keeps (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;
const MESSAGE_LOCATIONS = ['header'] as const;

/**
 * What a connection hook receives: graphql-ws' `Context` (the `connection_init` payload as
 * `connectionParams`; `extra.socket` the WebSocket with the `ws` integration), or Mercurius'
 * `connection_init` message (its `payload`).
 */
export interface GraphqlWsConnection {
  /** graphql-ws: the `connection_init` payload. */
  readonly connectionParams?: unknown;
  /** graphql-ws: what the server integration passes, `{ socket, request }` with `ws`. */
  readonly extra?: unknown;
  /** Mercurius: the `connection_init` payload. */
  readonly payload?: unknown;
}

/** The part of a WebSocket (`ws`, or another with the same API) a connection is closed with. */
interface ClosableSocket {
  close(code: number, reason: string): void;
  readonly readyState?: number;
}

/**
 * Authenticates GraphQL-over-WebSocket connections once, at `connection_init`: the payload's
 * `authorization` member (`Bearer <token>`, as an `Authorization` header) is verified with the
 * module's strategy and checked against `verification.allowedClientIds` and
 * `verification.requireSubjectIsClient`. Plug {@link onConnect} (and {@link onClose}) into the
 * server's hooks; `ClientTokenGuard` still checks each operation of the connection against its
 * resolver's requirements (`@RequireScopes()`, …) and gives `@ClientId()` the token.
 *
 * With graphql-ws (@nestjs/apollo's `subscriptions['graphql-ws']`), a refused connection is closed
 * with graphql-ws' `4403 Forbidden`, or `1013 Try Again Later` when the ID service cannot be asked;
 * an accepted one is closed with `4403` and the reason `Token expired` when its token expires (a
 * graphql-ws client reconnects then, calling `connectionParams` again for a fresh token). Mercurius
 * answers a refused `connection_init` with its own `connection_error` and closes the socket; its
 * hook has no socket to close when the token expires, so the guard refuses the operations that
 * start after that instead.
 *
 * @example
 * GraphQLModule.forRootAsync<ApolloDriverConfig>({
 *   driver: ApolloDriver,
 *   inject: [TokenVerificationStrategy, OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS],
 *   useFactory: (strategy: TokenVerificationStrategy, options: ResolvedOptions) => {
 *     const connections = new GraphqlWsAuthentication(strategy, options);
 *     return {
 *       typePaths: ['./**\/*.graphql'],
 *       subscriptions: {
 *         'graphql-ws': { onConnect: connections.onConnect, onClose: connections.onClose },
 *       },
 *     };
 *   },
 * });
 * @see https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md#connectioninit
 */
@Injectable()
export class GraphqlWsAuthentication {
  protected readonly logger = new Logger(GraphqlWsAuthentication.name);
  private readonly expiryTimers = new WeakMap<object, NodeJS.Timeout>();

  constructor(
    protected readonly strategy: TokenVerificationStrategy,
    @Inject(OIDC_CLIENT_CREDENTIALS_RESOLVED_OPTIONS) protected readonly options: ResolvedOptions,
    @Optional() protected readonly events?: OidcClientCredentialsEvents,
  ) {}

  /**
   * The `onConnect` hook of graphql-ws or Mercurius: `true` accepts the connection, `false`
   * refuses it. Never throws, and never lets the token into a close reason or a log line.
   */
  readonly onConnect = async (connection: GraphqlWsConnection): Promise<boolean> => {
    const socket = closableSocket(connection);
    try {
      const verified = await this.checkConnection(connectionParams(connection));
      if (socket !== undefined) this.closeWhenExpired(connection, socket, verified.expiresAt);
      return true;
    } catch (error) {
      const answer = bearerAnswerFor(error, this.options.verification.retryAfterSeconds);
      reportRefusal(error, answer, this.logger, this.events);
      if (answer.status === 503) socket?.close(TRY_AGAIN_LATER, 'Try again later');
      return false;
    }
  };

  /** graphql-ws' `onClose` hook: forgets the connection's expiry timer. */
  readonly onClose = (connection: GraphqlWsConnection): void => {
    const timer = this.expiryTimers.get(connection);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.expiryTimers.delete(connection);
  };

  /**
   * Extract → verify → the service's requirements, for a connection's `connection_init` payload.
   * Throws what the guard would answer with (no token, malformed, invalid, not allowed, the ID
   * service unavailable).
   */
  protected async checkConnection(params: unknown): Promise<VerifiedToken> {
    const { maxTokenLength, clockToleranceSeconds } = this.options.verification;
    const authorization = Array.isArray(params) ? [] : headerValues(params);
    const parts = { method: 'MESSAGE', authorization, url: '' };
    const token = extractBearerToken(parts, { locations: MESSAGE_LOCATIONS, maxTokenLength });
    if (token === undefined) {
      throw new BearerRequestError('OIDC_CC_TOKEN_MISSING', 'missing', 'No bearer token');
    }
    const verified = checkedVerifiedToken(await this.strategy.verify(token), clockToleranceSeconds);
    checkRequirements(verified, this.options.verification, []);
    if (this.events?.observed('verification.succeeded')) {
      this.events.emit('verification.succeeded', { clientId: verified.clientId });
    }
    return verified;
  }

  /**
   * Closes the socket once the token has expired (its `exp` plus the clock tolerance: when the
   * guard would refuse it), on a timer that does not keep the process alive.
   */
  private closeWhenExpired(
    connection: object,
    socket: ClosableSocket,
    expiresAt: number | undefined,
  ): void {
    if (expiresAt === undefined) return;
    if (socket.readyState !== undefined && socket.readyState !== WEBSOCKET_OPEN) return;
    const deadline = (expiresAt + this.options.verification.clockToleranceSeconds) * 1000;
    const arm = (): void => {
      const delay = Math.min(Math.max(deadline - Date.now(), 0), MAX_TIMER_DELAY);
      const timer = setTimeout(() => {
        if (Date.now() < deadline) return arm();
        this.expiryTimers.delete(connection);
        this.logger.debug?.('A GraphQL WebSocket connection was closed: its token expired');
        socket.close(FORBIDDEN, 'Token expired');
      }, delay);
      timer.unref?.();
      this.expiryTimers.set(connection, timer);
    };
    arm();
  }
}

/** The `connection_init` payload: graphql-ws' `connectionParams`, or Mercurius' `payload`. */
function connectionParams(connection: GraphqlWsConnection): unknown {
  if (!isObject(connection)) return undefined;
  return 'extra' in connection ? connection.connectionParams : connection.payload;
}

/** The WebSocket of a graphql-ws connection (`extra.socket`), when it can be closed. */
function closableSocket(connection: GraphqlWsConnection): ClosableSocket | undefined {
  if (!isObject(connection) || !isObject(connection.extra)) return undefined;
  const { socket } = connection.extra as { socket?: unknown };
  return isObject(socket) && typeof (socket as Partial<ClosableSocket>).close === 'function'
    ? (socket as ClosableSocket)
    : undefined;
}

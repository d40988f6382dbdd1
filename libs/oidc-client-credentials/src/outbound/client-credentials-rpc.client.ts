import {
  catchError,
  connectable,
  defer,
  Subject,
  switchMap,
  tap,
  throwError,
  type Observable,
} from 'rxjs';
import { ConfigurationError } from '../errors/configuration.error.js';
import {
  RPC_TOKEN_TRANSPORTS,
  withAuthorization,
  type RpcTokenTransport,
} from './rpc-message-authorization.util.js';
import type { TokenProvider } from './token.provider.js';

export type { RpcTokenTransport };

/** The part of a Nest `ClientProxy` that {@link ClientCredentialsRpcClient} calls. */
export interface RpcClient {
  send<TResult = unknown, TInput = unknown>(pattern: unknown, data: TInput): Observable<TResult>;
  emit<TResult = unknown, TInput = unknown>(pattern: unknown, data: TInput): Observable<TResult>;
}

/** Options of {@link ClientCredentialsRpcClient}. */
export interface ClientCredentialsRpcOptions {
  /**
   * The transport of the wrapped client, which says where the token goes: `'nats'` message
   * headers, `'rmq'` message headers, `'mqtt'` MQTT 5 user properties (`protocolVersion: 5` on
   * the client and the microservice), `'redis'` and `'tcp'` the payload's `authorization` member.
   */
  transport: RpcTokenTransport;
}

/**
 * A Nest `ClientProxy` (NATS, RabbitMQ, MQTT 5, Redis, TCP) that sends this service's access
 * token with every message, as `Bearer <token>` where the transport carries metadata, else in the
 * payload (see {@link ClientCredentialsRpcOptions.transport}); a microservice guarded by
 * `ClientTokenGuard` reads it there. The token comes from a `TokenProvider`, cached and renewed
 * ahead of expiry.
 *
 * When `send()` is refused because the token is not valid (`UNAUTHENTICATED` with
 * `invalid_token`), that token is dropped and the message is sent once more with a new one: the
 * guard refuses before the handler runs, so the handler runs at most once. A second refusal, any
 * other refusal (`FORBIDDEN`, `SERVICE_UNAVAILABLE`, `BAD_REQUEST`) and the handler's own errors
 * reach the caller as they come, the refusal as the `TransportRefusal` payload. An `emit()`
 * gets no answer, so it is never repeated.
 *
 * @example
 * const orders = new ClientCredentialsRpcClient(client, tokenProvider, { transport: 'nats' });
 * const list = await firstValueFrom(orders.send('orders.list', { page: 1 }));
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-2.1
 */
export class ClientCredentialsRpcClient {
  private readonly transport: RpcTokenTransport;

  /**
   * @param client the `ClientProxy` to send with (from `ClientsModule` or `ClientProxyFactory`).
   * @param tokenProvider the `TokenProvider` (or a named client's) whose token is sent.
   * @throws ConfigurationError for a transport this helper cannot put a token in, and for a
   *   client with the `dpop` option: a DPoP proof is for an HTTP method and URL (RFC 9449 §4.2),
   *   which a message has not, so a DPoP-bound token cannot be sent meaningfully here.
   */
  constructor(
    private readonly client: RpcClient,
    private readonly tokenProvider: Pick<TokenProvider, 'getToken' | 'invalidate'>,
    options: ClientCredentialsRpcOptions,
  ) {
    const transport = (options as Partial<ClientCredentialsRpcOptions> | undefined)?.transport;
    if (transport === undefined || !RPC_TOKEN_TRANSPORTS.includes(transport)) {
      throw new ConfigurationError(
        'transport',
        `must be one of ${RPC_TOKEN_TRANSPORTS.map((name) => `'${name}'`).join(', ')} (a gRPC call takes the token in its metadata)`,
      );
    }
    if ((tokenProvider as Partial<Pick<TokenProvider, 'dpopEnabled'>>).dpopEnabled === true) {
      throw new ConfigurationError(
        'tokenProvider',
        'requests DPoP-bound tokens (dpop option), which a message cannot carry with a proof (no HTTP method and URL); use a named client without dpop for messages',
      );
    }
    this.transport = transport;
  }

  /**
   * Sends a message with the token and answers the handler's result, as `ClientProxy.send()`
   * (cold: nothing is sent until subscribed). Repeated once with a new token if the token was
   * refused as invalid.
   */
  send<TResult = unknown, TInput = unknown>(pattern: unknown, data: TInput): Observable<TResult> {
    return defer(() => this.tokenProvider.getToken()).pipe(
      switchMap((token) => {
        let answered = false;
        return this.sendWith<TResult>(pattern, data, token).pipe(
          tap(() => (answered = true)),
          catchError((error: unknown) =>
            answered || !isRefusedToken(error)
              ? throwError(() => error)
              : this.sendWithNewToken<TResult>(pattern, data, token, error),
          ),
        );
      }),
    );
  }

  /**
   * Emits an event with the token, as `ClientProxy.emit()` (hot: sent at once, whether or not
   * the result is subscribed to; it completes once the transport has taken the event).
   */
  emit<TResult = unknown, TInput = unknown>(pattern: unknown, data: TInput): Observable<TResult> {
    const dispatched = connectable(
      defer(() => this.tokenProvider.getToken()).pipe(
        switchMap((token) => withAuthorization(this.transport, data, bearer(token))),
        switchMap((message) => this.client.emit<TResult>(pattern, message)),
      ),
      { connector: () => new Subject<TResult>(), resetOnDisconnect: false },
    );
    dispatched.connect();
    return dispatched;
  }

  private sendWith<TResult>(pattern: unknown, data: unknown, token: string): Observable<TResult> {
    return defer(() => withAuthorization(this.transport, data, bearer(token))).pipe(
      switchMap((message) => this.client.send<TResult>(pattern, message)),
    );
  }

  /**
   * The one repetition: without a new token (the token provider drops a refused token at most
   * once per 30 s), the refusal is the answer.
   */
  private sendWithNewToken<TResult>(
    pattern: unknown,
    data: unknown,
    refused: string,
    refusal: unknown,
  ): Observable<TResult> {
    this.tokenProvider.invalidate(refused);
    return defer(() => this.tokenProvider.getToken()).pipe(
      switchMap((token) =>
        token === refused
          ? throwError(() => refusal)
          : this.sendWith<TResult>(pattern, data, token),
      ),
    );
  }
}

function bearer(token: string): string {
  return `Bearer ${token}`;
}

/** A `TransportRefusal` of a token the guard found invalid (expired, revoked, badly signed). */
function isRefusedToken(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const refusal = error as { status?: unknown; code?: unknown; error?: unknown };
  return (
    refusal.status === 'error' &&
    refusal.code === 'UNAUTHENTICATED' &&
    refusal.error === 'invalid_token'
  );
}

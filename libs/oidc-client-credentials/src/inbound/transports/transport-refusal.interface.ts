import type { DpopErrorCode } from '../www-authenticate.util.js';

/**
 * Transport-neutral kind of a refusal, the `code` of {@link TransportRefusal} and of a GraphQL
 * error's `extensions`: 401 `UNAUTHENTICATED`, 403 `FORBIDDEN`, 400 `BAD_REQUEST`, 503
 * `SERVICE_UNAVAILABLE` (try again later; nothing is wrong with the token).
 */
export type TransportRefusalCode =
  'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_REQUEST' | 'SERVICE_UNAVAILABLE';

/**
 * What `ClientTokenGuard` answers a refused GraphQL, microservice or WebSocket request: the
 * RFC 6750 answer an HTTP client would get, as data. It is the `RpcException` / `WsException`
 * payload as is (`status: 'error'` as Nest's own filters send), and the GraphQL error's
 * `extensions` minus `status`. Never contains the token.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export interface TransportRefusal {
  /** `'error'`, as Nest's RPC and WebSocket exception filters answer. */
  status: 'error';
  /** Stable kind of refusal. */
  code: TransportRefusalCode;
  /** The HTTP status the same request would get: 400, 401, 403 or 503. */
  statusCode: number;
  /** RFC 6750 error code (RFC 9449's for DPoP proofs); absent without credentials and for 503. */
  error?: DpopErrorCode;
  /** Short fixed text, the HTTP answer's `error_description`. */
  message: string;
  /** Required scopes, space-separated, with `insufficient_scope`. */
  scope?: string;
  /** Seconds to wait before retrying, with `SERVICE_UNAVAILABLE`. */
  retryAfterSeconds?: number;
}

/**
 * What a refused gRPC call's `RpcException` carries: the call's status as @grpc/grpc-js sends it
 * (`code`, `details`, trailing `metadata`), and the {@link TransportRefusal} for exception filters
 * and interceptors (not sent to the caller).
 */
export interface GrpcRefusal {
  /**
   * gRPC status code: 16 `UNAUTHENTICATED`, 7 `PERMISSION_DENIED` (`FORBIDDEN`), 3
   * `INVALID_ARGUMENT` (`BAD_REQUEST`), 14 `UNAVAILABLE` (`SERVICE_UNAVAILABLE`).
   */
  code: number;
  /** The refusal's `message`, the status details a gRPC caller reads. */
  details: string;
  /**
   * The trailers, a gRPC `Metadata`: `www-authenticate` with the RFC 6750 challenge (`error`,
   * `error_description`, `scope`), or `retry-after` in seconds with 14 `UNAVAILABLE`.
   */
  metadata?: object;
  /** The refusal other transports get. */
  refusal: TransportRefusal;
}

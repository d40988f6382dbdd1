import type { ExecutionContext } from '@nestjs/common';
import type { TokenLocation } from '../../options/oidc-client-credentials-options.interface.js';
import type { BearerAnswer, ChallengeHeader } from '../bearer-answer.js';
import type { BearerRequestParts } from '../bearer-token.util.js';
import type { TransportRefusal } from './transport-refusal.interface.js';

/** A refused request, in each form a transport may answer it with. */
export interface Refusal {
  /** The HTTP answer: status, RFC 6750 error code and description. */
  answer: BearerAnswer;
  /** `WWW-Authenticate` with the challenge, or `Retry-After` for 503. */
  header: ChallengeHeader;
  /** Further headers of an HTTP answer: `DPoP-Nonce` with `use_dpop_nonce`. */
  headers?: readonly ChallengeHeader[];
  /** The answer as data, for transports without headers. */
  payload: TransportRefusal;
}

/**
 * What `ClientTokenGuard` needs to know of one execution context type (`http`, `graphql`, `rpc`,
 * `ws`): where its requests carry a bearer token, which object the verified token is kept for,
 * and which error a refusal becomes. The guard runs the same steps for every transport.
 */
export interface TransportAdapter {
  /** The token locations that make sense for the transport, out of the configured ones. */
  locations(configured: readonly TokenLocation[]): readonly TokenLocation[];
  /**
   * The parts of the request that can carry a bearer token, or `undefined` when the context has
   * nothing to read them from (the request is then refused as one without a token). Throws for
   * credentials that are present but malformed.
   */
  bearerParts(context: ExecutionContext): BearerRequestParts | undefined;
  /** Logged once when {@link bearerParts} finds nothing to read: how to fix the app. */
  readonly missingPartsWarning?: string;
  /**
   * The object the verified token is kept for, where the parameter decorators find it: the
   * request, the message's context, the socket client.
   */
  carrier(context: ExecutionContext): object | undefined;
  /**
   * Whether the carrier outlives one request (a WebSocket client serves every message of its
   * connection), so its verified tokens are kept per handler.
   */
  readonly carrierOutlivesRequest: boolean;
  /**
   * The HTTP request the context came in (an HTTP request, a GraphQL operation over HTTP), where a
   * DPoP proof and a client certificate are read; absent for transports that carry neither.
   */
  httpRequest?(context: ExecutionContext): object | undefined;
  /** The error the transport throws for a refused request; never contains the token. */
  refuse(refusal: Refusal, context: ExecutionContext | undefined): Error | Promise<Error>;
}

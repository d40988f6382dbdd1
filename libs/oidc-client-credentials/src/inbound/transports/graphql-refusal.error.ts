import { IntrinsicException } from '@nestjs/common';
import type { TransportRefusal } from './transport-refusal.interface.js';

/** The `extensions` of a {@link GraphqlRefusalError}. */
export interface GraphqlRefusalExtensions extends Omit<TransportRefusal, 'status' | 'message'> {
  /**
   * Read by Apollo Server (status and headers of the HTTP response, `WWW-Authenticate` or
   * `Retry-After`) and removed from the error it sends. Present only for an operation that came
   * with an HTTP request and no Fastify reply to set the header on (Apollo); absent for Mercurius,
   * which would send it as is, and over a WebSocket, where there is no HTTP response.
   */
  http?: { status: number; headers: Map<string, string> };
}

/**
 * What `ClientTokenGuard` throws for a refused GraphQL operation. graphql-js copies its
 * `extensions` into the `GraphQLError` the client receives (`code` `UNAUTHENTICATED`,
 * `FORBIDDEN`, `BAD_REQUEST` or `SERVICE_UNAVAILABLE`); Apollo Server takes the HTTP status and
 * challenge header from `extensions.http`, Mercurius the status from `statusCode` when the
 * response has no `data`. An `IntrinsicException`, so Nest does not log it as an unexpected
 * error; not an `HttpException`, so @nestjs/apollo keeps its code.
 *
 * @see https://www.apollographql.com/docs/apollo-server/data/errors#setting-http-status-code-and-headers
 */
export class GraphqlRefusalError extends IntrinsicException {
  /** Copied by graphql-js into the `GraphQLError` sent to the client. */
  readonly extensions: GraphqlRefusalExtensions;
  /** The HTTP status the same request would get (400, 401, 403 or 503), as Mercurius reads it. */
  readonly statusCode: number;

  /**
   * @param refusal the answer as data; its `message` is the error's message
   * @param headers the challenge (or `Retry-After`) for Apollo Server to send; omit it where
   *   nothing reads `extensions.http`
   */
  constructor(refusal: TransportRefusal, headers?: Map<string, string>) {
    super(refusal.message);
    this.name = 'GraphqlRefusalError';
    this.statusCode = refusal.statusCode;
    const { status, message, ...rest } = refusal;
    void status;
    void message;
    this.extensions =
      headers === undefined ? rest : { ...rest, http: { status: refusal.statusCode, headers } };
  }
}

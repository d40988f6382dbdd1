import { IntrinsicException } from '@nestjs/common';
import type { TransportRefusal } from './transport-refusal.interface.js';

/** The `extensions` of a {@link GraphqlRefusalError}. */
export interface GraphqlRefusalExtensions extends Omit<TransportRefusal, 'status' | 'message'> {
  /**
   * Read by Apollo Server (status and headers of the HTTP response, `WWW-Authenticate` or
   * `Retry-After`) and removed from the error it sends.
   */
  http: { status: number; headers: Map<string, string> };
}

/**
 * What `ClientTokenGuard` throws for a refused GraphQL operation. graphql-js copies its
 * `extensions` into the `GraphQLError` the client receives (`code` `UNAUTHENTICATED`,
 * `FORBIDDEN`, `BAD_REQUEST` or `SERVICE_UNAVAILABLE`), and Apollo Server takes the HTTP status
 * and challenge header from `extensions.http`. An `IntrinsicException`, so Nest does not log it as
 * an unexpected error; not an `HttpException`, so @nestjs/apollo keeps its code.
 *
 * @see https://www.apollographql.com/docs/apollo-server/data/errors#setting-http-status-code-and-headers
 */
export class GraphqlRefusalError extends IntrinsicException {
  /** Copied by graphql-js into the `GraphQLError` sent to the client. */
  readonly extensions: GraphqlRefusalExtensions;

  constructor(refusal: TransportRefusal, headers: Map<string, string>) {
    super(refusal.message);
    this.name = 'GraphqlRefusalError';
    const { status, message, ...rest } = refusal;
    void status;
    void message;
    this.extensions = { ...rest, http: { status: refusal.statusCode, headers } };
  }
}

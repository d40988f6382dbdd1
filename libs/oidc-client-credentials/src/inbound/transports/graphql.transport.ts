import type { ExecutionContext } from '@nestjs/common';
import { bearerRequestParts } from '../bearer-token.util.js';
import { GraphqlRefusalError } from './graphql-refusal.error.js';
import { isObject } from './header-values.js';
import type { TransportAdapter } from './transport-adapter.interface.js';

/**
 * GraphQL operations: the token of the HTTP request the operation arrived with, read as an HTTP
 * request is (same `tokenLocations`), kept for that request; a refusal becomes a
 * {@link GraphqlRefusalError} carrying the status and the challenge header for Apollo Server.
 */
export const graphqlTransport = {
  locations: (configured) => configured,
  bearerParts(context) {
    const request = graphqlRequest(context);
    return request === undefined ? undefined : bearerRequestParts(request);
  },
  carrier(context) {
    const gqlContext: unknown = context.getArgs()[2];
    return graphqlRequest(context) ?? (isObject(gqlContext) ? gqlContext : undefined);
  },
  carrierOutlivesRequest: false,
  refuse: ({ payload, header }) => new GraphqlRefusalError(payload, new Map([header])),
} satisfies TransportAdapter;

/**
 * The HTTP request a GraphQL operation arrived with: `req` of the GraphQL context (what
 * `GqlExecutionContext.create(context).getContext().req` returns; @nestjs/apollo sets it on Express
 * and Fastify), or Mercurius' `reply.request`. Read without importing @nestjs/graphql: a resolver's
 * arguments are `[root, args, context, info]`.
 */
export function graphqlRequest(context: ExecutionContext): object | undefined {
  const gqlContext: unknown = context.getArgs()[2];
  if (!isObject(gqlContext)) return undefined;
  const { req, reply } = gqlContext as { req?: unknown; reply?: { request?: unknown } };
  if (isObject(req)) return req;
  return isObject(reply) && isObject(reply.request) ? reply.request : undefined;
}

import type { ExecutionContext } from '@nestjs/common';
import { bearerRequestParts, type BearerRequestParts } from '../bearer-token.util.js';
import { GraphqlRefusalError } from './graphql-refusal.error.js';
import { headerValues, isObject } from './header-values.js';
import type { TransportAdapter } from './transport-adapter.interface.js';

/**
 * Where a GraphQL operation's credentials are: the HTTP request it arrived with, or the WebSocket
 * connection it came over (a subscription, or any operation sent over graphql-ws), whose
 * credentials are `headers`: graphql-ws' `connectionParams`, or the headers Mercurius fills from
 * the `connection_init` payload.
 */
type GraphqlOperation =
  | { over: 'http'; gqlContext: object; request: object }
  | { over: 'connection'; gqlContext: object; headers: unknown }
  | { over: 'nothing'; gqlContext: object };

/** What a `Fastify` reply offers to set a header; Mercurius puts the reply in the context. */
interface HeaderSettingReply {
  header(name: string, value: string): unknown;
}

/**
 * GraphQL operations: the token of the HTTP request the operation arrived with, read as an HTTP
 * request is (same `tokenLocations`), and kept for that request; over a WebSocket connection
 * (graphql-ws, Mercurius subscriptions), the `authorization` member of the connection's
 * `connection_init` payload, kept for the operation's own GraphQL context (the connection serves
 * every operation, guarded or public). A refusal becomes a {@link GraphqlRefusalError}; with an
 * HTTP request, it carries the challenge header for Apollo Server, or sets it on Mercurius' reply.
 */
export const graphqlTransport = {
  locations: (configured) => configured,
  bearerParts(context) {
    const operation = graphqlOperation(context);
    switch (operation?.over) {
      case 'http':
        return bearerRequestParts(operation.request);
      case 'connection':
        return connectionBearerParts(operation.headers);
      default:
        return undefined;
    }
  },
  carrier(context) {
    const operation = graphqlOperation(context);
    if (operation === undefined) return undefined;
    return operation.over === 'http' ? operation.request : operation.gqlContext;
  },
  carrierOutlivesRequest: false,
  httpRequest(context) {
    const operation = graphqlOperation(context);
    return operation?.over === 'http' ? operation.request : undefined;
  },
  refuse({ payload, header }, context) {
    const operation = context === undefined ? undefined : graphqlOperation(context);
    if (operation?.over !== 'http') return new GraphqlRefusalError(payload);
    const reply = fastifyReply(operation.gqlContext);
    if (reply === undefined) return new GraphqlRefusalError(payload, new Map([header]));
    reply.header(header[0], header[1]);
    return new GraphqlRefusalError(payload);
  },
} satisfies TransportAdapter;

/**
 * The HTTP request a GraphQL operation arrived with: `req` of the GraphQL context (what
 * `GqlExecutionContext.create(context).getContext().req` returns; @nestjs/apollo sets it on Express
 * and Fastify, @nestjs/mercurius too), or Mercurius' `reply.request`. Read without importing
 * @nestjs/graphql: a resolver's arguments are `[root, args, context, info]`. Over graphql-ws this is
 * the connection's context (@nestjs/apollo puts it in `req`), not a request.
 */
export function graphqlRequest(context: ExecutionContext): object | undefined {
  const gqlContext: unknown = context.getArgs()[2];
  if (!isObject(gqlContext)) return undefined;
  const { req, reply } = gqlContext as { req?: unknown; reply?: { request?: unknown } };
  if (isObject(req)) return req;
  return isObject(reply) && isObject(reply.request) ? reply.request : undefined;
}

/** Where the operation's credentials are, or `undefined` without a GraphQL context. */
function graphqlOperation(context: ExecutionContext): GraphqlOperation | undefined {
  const gqlContext: unknown = context.getArgs()[2];
  if (!isObject(gqlContext)) return undefined;
  const request = graphqlRequest(context);
  if (request === undefined) return { over: 'nothing', gqlContext };
  if (isGraphqlWsContext(request)) {
    return { over: 'connection', gqlContext, headers: request.connectionParams };
  }
  if (isWebSocketUpgrade(request)) {
    return { over: 'connection', gqlContext, headers: (request as { headers?: unknown }).headers };
  }
  return { over: 'http', gqlContext, request };
}

/**
 * The `authorization` values of a connection's credentials (any case of the name; each value
 * found, so a token sent twice is refused as malformed). A connection has no query string and no
 * form body.
 */
function connectionBearerParts(headers: unknown): BearerRequestParts {
  const authorization = Array.isArray(headers) ? [] : headerValues(headers);
  return { method: 'MESSAGE', authorization, url: '' };
}

/**
 * The context graphql-ws hands its hooks and, with @nestjs/apollo's default context, resolvers as
 * `req`: `connectionParams` is the `connection_init` payload, `extra` the server integration's.
 */
function isGraphqlWsContext(value: object): value is { connectionParams?: unknown } {
  const ctx = value as { extra?: unknown; subscriptions?: unknown; acknowledged?: unknown };
  return (
    isObject(ctx.extra) && isObject(ctx.subscriptions) && typeof ctx.acknowledged === 'boolean'
  );
}

/**
 * A WebSocket upgrade request: Mercurius' subscription requests (whose `headers` it fills from the
 * `connection_init` payload), or an upgrade request an app put in the context itself. It serves
 * every operation of its connection.
 */
function isWebSocketUpgrade(request: object): boolean {
  const { ws, headers } = request as { ws?: unknown; headers?: { upgrade?: unknown } };
  if (ws === true) return true;
  const upgrade = isObject(headers) ? headers.upgrade : undefined;
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}

/** Mercurius' reply in the GraphQL context of an operation over HTTP, else `undefined`. */
function fastifyReply(gqlContext: object): HeaderSettingReply | undefined {
  const { reply } = gqlContext as { reply?: unknown };
  return isObject(reply) && typeof (reply as Partial<HeaderSettingReply>).header === 'function'
    ? (reply as HeaderSettingReply)
    : undefined;
}

import type { ExecutionContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { BearerRequestError } from '../../errors/bearer-request.error.js';
import type { TokenLocation } from '../../options/oidc-client-credentials-options.interface.js';
import { bearerRequestParts, type BearerRequestParts } from '../bearer-token.util.js';

/** The execution context types besides `http` that `ClientTokenGuard` reads a bearer token from. */
export type GuardedTransport = 'graphql' | 'rpc' | 'ws';

/** The name under which every transport carries the credentials (`Authorization` in HTTP). */
const AUTHORIZATION = 'authorization';
const HANDSHAKE = Symbol('nest-oidc-client-credentials:handshake');
const GUARDED_TRANSPORTS: ReadonlySet<string> = new Set(['graphql', 'rpc', 'ws']);
const NO_LINES: readonly string[] = Object.freeze([]);
const HANDSHAKE_LOCATIONS: readonly TokenLocation[] = ['header', 'query'];
const MESSAGE_LOCATIONS: readonly TokenLocation[] = ['header'];

/** Whether the guard knows where a non-HTTP request of this context type keeps its token. */
export function isGuardedTransport(type: string): type is GuardedTransport {
  return GUARDED_TRANSPORTS.has(type);
}

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

/**
 * The bearer-relevant parts of a GraphQL operation's HTTP request, read as an HTTP request is
 * (same `tokenLocations`), or `undefined` when the GraphQL context has no request.
 */
export function graphqlBearerParts(context: ExecutionContext): BearerRequestParts | undefined {
  const request = graphqlRequest(context);
  return request === undefined ? undefined : bearerRequestParts(request);
}

/**
 * The `Authorization` values of a microservice message, wherever the transport keeps them:
 *
 * - the message's own metadata when the transport has some: gRPC metadata, NATS headers, Kafka
 *   headers, RabbitMQ message headers (`authorization`, any case);
 * - otherwise, and for TCP, Redis and MQTT, an `authorization` member of the payload object:
 *   `client.send('orders.list', { authorization: 'Bearer …', … })`.
 *
 * Every value found is returned, so a message carrying credentials twice is refused as malformed.
 * A value that is neither a string nor bytes is refused too (400 `invalid_request`).
 */
export function rpcBearerParts(context: ExecutionContext): BearerRequestParts {
  const rpc = context.switchToRpc();
  const lines = [...metadataValues(rpc.getContext()), ...payloadValues(rpc.getData())];
  return { method: 'MESSAGE', authorization: lines.length === 0 ? NO_LINES : lines, url: '' };
}

/**
 * The call's `Metadata` when a microservice message came over gRPC (Nest's RPC context of a gRPC
 * call is its metadata), else `undefined`.
 */
export function grpcCallMetadata(context: ExecutionContext): object | undefined {
  const rpcContext: unknown = context.switchToRpc().getContext();
  return isGrpcMetadata(rpcContext) ? rpcContext : undefined;
}

/**
 * Trailing metadata with one entry, built with the constructor of the call's own `Metadata` (the
 * app's @grpc/grpc-js, which the library does not import). `undefined` if that fails.
 */
export function grpcTrailers(
  callMetadata: object,
  name: string,
  value: string,
): object | undefined {
  try {
    const Metadata = callMetadata.constructor as new () => { set?: (k: string, v: string) => void };
    const trailers = new Metadata();
    if (typeof trailers.set !== 'function') return undefined;
    trailers.set(name, value);
    return trailers;
  } catch {
    return undefined;
  }
}

/**
 * The bearer-relevant parts of a WebSocket client's handshake: a Socket.IO socket's
 * `handshake` (its `Authorization` header or `auth.token`, the token alone), or the upgrade
 * request that {@link attachHandshake} kept on a `ws` client. `undefined` when there is neither.
 */
export function wsBearerParts(client: unknown): BearerRequestParts | undefined {
  if (!isObject(client)) return undefined;
  const kept = (client as { [HANDSHAKE]?: BearerRequestParts })[HANDSHAKE];
  if (kept) return kept;
  const { handshake, request } = client as { handshake?: unknown; request?: unknown };
  return isObject(handshake) ? socketIoParts(handshake as SocketIoHandshake, request) : undefined;
}

/** The token locations that make sense for a transport, out of the configured ones. */
export function transportLocations(
  transport: GuardedTransport,
  configured: readonly TokenLocation[],
): readonly TokenLocation[] {
  if (transport === 'graphql') return configured;
  if (transport === 'rpc') return MESSAGE_LOCATIONS;
  // A handshake has no body; browsers cannot set headers on it, hence the query when enabled.
  return configured.filter((location) => HANDSHAKE_LOCATIONS.includes(location));
}

/**
 * Keeps what `ClientTokenGuard` needs from a `ws` (@nestjs/platform-ws) connection's upgrade
 * request — its `Authorization` lines and URL, not the request itself — on the client, so that the
 * guard can check the handshake's bearer token on every message. Call it in the gateway's
 * `handleConnection`; Socket.IO clients keep their handshake already and need nothing.
 *
 * @example
 * handleConnection(client: WebSocket, request: IncomingMessage) {
 *   attachHandshake(client, request);
 * }
 */
export function attachHandshake(client: object, request: IncomingMessage): void {
  const parts = bearerRequestParts(request);
  const kept: BearerRequestParts = {
    method: 'GET',
    authorization: Object.freeze([...parts.authorization]),
    url: parts.url,
  };
  Object.defineProperty(client, HANDSHAKE, { value: Object.freeze(kept), configurable: true });
}

/**
 * The object the guard attaches the verified token to, where the parameter decorators find it:
 * the HTTP request (also a GraphQL operation's), the RPC message's context (one per message), or
 * the WebSocket client (whose handshake carried the token).
 */
export function verifiedTokenCarrier(context: ExecutionContext): object | undefined {
  switch (context.getType<string>()) {
    case 'http':
      return context.switchToHttp().getRequest<object>();
    case 'graphql':
      return graphqlRequest(context) ?? objectOrUndefined(context.getArgs()[2]);
    case 'rpc': {
      const rpc = context.switchToRpc();
      return objectOrUndefined(rpc.getContext()) ?? objectOrUndefined(rpc.getData());
    }
    case 'ws':
      return objectOrUndefined(context.switchToWs().getClient());
    default:
      return undefined;
  }
}

interface SocketIoHandshake {
  headers?: Record<string, string | string[] | undefined>;
  url?: string;
  auth?: Record<string, unknown>;
}

function socketIoParts(handshake: SocketIoHandshake, request: unknown): BearerRequestParts {
  // The handshake's headers are Node's `request.headers`, which keep only the first Authorization
  // line; the socket's request (the same HTTP request) has every line in `rawHeaders`.
  const lines =
    isObject(request) && Array.isArray((request as { rawHeaders?: unknown }).rawHeaders)
      ? [...bearerRequestParts(request).authorization]
      : headerValues(handshake.headers);
  const auth = handshake.auth;
  if (isObject(auth) && Object.hasOwn(auth, 'token')) {
    const token = auth.token;
    if (typeof token !== 'string') throw invalidValue('auth.token');
    lines.push(`Bearer ${token}`);
  }
  return { method: 'GET', authorization: lines, url: handshake.url ?? '/' };
}

function metadataValues(rpcContext: unknown): string[] {
  if (!isObject(rpcContext)) return [];
  // gRPC: the context is the call's Metadata (get() answers an array).
  if (isGrpcMetadata(rpcContext)) return headerValues(rpcContext.get(AUTHORIZATION));
  const ctx = rpcContext as { getHeaders?: () => unknown; getMessage?: () => unknown };
  // NATS: NatsContext.getHeaders() is the message's MsgHdrs, or undefined.
  if (typeof ctx.getHeaders === 'function') return headerValues(ctx.getHeaders());
  // Kafka: KafkaContext.getMessage().headers; RabbitMQ: RmqContext.getMessage().properties.headers.
  if (typeof ctx.getMessage === 'function') {
    const message = ctx.getMessage() as { headers?: unknown; properties?: { headers?: unknown } };
    if (!isObject(message)) return [];
    return headerValues(
      isObject(message.properties) ? message.properties.headers : message.headers,
    );
  }
  return [];
}

interface GrpcMetadataLike {
  get(key: string): unknown;
  getMap(): unknown;
}

function isGrpcMetadata(value: unknown): value is GrpcMetadataLike {
  if (!isObject(value)) return false;
  const metadata = value as Partial<GrpcMetadataLike>;
  return typeof metadata.get === 'function' && typeof metadata.getMap === 'function';
}

function payloadValues(data: unknown): string[] {
  if (!isObject(data) || Array.isArray(data) || !Object.hasOwn(data, AUTHORIZATION)) return [];
  const value = (data as Record<string, unknown>)[AUTHORIZATION];
  if (typeof value !== 'string') throw invalidValue('the payload');
  return [value];
}

/**
 * The `authorization` values of a header collection: a plain object (any case; arrays and bytes
 * accepted), something with `values(name)` (NATS) or `get(name)` (a Map), or the array gRPC's
 * `Metadata.get()` returns.
 */
function headerValues(headers: unknown): string[] {
  if (headers === undefined || headers === null) return [];
  if (Array.isArray(headers)) return headers.map((value) => headerText(value));
  if (!isObject(headers)) throw invalidValue('the message metadata');
  const collection = headers as {
    values?: (key: string) => unknown;
    get?: (key: string) => unknown;
  };
  if (typeof collection.values === 'function' && !(headers instanceof Map)) {
    // nats.js matches names exactly by default: the lower-case name, else the canonical one.
    const lines = listValues(collection.values(AUTHORIZATION));
    return lines.length > 0 ? lines : listValues(collection.values('Authorization'));
  }
  if (typeof collection.get === 'function') return listValues(collection.get(AUTHORIZATION));
  const lines: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.length === 13 && name.toLowerCase() === AUTHORIZATION) {
      lines.push(...listValues(value));
    }
  }
  return lines;
}

function listValues(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  return Array.isArray(value) ? value.map((v) => headerText(v)) : [headerText(value)];
}

function headerText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  throw invalidValue('the message metadata');
}

function invalidValue(where: string): BearerRequestError {
  return new BearerRequestError(
    'OIDC_CC_BEARER_REQUEST_INVALID',
    'not_a_string',
    `The credentials in ${where} are not a string`,
  );
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

function objectOrUndefined(value: unknown): object | undefined {
  return isObject(value) ? value : undefined;
}

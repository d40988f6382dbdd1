import type { ExecutionContext } from '@nestjs/common';
import type { TokenLocation } from '../../options/oidc-client-credentials-options.interface.js';
import type { BearerRequestParts } from '../bearer-token.util.js';
import { AUTHORIZATION, headerValues, invalidCredentials, isObject } from './header-values.js';
import type { Refusal, TransportAdapter } from './transport-adapter.interface.js';
import type { GrpcRefusal, TransportRefusalCode } from './transport-refusal.interface.js';

const NO_LINES: readonly string[] = Object.freeze([]);
/** A message has no query string and no form body: its metadata plays the header's part. */
const MESSAGE_LOCATIONS: readonly TokenLocation[] = ['header'];
/** The gRPC status code of each kind of refusal. */
const GRPC_STATUS_CODES: Readonly<Record<TransportRefusalCode, number>> = {
  BAD_REQUEST: 3, // INVALID_ARGUMENT
  FORBIDDEN: 7, // PERMISSION_DENIED
  SERVICE_UNAVAILABLE: 14, // UNAVAILABLE
  UNAUTHENTICATED: 16,
};

type RpcExceptionClass = new (error: string | object) => Error;
let rpcExceptionClass: Promise<RpcExceptionClass> | undefined;

/**
 * Microservice messages (TCP, Redis, MQTT, NATS, Kafka, RabbitMQ, gRPC): the token of the
 * message's metadata or payload ({@link rpcBearerParts}), kept for the message's context (one per
 * message). A refusal becomes an `RpcException` carrying the `TransportRefusal`, or for a
 * gRPC call a {@link GrpcRefusal}, which @grpc/grpc-js sends as the call's status and trailers.
 */
export const rpcTransport = {
  locations: () => MESSAGE_LOCATIONS,
  bearerParts: (context) => rpcBearerParts(context),
  carrier(context) {
    const rpc = context.switchToRpc();
    const rpcContext: unknown = rpc.getContext();
    const data: unknown = rpc.getData();
    return isObject(rpcContext) ? rpcContext : isObject(data) ? data : undefined;
  },
  carrierOutlivesRequest: false,
  async refuse({ payload, header }: Refusal, context: ExecutionContext | undefined) {
    const RpcException = await rpcException();
    const callMetadata = context === undefined ? undefined : grpcCallMetadata(context);
    if (callMetadata === undefined) return new RpcException(payload);
    const grpcRefusal: GrpcRefusal = {
      code: GRPC_STATUS_CODES[payload.code],
      details: payload.message,
      metadata: grpcTrailers(callMetadata, header[0].toLowerCase(), header[1]),
      refusal: payload,
    };
    return new RpcException(grpcRefusal);
  },
} satisfies TransportAdapter;

/**
 * The `Authorization` values of a microservice message, wherever the transport keeps them:
 *
 * - the message's own metadata when the transport has some: gRPC metadata, NATS headers, Kafka
 *   headers, RabbitMQ message headers, MQTT 5 user properties, and the packet metadata of TCP and
 *   Redis messages (set by `ClientProxy.setOnDispatchHook`): `authorization` in any case
 *   (`authorization` or `Authorization` in NATS headers, whose names nats.js matches exactly);
 * - an `authorization` member of the payload object, for callers that set no metadata (TCP,
 *   Redis, MQTT 3.1.1): `client.send('orders.list', { authorization: 'Bearer …', … })`.
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
 * Nest's RPC filter answers only an `RpcException` with its payload (anything else becomes
 * "Internal server error"), so the app's own copy is loaded, once, when a message is refused.
 */
function rpcException(): Promise<RpcExceptionClass> {
  return (rpcExceptionClass ??= import('@nestjs/microservices').then((m) => m.RpcException));
}

function metadataValues(rpcContext: unknown): string[] {
  if (!isObject(rpcContext)) return [];
  // gRPC: the context is the call's Metadata (get() answers an array).
  if (isGrpcMetadata(rpcContext)) return headerValues(rpcContext.get(AUTHORIZATION));
  const ctx = rpcContext as {
    getHeaders?: () => unknown;
    getMessage?: () => unknown;
    getPacket?: () => unknown;
    getMetadata?: () => unknown;
  };
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
  // MQTT 5: the user properties of MqttContext.getPacket() (MQTT 3.1.1 packets have none).
  if (typeof ctx.getPacket === 'function') {
    const packet = ctx.getPacket() as { properties?: { userProperties?: unknown } };
    if (!isObject(packet) || !isObject(packet.properties)) return [];
    return headerValues(packet.properties.userProperties);
  }
  // TCP and Redis: the packet metadata a client's dispatch hook attached, if any.
  if (typeof ctx.getMetadata === 'function') return headerValues(ctx.getMetadata());
  return [];
}

function payloadValues(data: unknown): string[] {
  if (!isObject(data) || Array.isArray(data) || !Object.hasOwn(data, AUTHORIZATION)) return [];
  const value = (data as Record<string, unknown>)[AUTHORIZATION];
  if (typeof value !== 'string') throw invalidCredentials('the payload');
  return [value];
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

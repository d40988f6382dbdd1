import type { MsgHdrs } from '@nats-io/transport-node';
import type { MqttRecordOptions, RmqRecordOptions } from '@nestjs/microservices';

/**
 * The Nest microservice transports whose messages `ClientCredentialsRpcClient` puts a token in,
 * named as in `Transport` (`Transport.NATS` → `'nats'`).
 */
export type RpcTokenTransport = 'nats' | 'rmq' | 'mqtt' | 'redis' | 'tcp';

/** Every {@link RpcTokenTransport}, for the check of the option. */
export const RPC_TOKEN_TRANSPORTS: readonly RpcTokenTransport[] = Object.freeze([
  'nats',
  'rmq',
  'mqtt',
  'redis',
  'tcp',
]);

/** The name under which every transport carries the credentials, as ClientTokenGuard reads it. */
const AUTHORIZATION = 'authorization';

type Microservices = typeof import('@nestjs/microservices');
type NatsClient = typeof import('@nats-io/transport-node');
let microservices: Promise<Microservices> | undefined;
let natsClient: Promise<NatsClient> | undefined;

/**
 * `data` as a message of `transport` that carries `authorization` (`Bearer <token>`) where the
 * receiving `ClientTokenGuard` reads it: NATS headers, RabbitMQ message headers, MQTT 5 user
 * properties, else the payload's `authorization` member (Redis, TCP). A record of the transport
 * (`NatsRecord`, `RmqRecord`, `MqttRecord`) keeps its data and options, and gets the value in
 * place of any `authorization` it had (in any case); it is copied, never changed.
 *
 * The record classes are the app's own copy of @nestjs/microservices (the client recognizes its
 * records by class), loaded on the first message; NATS headers are built with the NATS client
 * package the app's `ClientNats` uses.
 *
 * @throws TypeError for a Redis or TCP payload that is not a plain object (no member to add).
 */
export async function withAuthorization(
  transport: RpcTokenTransport,
  data: unknown,
  authorization: string,
): Promise<unknown> {
  switch (transport) {
    case 'nats':
      return natsMessage(data, authorization);
    case 'rmq':
      return rmqMessage(data, authorization);
    case 'mqtt':
      return mqttMessage(data, authorization);
    case 'redis':
    case 'tcp':
      return payloadWithAuthorization(transport, data, authorization);
  }
}

async function natsMessage(data: unknown, authorization: string): Promise<unknown> {
  const [{ NatsRecord }, { headers }] = await Promise.all([loadMicroservices(), loadNatsClient()]);
  const record = data instanceof NatsRecord ? data : undefined;
  const messageHeaders = headers();
  const own = record?.headers as MsgHdrs | undefined;
  for (const [name, values] of own ?? []) {
    if (isAuthorization(name)) continue;
    for (const value of values) messageHeaders.append(name, value);
  }
  messageHeaders.set(AUTHORIZATION, authorization);
  return new NatsRecord(record === undefined ? data : record.data, messageHeaders);
}

async function rmqMessage(data: unknown, authorization: string): Promise<unknown> {
  const { RmqRecord } = await loadMicroservices();
  const record = data instanceof RmqRecord ? data : undefined;
  const options: RmqRecordOptions = {
    ...record?.options,
    headers: { ...withoutAuthorization(record?.options?.headers), [AUTHORIZATION]: authorization },
  };
  return new RmqRecord(record === undefined ? data : record.data, options);
}

async function mqttMessage(data: unknown, authorization: string): Promise<unknown> {
  const { MqttRecord } = await loadMicroservices();
  const record = data instanceof MqttRecord ? data : undefined;
  const properties = record?.options?.properties;
  const options: MqttRecordOptions = {
    ...record?.options,
    properties: {
      ...properties,
      userProperties: {
        ...withoutAuthorization(properties?.userProperties),
        [AUTHORIZATION]: authorization,
      },
    },
  };
  return new MqttRecord(record === undefined ? data : record.data, options);
}

function payloadWithAuthorization(
  transport: RpcTokenTransport,
  data: unknown,
  authorization: string,
): Record<string, unknown> {
  if (!isPlainObject(data)) {
    throw new TypeError(
      `With the ${transport} transport the token travels in the payload's "authorization" member, so the payload must be a plain object`,
    );
  }
  return { ...data, [AUTHORIZATION]: authorization };
}

function withoutAuthorization<T>(entries: Record<string, T> | undefined): Record<string, T> {
  return Object.fromEntries(
    Object.entries(entries ?? {}).filter(([name]) => !isAuthorization(name)),
  );
}

function isAuthorization(name: string): boolean {
  return name.length === AUTHORIZATION.length && name.toLowerCase() === AUTHORIZATION;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function loadMicroservices(): Promise<Microservices> {
  return (microservices ??= import('@nestjs/microservices'));
}

function loadNatsClient(): Promise<NatsClient> {
  return (natsClient ??= import('@nats-io/transport-node'));
}

import { Metadata } from '@grpc/grpc-js';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import {
  KafkaContext,
  MqttContext,
  NatsContext,
  RedisContext,
  RmqContext,
  TcpContext,
} from '@nestjs/microservices';
import { BearerRequestError } from '../../errors/bearer-request.error.js';
import { grpcCallMetadata, grpcTrailers, rpcBearerParts } from './rpc.transport.js';

const BEARER = 'Bearer abc';

function host(type: string, args: unknown[]): ExecutionContextHost {
  const context = new ExecutionContextHost(args);
  context.setType(type);
  return context;
}

/** NATS' MsgHdrs answers values() per name; nats.js matches names exactly by default. */
function natsHeaders(entries: Record<string, string[]>) {
  return { values: (name: string) => entries[name] ?? [], get: () => '', has: () => false };
}

/** An MQTT publish packet as mqtt.js hands it over; MQTT 5 packets may carry user properties. */
function mqttContext(properties?: object): MqttContext {
  return new MqttContext(['orders/whoami', { cmd: 'publish', topic: 'orders/whoami', properties }]);
}

/** gRPC's Metadata: get() answers every value of a (lower-cased) key. */
function grpcMetadata(values: (string | Buffer)[]) {
  return { get: (key: string) => (key === 'authorization' ? values : []), getMap: () => ({}) };
}

const rpcLines = (data: unknown, ctx: unknown) =>
  rpcBearerParts(host('rpc', [data, ctx])).authorization;

describe('rpcBearerParts: the Authorization values of a microservice message', () => {
  it.each([
    ['TCP payload', { authorization: BEARER, id: 1 }, new TcpContext([{} as never, 'p'])],
    ['gRPC metadata', {}, grpcMetadata([BEARER])],
    ['gRPC binary metadata', {}, grpcMetadata([Buffer.from(BEARER)])],
    ['NATS headers', {}, new NatsContext(['orders', natsHeaders({ authorization: [BEARER] })])],
    [
      'NATS headers, canonical case',
      {},
      new NatsContext(['o', natsHeaders({ Authorization: [BEARER] })]),
    ],
    [
      'Kafka headers',
      {},
      new KafkaContext([
        { headers: { authorization: Buffer.from(BEARER) } } as never,
        0,
        't',
        {} as never,
        async () => {},
        {} as never,
      ]),
    ],
    [
      'RabbitMQ headers',
      {},
      new RmqContext([{ properties: { headers: { Authorization: BEARER } } }, {}, 'p']),
    ],
    ['MQTT 5 user properties', {}, mqttContext({ userProperties: { authorization: BEARER } })],
    [
      'MQTT 5 user properties, canonical case',
      {},
      mqttContext({ userProperties: { Authorization: BEARER } }),
    ],
    ['TCP packet metadata', {}, new TcpContext([{} as never, 'p', { authorization: BEARER }])],
    ['Redis packet metadata', {}, new RedisContext(['p', { Authorization: BEARER }])],
  ])('%s', (_name, data, ctx) => {
    expect(rpcLines(data, ctx)).toEqual([BEARER]);
  });

  it.each([
    ['no payload object', 'orders', new TcpContext([{} as never, 'p'])],
    ['a payload without the member', { id: 1 }, undefined],
    ['an array payload', [BEARER], undefined],
    ['NATS without headers', {}, new NatsContext(['orders', undefined])],
    [
      'Kafka without headers',
      {},
      new KafkaContext([{} as never, 0, 't', {} as never, async () => {}, {} as never]),
    ],
    ['gRPC metadata without the key', {}, grpcMetadata([])],
    ['an MQTT 3.1.1 packet (no properties)', {}, mqttContext()],
    ['MQTT 5 properties without user properties', {}, mqttContext({ contentType: 'json' })],
    ['MQTT 5 user properties without the key', {}, mqttContext({ userProperties: { t: 'x' } })],
    ['Redis without packet metadata', {}, new RedisContext(['p'])],
    ['TCP packet metadata without the key', {}, new TcpContext([{} as never, 'p', { trace: 'x' }])],
  ])('none with %s', (_name, data, ctx) => {
    expect(rpcLines(data, ctx)).toEqual([]);
  });

  it.each<[string, unknown, unknown]>([
    ['gRPC metadata and the payload', { authorization: 'Bearer b' }, grpcMetadata([BEARER])],
    [
      'a repeated MQTT 5 user property',
      {},
      mqttContext({ userProperties: { authorization: [BEARER, 'Bearer b'] } }),
    ],
    [
      'MQTT 5 user properties and the payload',
      { authorization: 'Bearer b' },
      mqttContext({ userProperties: { authorization: BEARER } }),
    ],
    [
      'Redis packet metadata and the payload',
      { authorization: 'Bearer b' },
      new RedisContext(['p', { authorization: BEARER }]),
    ],
  ])('every value found (%s), so credentials sent twice are refused as malformed', (_n, d, c) => {
    expect(rpcLines(d, c)).toEqual([BEARER, 'Bearer b']);
  });

  it.each([
    ['a number in the payload', { authorization: 42 }, undefined],
    ['an object in the payload', { authorization: { token: 'x' } }, undefined],
    [
      'an object header',
      {},
      new RmqContext([{ properties: { headers: { authorization: {} } } }, {}, 'p']),
    ],
    ['MQTT 5 user properties that are not an object', {}, mqttContext({ userProperties: 'x' })],
    ['a number in the packet metadata', {}, new RedisContext(['p', { authorization: 7 } as never])],
  ])('refuses %s as invalid_request', (_name, data, ctx) => {
    expect(() => rpcLines(data, ctx)).toThrow(BearerRequestError);
  });
});

describe('gRPC calls', () => {
  it('grpcCallMetadata: the Metadata of a gRPC call, nothing for other transports', () => {
    const metadata = new Metadata();
    expect(grpcCallMetadata(host('rpc', [{}, metadata]))).toBe(metadata);
    expect(grpcCallMetadata(host('rpc', [{}, new TcpContext([{} as never, 'p'])]))).toBeUndefined();
    expect(grpcCallMetadata(host('rpc', [{}, new NatsContext(['o', undefined])]))).toBeUndefined();
  });

  it("grpcTrailers: a Metadata of the call's own class with the one entry", () => {
    const trailers = grpcTrailers(new Metadata(), 'retry-after', '7');
    expect(trailers).toBeInstanceOf(Metadata);
    expect((trailers as Metadata).getMap()).toEqual({ 'retry-after': '7' });
  });

  it.each<[string, object, string]>([
    ['a metadata class without set()', grpcMetadata([]), 'x'],
    ['a value gRPC refuses', new Metadata(), 'a\nb'],
  ])('grpcTrailers: none with %s', (_name, callMetadata, value) => {
    expect(grpcTrailers(callMetadata, 'retry-after', value)).toBeUndefined();
  });
});

import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { TcpContext } from '@nestjs/microservices';
import {
  isGuardedTransport,
  SUPPORTED_CONTEXT_TYPES,
  TRANSPORT_ADAPTERS,
  transportAdapter,
} from './transport-adapters.js';

function host(type: string, args: unknown[]): ExecutionContextHost {
  const context = new ExecutionContextHost(args);
  context.setType(type);
  return context;
}

describe('token locations of each transport', () => {
  it('GraphQL as configured, RPC the metadata only, WebSocket without the body', () => {
    const all = ['header', 'query', 'body'] as const;
    expect(TRANSPORT_ADAPTERS.graphql.locations(all)).toEqual(all);
    expect(TRANSPORT_ADAPTERS.rpc.locations(['query'])).toEqual(['header']);
    expect(TRANSPORT_ADAPTERS.ws.locations(all)).toEqual(['header', 'query']);
  });
});

describe('the carrier of the verified token', () => {
  const request = { id: 'request' };
  const rpcContext = new TcpContext([{} as never, 'p']);
  const client = { id: 'client' };
  it.each([
    ['http', [request, {}], request],
    ['graphql', [{}, {}, { req: request }, {}], request],
    ['rpc', [{ a: 1 }, rpcContext], rpcContext],
    ['ws', [client, {}], client],
  ])('%s', (type, args, carrier) => {
    expect(transportAdapter(type)?.carrier(host(type, args))).toBe(carrier);
  });

  it('only a WebSocket client outlives its request', () => {
    const outliving = Object.entries(TRANSPORT_ADAPTERS)
      .filter(([, adapter]) => adapter.carrierOutlivesRequest)
      .map(([type]) => type);
    expect(outliving).toEqual(['ws']);
  });
});

describe('context types without an adapter', () => {
  it.each(['kafka-stream', 'custom', 'constructor', '__proto__', 'toString', 'hasOwnProperty'])(
    'S11 none for %j, not even an inherited property',
    (type) => {
      expect(transportAdapter(type)).toBeUndefined();
      expect(isGuardedTransport(type)).toBe(false);
    },
  );

  it('http is read, but not as a guarded transport with its own refusal', () => {
    expect(transportAdapter('http')).toBe(TRANSPORT_ADAPTERS.http);
    expect(isGuardedTransport('http')).toBe(false);
    expect(['graphql', 'rpc', 'ws'].every(isGuardedTransport)).toBe(true);
  });

  it('the warning about them names every supported type', () => {
    expect(SUPPORTED_CONTEXT_TYPES).toBe('http, graphql, rpc and ws');
  });
});

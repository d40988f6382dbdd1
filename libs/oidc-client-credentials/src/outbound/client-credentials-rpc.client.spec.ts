import { headers as natsHeaders } from '@nats-io/transport-node';
import { MqttRecord, NatsRecord, RmqRecord } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, Observable, of, throwError } from 'rxjs';
import { ConfigurationError } from '../errors/configuration.error.js';
import { ClientCredentialsRpcClient, type RpcClient } from './client-credentials-rpc.client.js';
import type { RpcTokenTransport } from './rpc-message-authorization.util.js';

type Answer = () => Observable<unknown>;

/** A ClientProxy that records each message and answers from a list (the last answer repeats). */
class RecordingClient implements RpcClient {
  readonly sent: unknown[] = [];
  readonly emitted: unknown[] = [];
  /** The first event emitted, once it is. */
  readonly firstEmit: Promise<unknown>;
  private emittedFirst?: (data: unknown) => void;

  constructor(private readonly answers: Answer[] = [() => of('ok')]) {
    this.firstEmit = new Promise((resolve) => (this.emittedFirst = resolve));
  }

  send<TResult>(_pattern: unknown, data: unknown): Observable<TResult> {
    this.sent.push(data);
    const answer = this.answers[Math.min(this.sent.length, this.answers.length) - 1];
    return answer() as Observable<TResult>;
  }

  emit<TResult>(_pattern: unknown, data: unknown): Observable<TResult> {
    this.emitted.push(data);
    this.emittedFirst?.(data);
    return of(undefined as TResult);
  }
}

/** A token provider that hands out `tokens` in turn, one more each time one is dropped. */
function tokenSource(...tokens: string[]) {
  let current = 0;
  return {
    invalidated: [] as string[],
    getToken: async () => tokens[current],
    invalidate(token: string) {
      this.invalidated.push(token);
      if (current < tokens.length - 1) current += 1;
      return true;
    },
  };
}

const refusal = (code: string, extra: object = {}) => ({
  status: 'error',
  code,
  statusCode: 401,
  message: 'x',
  ...extra,
});
const INVALID_TOKEN = refusal('UNAUTHENTICATED', { error: 'invalid_token' });

type Headers = ReturnType<typeof natsHeaders>;

/** A message as plain data: the record's transport, data and options (NATS headers as entries). */
function shapeOf(message: unknown): unknown {
  if (message instanceof NatsRecord) {
    return { nats: message.data, headers: [...(message.headers as Headers)] };
  }
  if (message instanceof RmqRecord) return { rmq: message.data, options: message.options };
  if (message instanceof MqttRecord) return { mqtt: message.data, options: message.options };
  return { payload: message };
}

/** The token of a Redis or TCP message. */
const authorizationOf = (message: unknown) =>
  (message as { authorization?: unknown }).authorization;

describe('ClientCredentialsRpcClient: where the token goes', () => {
  it.each<[RpcTokenTransport, unknown]>([
    ['nats', { nats: { page: 1 }, headers: [['authorization', ['Bearer t1']]] }],
    ['rmq', { rmq: { page: 1 }, options: { headers: { authorization: 'Bearer t1' } } }],
    [
      'mqtt',
      {
        mqtt: { page: 1 },
        options: { properties: { userProperties: { authorization: 'Bearer t1' } } },
      },
    ],
    ['redis', { payload: { page: 1, authorization: 'Bearer t1' } }],
    ['tcp', { payload: { page: 1, authorization: 'Bearer t1' } }],
  ])('%s, by send() and emit()', async (transport, expected) => {
    const client = new RecordingClient();
    const rpc = new ClientCredentialsRpcClient(client, tokenSource('t1'), { transport });
    await expect(firstValueFrom(rpc.send('orders.list', { page: 1 }))).resolves.toBe('ok');
    await lastValueFrom(rpc.emit('orders.created', { page: 1 }), { defaultValue: undefined });
    expect([client.sent, client.emitted].flat().map(shapeOf)).toEqual([expected, expected]);
  });

  it.each<[RpcTokenTransport, () => unknown, unknown]>([
    [
      'nats',
      () => {
        const own = natsHeaders();
        own.set('trace', 'a');
        own.set('Authorization', 'Bearer mine');
        return new NatsRecord({ page: 1 }, own);
      },
      {
        nats: { page: 1 },
        headers: [
          ['trace', ['a']],
          ['authorization', ['Bearer t1']],
        ],
      },
    ],
    [
      'rmq',
      () =>
        new RmqRecord({ page: 1 }, { priority: 3, headers: { Authorization: 'x', trace: 'a' } }),
      {
        rmq: { page: 1 },
        options: { priority: 3, headers: { trace: 'a', authorization: 'Bearer t1' } },
      },
    ],
    [
      'mqtt',
      () =>
        new MqttRecord(
          { page: 1 },
          { qos: 1, properties: { contentType: 'json', userProperties: { AUTHORIZATION: 'x' } } },
        ),
      {
        mqtt: { page: 1 },
        options: {
          qos: 1,
          properties: { contentType: 'json', userProperties: { authorization: 'Bearer t1' } },
        },
      },
    ],
    [
      'redis',
      () => ({ page: 1, authorization: 'Bearer mine' }),
      { payload: { page: 1, authorization: 'Bearer t1' } },
    ],
  ])(
    "%s: a caller's own record keeps its options and gets the token in place of its authorization; it is not changed",
    async (transport, record, expected) => {
      const client = new RecordingClient();
      const rpc = new ClientCredentialsRpcClient(client, tokenSource('t1'), { transport });
      const own = record();
      const before = shapeOf(own);
      await firstValueFrom(rpc.send('orders.list', own));
      expect(client.sent.map(shapeOf)).toEqual([expected]);
      expect(shapeOf(own)).toEqual(before);
    },
  );

  it.each<[RpcTokenTransport, unknown]>([
    ['redis', 'orders'],
    ['redis', [1, 2]],
    ['tcp', 42],
    ['tcp', new Date(0)],
  ])(
    '%s: a payload %p has no member to add, so the message is not sent',
    async (transport, data) => {
      const client = new RecordingClient();
      const rpc = new ClientCredentialsRpcClient(client, tokenSource('t1'), { transport });
      await expect(firstValueFrom(rpc.send('orders.list', data))).rejects.toThrow(
        /payload must be a plain object/,
      );
      expect(client.sent).toEqual([]);
    },
  );

  it.each([['grpc'], ['kafka'], [undefined]])('refuses the transport %p at construction', (t) => {
    const construct = () =>
      new ClientCredentialsRpcClient(new RecordingClient(), tokenSource('t1'), {
        transport: t as RpcTokenTransport,
      });
    expect(construct).toThrow(ConfigurationError);
    expect(construct).toThrow(/"transport": must be one of 'nats', 'rmq', 'mqtt', 'redis', 'tcp'/);
  });
});

describe('ClientCredentialsRpcClient: a refused token', () => {
  const refused =
    (error: object): Answer =>
    () =>
      throwError(() => error);

  it('R09 invalid_token: drops the token and sends once more with a new one', async () => {
    const client = new RecordingClient([refused(INVALID_TOKEN), () => of('ok')]);
    const tokens = tokenSource('t1', 't2');
    const rpc = new ClientCredentialsRpcClient(client, tokens, { transport: 'tcp' });
    await expect(firstValueFrom(rpc.send('orders.list', { page: 1 }))).resolves.toBe('ok');
    expect(tokens.invalidated).toEqual(['t1']);
    expect(client.sent.map(authorizationOf)).toEqual(['Bearer t1', 'Bearer t2']);
  });

  it.each<[string, Answer[], string[], string[], unknown]>([
    [
      'R09 refused again: the second refusal is the answer, after exactly 2 messages',
      [refused(INVALID_TOKEN)],
      ['t1', 't2', 't3'],
      ['Bearer t1', 'Bearer t2'],
      INVALID_TOKEN,
    ],
    [
      'no new token (dropped less than 30 s ago): not sent again',
      [refused(INVALID_TOKEN)],
      ['t1'],
      ['Bearer t1'],
      INVALID_TOKEN,
    ],
    [
      'the token did not arrive (no error code): not sent again',
      [refused(refusal('UNAUTHENTICATED'))],
      ['t1', 't2'],
      ['Bearer t1'],
      refusal('UNAUTHENTICATED'),
    ],
    [
      'S53 insufficient_scope: not sent again',
      [refused(refusal('FORBIDDEN', { error: 'insufficient_scope' }))],
      ['t1', 't2'],
      ['Bearer t1'],
      refusal('FORBIDDEN', { error: 'insufficient_scope' }),
    ],
    [
      'R23 ID service unavailable: not sent again',
      [refused(refusal('SERVICE_UNAVAILABLE'))],
      ['t1', 't2'],
      ['Bearer t1'],
      refusal('SERVICE_UNAVAILABLE'),
    ],
    [
      'S06 invalid_request: not sent again',
      [refused(refusal('BAD_REQUEST', { error: 'invalid_request' }))],
      ['t1', 't2'],
      ['Bearer t1'],
      refusal('BAD_REQUEST', { error: 'invalid_request' }),
    ],
    [
      "the handler's own error: not sent again",
      [refused(new Error('boom'))],
      ['t1', 't2'],
      ['Bearer t1'],
      new Error('boom'),
    ],
  ])('%s', async (_name, answers, tokens, sent, expected) => {
    const client = new RecordingClient(answers);
    const rpc = new ClientCredentialsRpcClient(client, tokenSource(...tokens), {
      transport: 'tcp',
    });
    await expect(firstValueFrom(rpc.send('orders.list', { page: 1 }))).rejects.toEqual(expected);
    expect(client.sent.map(authorizationOf)).toEqual(sent);
  });

  it('a refusal after the first answer of a stream is not repeated', async () => {
    const client = new RecordingClient([
      () =>
        new Observable<unknown>((subscriber) => {
          subscriber.next(1);
          subscriber.error(INVALID_TOKEN);
        }),
    ]);
    const rpc = new ClientCredentialsRpcClient(client, tokenSource('t1', 't2'), {
      transport: 'tcp',
    });
    const seen: unknown[] = [];
    const error = await new Promise((resolve) => {
      rpc.send('orders.stream', {}).subscribe({ next: (v) => seen.push(v), error: resolve });
    });
    expect([seen, error]).toEqual([[1], INVALID_TOKEN]);
    expect(client.sent).toHaveLength(1);
  });

  it('emit() sends at once, without being subscribed to, and is never repeated', async () => {
    const client = new RecordingClient();
    const rpc = new ClientCredentialsRpcClient(client, tokenSource('t1', 't2'), {
      transport: 'tcp',
    });
    const emitted = rpc.emit('orders.created', { id: 1 });
    await expect(client.firstEmit).resolves.toEqual({ id: 1, authorization: 'Bearer t1' });
    await expect(lastValueFrom(emitted, { defaultValue: 'completed' })).resolves.toBe('completed');
    expect(client.emitted).toHaveLength(1);
  });
});

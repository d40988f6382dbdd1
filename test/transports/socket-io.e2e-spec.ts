import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Test } from '@nestjs/testing';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { socketIoAppModule, startTransportsIdService } from './app.module.js';

/** What the client gets for one message: the acknowledgement, or the first event emitted to it. */
type Answer = { ack: unknown } | { event: string; data: unknown };

type Handshake = Pick<ManagerOptions, 'extraHeaders' | 'transports'> & Pick<SocketOptions, 'auth'>;

/**
 * How long a connection or an answer may take before the test fails: only turns a missing answer
 * into a clear failure, so far beyond what a busy machine needs.
 */
const DEADLINE_MS = 10_000;

/**
 * A Socket.IO gateway (@nestjs/platform-socket.io, IoAdapter) on the HTTP server's port. The guard
 * reads the socket's handshake: its `Authorization` header or `auth.token`, on every message. A
 * handler's plain return value comes back as the acknowledgement; a refusal as an `exception` event
 * (Nest's WebSocket filter), with no acknowledgement.
 */
describe('ClientTokenGuard on a Socket.IO gateway', () => {
  let idp: FakeIdService;
  let app: INestApplication;
  let url: string;
  let port: number;
  const logger = new CapturingLogger();
  const sockets: Socket[] = [];

  beforeAll(async () => {
    idp = await startTransportsIdService();
    const moduleRef = await Test.createTestingModule(socketIoAppModule(idp))
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    app.useWebSocketAdapter(new IoAdapter(app));
    await app.listen(0, '127.0.0.1');
    ({ port } = app.getHttpServer().address() as AddressInfo);
    url = `http://127.0.0.1:${port}/orders`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.disconnect();
    await app?.close();
    await idp?.close();
  });

  beforeEach(() => idp.on(PATHS.introspection, () => undefined));

  /** Connects to the `/orders` namespace with the given handshake (websocket unless told). */
  async function connect(handshake: Handshake = {}): Promise<Socket> {
    const socket = io(url, {
      transports: ['websocket'],
      ...handshake,
      forceNew: true,
      reconnection: false,
      timeout: DEADLINE_MS,
    });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) =>
      socket.once('connect', () => resolve()).once('connect_error', reject),
    );
    return socket;
  }

  /** Emits one message with an acknowledgement callback; resolves with whatever comes first. */
  function ask(socket: Socket, event: string): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const onEvent = (name: string, data: unknown): void => done({ event: name, data });
      const timer = setTimeout(() => {
        socket.offAny(onEvent);
        reject(new Error(`no answer to ${event}`));
      }, DEADLINE_MS);
      function done(answer: Answer): void {
        clearTimeout(timer);
        socket.offAny(onEvent);
        resolve(answer);
      }
      socket.onAny(onEvent);
      socket.emit(event, {}, (ack: unknown) => done({ ack }));
    });
  }

  const readAndList = () => idp.mintJwt({ sub: 'billing', scope: 'orders:read' });

  it.each<[string, () => Promise<Handshake>]>([
    ['auth.token', async () => ({ auth: { token: await readAndList() } })],
    [
      'Authorization header over websocket',
      async () => ({ extraHeaders: { Authorization: `Bearer ${await readAndList()}` } }),
    ],
    [
      'Authorization header over long polling',
      async () => ({
        transports: ['polling'],
        extraHeaders: { Authorization: `Bearer ${await readAndList()}` },
      }),
    ],
  ])(
    '%s: the handlers answer with the client id of the handshake token',
    async (_name, handshake) => {
      const socket = await connect(await handshake());
      // A plain return value is the acknowledgement.
      await expect(ask(socket, 'whoami')).resolves.toEqual({
        ack: { clientId: 'billing', scopes: ['orders:read'] },
      });
      // A WsResponse is emitted as its event.
      await expect(ask(socket, 'orders')).resolves.toEqual({
        event: 'orders',
        data: ['order-of-billing'],
      });
    },
  );

  const invalidRequest = { code: 'BAD_REQUEST', statusCode: 400, error: 'invalid_request' };
  const invalidToken = { code: 'UNAUTHENTICATED', statusCode: 401, error: 'invalid_token' };

  it.each<[string, () => Promise<Handshake>, string, object]>([
    [
      'no token',
      async () => ({}),
      'whoami',
      { code: 'UNAUTHENTICATED', statusCode: 401, message: 'Bearer token required' },
    ],
    [
      'invalid signature in auth.token',
      async () => ({ auth: { token: `${await readAndList()}x` } }),
      'whoami',
      invalidToken,
    ],
    [
      'invalid signature in the header',
      async () => ({ extraHeaders: { Authorization: `Bearer ${await readAndList()}x` } }),
      'whoami',
      invalidToken,
    ],
    [
      'auth.token with the Bearer prefix (it is the token alone)',
      async () => ({ auth: { token: `Bearer ${await readAndList()}` } }),
      'whoami',
      invalidToken,
    ],
    [
      'missing scope',
      async () => ({ auth: { token: await idp.mintJwt({ sub: 'billing' }) } }),
      'orders',
      { code: 'FORBIDDEN', statusCode: 403, error: 'insufficient_scope', scope: 'orders:read' },
    ],
    [
      'a token in auth.token and in the header',
      async () => {
        const token = await readAndList();
        return { auth: { token }, extraHeaders: { Authorization: `Bearer ${token}` } };
      },
      'whoami',
      invalidRequest,
    ],
    ['auth.token a number', async () => ({ auth: { token: 42 } }), 'whoami', invalidRequest],
    ['auth.token null', async () => ({ auth: { token: null } }), 'whoami', invalidRequest],
    ['auth.token an object', async () => ({ auth: { token: {} } }), 'whoami', invalidRequest],
    [
      'auth.token an array',
      async () => ({ auth: { token: [await readAndList()] } }),
      'whoami',
      invalidRequest,
    ],
    ['auth.token empty', async () => ({ auth: { token: '' } }), 'whoami', invalidRequest],
  ])(
    '%s: an exception event with the refusal; the socket stays connected',
    async (_name, handshake, event, expected) => {
      const socket = await connect(await handshake());
      const answer = await ask(socket, event);
      expect(answer).toEqual({
        event: 'exception',
        data: { status: 'error', message: expect.any(String), ...expected },
      });
      expect(JSON.stringify(answer)).not.toContain('eyJ');
      expect(socket.connected).toBe(true);
    },
  );

  /**
   * One request of Engine.IO's long-polling transport, with raw header lines: socket.io-client
   * cannot send a header twice. Answers the body (packets separated by U+001E).
   */
  function poll(query: string, headers: string[] = [], body?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          agent: false,
          method: body === undefined ? 'GET' : 'POST',
          path: `/socket.io/?EIO=4&transport=polling${query}`,
          headers: ['Host', `127.0.0.1:${port}`, ...headers],
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('two Authorization lines in the handshake: BAD_REQUEST, as over HTTP', async () => {
    const valid = `Bearer ${await readAndList()}`;
    const open = await poll('', ['Authorization', valid, 'Authorization', 'Bearer other']);
    const { sid } = JSON.parse(open.slice(1)) as { sid: string };
    const session = `&sid=${encodeURIComponent(sid)}`;
    await poll(session, [], '40/orders,');
    expect(await poll(session)).toMatch(/^40\/orders,/);
    await poll(session, [], '42/orders,1["whoami",{}]');
    const [packet] = (await poll(session)).split('\u001e');
    expect(packet).toMatch(/^42\/orders,/);
    expect(JSON.parse(packet.slice('42/orders,'.length))).toEqual([
      'exception',
      {
        status: 'error',
        code: 'BAD_REQUEST',
        statusCode: 400,
        error: 'invalid_request',
        message: expect.any(String),
      },
    ]);
    await poll(session, [], '1');
  });

  it('logs no token, no unexpected error and no missing-handshake warning', () => {
    expect(logger.text()).not.toContain('eyJ');
    expect(logger.at('error')).toEqual([]);
    expect(logger.at('warn').filter((line) => line.includes('handshake'))).toEqual([]);
  });
});

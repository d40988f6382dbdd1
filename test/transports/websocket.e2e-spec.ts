import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import WebSocket from 'ws';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { startTransportsIdService, websocketAppModule } from './app.module.js';

interface Frame {
  event: string;
  data: Record<string, unknown> | string[];
}

/**
 * A `ws` gateway (@nestjs/platform-ws) on the HTTP server's port. The gateway keeps the upgrade
 * request's credentials with `attachHandshake`; the guard checks them on every message.
 */
describe('ClientTokenGuard on a WebSocket gateway (ws)', () => {
  let idp: FakeIdService;
  let app: INestApplication;
  let url: string;
  const logger = new CapturingLogger();
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    idp = await startTransportsIdService();
    const moduleRef = await Test.createTestingModule(websocketAppModule(idp))
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    app.useWebSocketAdapter(new WsAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    url = `ws://127.0.0.1:${port}/events`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.terminate();
    await app?.close();
    await idp?.close();
  });

  beforeEach(() => idp.on(PATHS.introspection, () => undefined));

  /** Opens a socket with the given handshake headers. */
  async function connect(headers: Record<string, string> = {}, path = ''): Promise<WebSocket> {
    const socket = new WebSocket(`${url}${path}`, { headers });
    sockets.push(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return socket;
  }

  /** Sends one message and waits for the next frame. */
  function ask(socket: WebSocket, event: string): Promise<Frame> {
    const frame = new Promise<Frame>((resolve) =>
      socket.once('message', (data) => resolve(JSON.parse(String(data)) as Frame)),
    );
    socket.send(JSON.stringify({ event, data: {} }));
    return frame;
  }

  it('runs the handler with the client id of the handshake token, on every message', async () => {
    const socket = await connect({
      Authorization: await idp.bearer({ sub: 'billing', scope: 'orders:read' }),
    });
    await expect(ask(socket, 'whoami')).resolves.toEqual({
      event: 'whoami',
      data: { clientId: 'billing', scopes: ['orders:read'] },
    });
    await expect(ask(socket, 'orders')).resolves.toEqual({
      event: 'orders',
      data: ['order-of-billing'],
    });
  });

  it("@ClientId() on a public message fails rather than answer with an earlier message's client", async () => {
    const socket = await connect({
      Authorization: await idp.bearer({ sub: 'billing', scope: 'orders:read' }),
    });
    expect((await ask(socket, 'whoami')).data).toMatchObject({ clientId: 'billing' });
    const frame = await ask(socket, 'public-whoami');
    expect(frame).toEqual({
      event: 'exception',
      data: expect.objectContaining({ status: 'error' }),
    });
    expect(JSON.stringify(frame)).not.toContain('billing');
    // The guarded handlers still answer on the same connection.
    expect((await ask(socket, 'whoami')).data).toMatchObject({ clientId: 'billing' });
  });

  it.each<[string, () => Promise<Record<string, string>>, string, object]>([
    ['S11 no token', async () => ({}), 'whoami', { code: 'UNAUTHENTICATED', statusCode: 401 }],
    [
      'another scheme',
      async () => ({ Authorization: 'Basic YTpi' }),
      'whoami',
      { code: 'UNAUTHENTICATED', message: 'Bearer token required' },
    ],
    [
      'invalid-signature',
      async () => ({ Authorization: `${await idp.bearer({ sub: 'billing' })}x` }),
      'whoami',
      { code: 'UNAUTHENTICATED', error: 'invalid_token' },
    ],
    [
      'missing scope',
      async () => ({ Authorization: await idp.bearer({ sub: 'billing' }) }),
      'orders',
      { code: 'FORBIDDEN', statusCode: 403, error: 'insufficient_scope', scope: 'orders:read' },
    ],
  ])(
    '%s: an exception frame, the handler does not run',
    async (_name, headers, event, expected) => {
      const socket = await connect(await headers());
      const frame = await ask(socket, event);
      expect(frame).toEqual({
        event: 'exception',
        data: expect.objectContaining({ status: 'error', ...expected }),
      });
      expect(JSON.stringify(frame)).not.toContain('eyJ');
    },
  );

  it('reads no access_token query parameter unless tokenLocations enables it', async () => {
    const token = await idp.mintJwt({ sub: 'billing' });
    const socket = await connect({}, `?access_token=${token}`);
    await expect(ask(socket, 'whoami')).resolves.toMatchObject({
      event: 'exception',
      data: { code: 'UNAUTHENTICATED', message: 'Bearer token required' },
    });
  });

  it('ID service down: SERVICE_UNAVAILABLE with the retry delay; the next message passes', async () => {
    const socket = await connect({ Authorization: `Bearer ${idp.mintOpaque('billing')}` });
    idp.on(PATHS.introspection, () => ({ status: 503 }));
    await expect(ask(socket, 'whoami')).resolves.toEqual({
      event: 'exception',
      data: {
        status: 'error',
        code: 'SERVICE_UNAVAILABLE',
        statusCode: 503,
        message: 'Token verification is temporarily unavailable',
        retryAfterSeconds: 7,
      },
    });
    idp.on(PATHS.introspection, () => undefined);
    await expect(ask(socket, 'whoami')).resolves.toMatchObject({ data: { clientId: 'billing' } });
  });

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    // The one error is the misplaced @ClientId() above, which its author must see.
    const misuse = '@ClientId() needs ClientTokenGuard on this route';
    expect(logger.at('error').filter((line) => !line.includes(misuse))).toEqual([]);
    expect(logger.at('error').some((line) => line.includes(misuse))).toBe(true);
  });
});

import type { AddressInfo, Server } from 'node:net';
import type { INestMicroservice } from '@nestjs/common';
import { ClientProxyFactory, Transport, type ClientProxy } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { microserviceAppModule, startTransportsIdService } from './app.module.js';

/**
 * A microservice on the TCP transport (port 0: Nest's TCP server listens where it is told, and the
 * OS picks a free port), called by Nest's own TCP client. The token travels in the payload's
 * `authorization` member, the convention for transports without message headers.
 */
describe('ClientTokenGuard on a microservice (TCP)', () => {
  let idp: FakeIdService;
  let app: INestMicroservice;
  let client: ClientProxy;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    idp = await startTransportsIdService();
    const moduleRef = await Test.createTestingModule(microserviceAppModule(idp))
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestMicroservice({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: 0 },
      logger,
    });
    await app.listen();
    const { port } = app.unwrap<Server>().address() as AddressInfo;
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await idp?.close();
  });

  beforeEach(() => idp.on(PATHS.introspection, () => undefined));

  const send = (pattern: string, payload: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      client.send(pattern, payload).subscribe({ next: resolve, error: reject });
    });

  it('runs the handler with the client id and scopes of a valid token', async () => {
    const authorization = await idp.bearer({ sub: 'billing', scope: 'orders:read' });
    await expect(send('orders.whoami', { authorization })).resolves.toEqual({
      clientId: 'billing',
      scopes: ['orders:read'],
    });
    await expect(send('orders.list', { authorization, page: 1 })).resolves.toEqual([
      'order-of-billing',
    ]);
  });

  it.each<[string, () => Promise<unknown>, object]>([
    [
      'S11 no token',
      async () => ({ page: 1 }),
      { code: 'UNAUTHENTICATED', statusCode: 401, message: 'Bearer token required' },
    ],
    [
      'S11 a payload that is not an object',
      async () => 'orders',
      { code: 'UNAUTHENTICATED', statusCode: 401 },
    ],
    [
      'invalid-signature',
      async () => ({ authorization: `${await idp.bearer({ sub: 'billing' })}x` }),
      { code: 'UNAUTHENTICATED', statusCode: 401, error: 'invalid_token' },
    ],
    [
      'expired',
      async () => ({ authorization: await idp.bearer({ sub: 'billing', exp: 1000 }) }),
      { code: 'UNAUTHENTICATED', error: 'invalid_token', message: 'The access token expired' },
    ],
    [
      'not-a-string',
      async () => ({ authorization: ['Bearer a'] }),
      { code: 'BAD_REQUEST', statusCode: 400, error: 'invalid_request' },
    ],
  ])('%s: refused with an RpcException payload', async (_name, payload, expected) => {
    const error = await send('orders.whoami', await payload()).catch((e: unknown) => e);
    expect(error).toEqual(expect.objectContaining({ status: 'error', ...expected }));
    expect(JSON.stringify(error)).not.toContain('eyJ');
  });

  it('a missing scope: FORBIDDEN with the required scope', async () => {
    const authorization = await idp.bearer({ sub: 'billing', scope: 'orders:write' });
    await expect(send('orders.list', { authorization })).rejects.toEqual({
      status: 'error',
      code: 'FORBIDDEN',
      statusCode: 403,
      error: 'insufficient_scope',
      message: 'The access token lacks a required scope',
      scope: 'orders:read',
    });
  });

  it('ID service down: SERVICE_UNAVAILABLE with the retry delay, the service keeps running', async () => {
    idp.on(PATHS.introspection, () => ({ status: 503 }));
    const authorization = `Bearer ${idp.mintOpaque('billing')}`;
    await expect(send('orders.whoami', { authorization })).rejects.toEqual({
      status: 'error',
      code: 'SERVICE_UNAVAILABLE',
      statusCode: 503,
      message: 'Token verification is temporarily unavailable',
      retryAfterSeconds: 7,
    });
    idp.on(PATHS.introspection, () => undefined);
    await expect(send('orders.whoami', { authorization })).resolves.toMatchObject({
      clientId: 'billing',
    });
  });

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    expect(logger.at('error')).toEqual([]);
  });
});

import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import request from 'supertest';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { graphqlAppModule, startTransportsIdService } from './app.module.js';

interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
}

/** A GraphQL API served by Apollo on Express; the token comes with the HTTP request. */
describe('ClientTokenGuard on GraphQL (Apollo over HTTP)', () => {
  let idp: FakeIdService;
  let app: INestApplication;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    idp = await startTransportsIdService();
    const moduleRef = await Test.createTestingModule(graphqlAppModule(idp))
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  beforeEach(() => idp.on(PATHS.introspection, () => undefined));

  async function query(text: string, authorization?: string) {
    const call = request(app.getHttpServer()).post('/graphql').send({ query: text });
    if (authorization) call.set('Authorization', authorization);
    const response = await call;
    expect(response.text).not.toContain('eyJ');
    return {
      status: response.status,
      headers: response.headers,
      body: response.body as GraphqlBody,
    };
  }

  it('runs the resolvers with the client id and scopes of a valid token', async () => {
    const authorization = await idp.bearer({ sub: 'billing', scope: 'orders:read' });
    const { status, body } = await query('{ whoami { clientId scopes } orders }', authorization);
    expect(status).toBe(200);
    expect(body).toEqual({
      data: {
        whoami: { clientId: 'billing', scopes: ['orders:read'] },
        orders: ['order-of-billing'],
      },
    });
  });

  it.each<[string, () => Promise<string | undefined>, object, string]>([
    [
      'S11 no token',
      async () => undefined,
      { code: 'UNAUTHENTICATED', statusCode: 401, message: 'Bearer token required' },
      'Bearer realm="orders"',
    ],
    [
      'invalid-signature',
      async () => `${await idp.bearer({ sub: 'billing' })}x`,
      { code: 'UNAUTHENTICATED', error: 'invalid_token' },
      'Bearer realm="orders", error="invalid_token", error_description="The access token is invalid"',
    ],
    [
      'malformed',
      async () => 'Bearer a,b',
      { code: 'UNAUTHENTICATED', error: 'invalid_token' },
      'Bearer realm="orders", error="invalid_token", error_description="The access token is malformed"',
    ],
  ])(
    '%s: an UNAUTHENTICATED error and no data',
    async (_name, authorization, expected, challenge) => {
      const { status, headers, body } = await query(
        '{ whoami { clientId } }',
        await authorization(),
      );
      expect(body.data).toEqual({ whoami: null });
      const { message, ...extensions } = expected as { message?: string };
      expect(body.errors).toEqual([
        expect.objectContaining({
          ...(message ? { message } : {}),
          path: ['whoami'],
          extensions: expect.objectContaining(extensions),
        }),
      ]);
      // Apollo sends the challenge from extensions.http, not extensions.http itself; the status
      // stays 200, as @nestjs/apollo answers every response that carries `data`.
      expect(headers['www-authenticate']).toBe(challenge);
      expect(body.errors![0].extensions).not.toHaveProperty('http');
      expect(status).toBe(200);
    },
  );

  it('a missing scope refuses that field only: FORBIDDEN with the required scope', async () => {
    const authorization = await idp.bearer({ sub: 'billing' });
    const { body } = await query('{ whoami { clientId } orders }', authorization);
    expect(body.data).toEqual({ whoami: { clientId: 'billing' }, orders: null });
    expect(body.errors).toEqual([
      {
        message: 'The access token lacks a required scope',
        locations: expect.any(Array),
        path: ['orders'],
        extensions: {
          code: 'FORBIDDEN',
          statusCode: 403,
          error: 'insufficient_scope',
          scope: 'orders:read',
        },
      },
    ]);
  });

  it('ID service down: SERVICE_UNAVAILABLE with the retry delay', async () => {
    idp.on(PATHS.introspection, () => ({ status: 503 }));
    const token = idp.mintOpaque('billing');
    const { headers, body } = await query('{ whoami { clientId } }', `Bearer ${token}`);
    expect(headers['retry-after']).toBe('7');
    expect(headers['www-authenticate']).toBeUndefined();
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: 'Token verification is temporarily unavailable',
        extensions: { code: 'SERVICE_UNAVAILABLE', statusCode: 503, retryAfterSeconds: 7 },
      }),
    ]);
  });

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    expect(logger.at('error')).toEqual([]);
  });
});

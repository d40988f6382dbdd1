import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { graphqlAppModule, startTransportsIdService } from './app.module.js';
import { graphqlQuery, itAnswersGraphqlRefusals } from './graphql-over-http.js';

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

  const query = (text: string, authorization?: string) =>
    graphqlQuery(app.getHttpServer(), text, authorization);

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

  itAnswersGraphqlRefusals(() => ({ idp, query }));

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

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    expect(logger.at('error')).toEqual([]);
  });
});

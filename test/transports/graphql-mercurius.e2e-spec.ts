import { once } from 'node:events';
import { jest } from '@jest/globals';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { graphqlQuery, itAnswersGraphqlRefusals } from './graphql-over-http.js';
import { mercuriusAppModule } from './graphql-app.module.js';
import { firstResult, GraphqlSubscriptionApp } from './graphql-subscription-app.js';

/**
 * Mercurius on Fastify (@nestjs/mercurius): queries and mutations carry the token in the HTTP
 * request; subscriptions in the `connection_init` payload, which Mercurius checks with the
 * library's `onConnect` and copies into the request headers the guard reads.
 */
describe('ClientTokenGuard on GraphQL (Mercurius on Fastify)', () => {
  const graphql = new GraphqlSubscriptionApp(mercuriusAppModule, () => new FastifyAdapter());
  const { logger } = graphql;

  const query = (text: string, authorization?: string) =>
    graphqlQuery(graphql.app.getHttpServer(), text, authorization);

  describe('queries and mutations', () => {
    it('runs the resolvers with the client id and scopes of a valid token', async () => {
      const authorization = await graphql.idp.bearer({
        sub: 'billing',
        scope: 'orders:read orders:write',
      });
      const { status, body } = await query('{ whoami { clientId scopes } orders }', authorization);
      expect(status).toBe(200);
      expect(body).toEqual({
        data: {
          whoami: { clientId: 'billing', scopes: ['orders:read', 'orders:write'] },
          orders: ['order-of-billing'],
        },
      });
      const placed = await query('mutation { placeOrder(item: "tea") }', authorization);
      expect(placed.body).toEqual({ data: { placeOrder: 'tea for billing' } });
    });

    itAnswersGraphqlRefusals(() => ({ idp: graphql.idp, query }));

    it('a missing scope refuses that field only: FORBIDDEN with the required scope', async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing' });
      const { status, headers, body } = await query(
        '{ whoami { clientId } orders }',
        authorization,
      );
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
      expect(headers['www-authenticate']).toBe(
        'Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read"',
      );
      expect(status).toBe(200);
    });

    it.each<[string, number, string, () => Promise<string | undefined>]>([
      ['S11 no token', 401, 'UNAUTHENTICATED', async () => undefined],
      ['missing scope', 403, 'FORBIDDEN', () => graphql.idp.bearer({ sub: 'billing' })],
    ])(
      '%s on a non-null field: no data, so Mercurius answers with the refusal status %i',
      async (_name, status, code, authorization) => {
        const response = await query('{ orderCount }', await authorization());
        expect(response.body).toEqual({
          data: null,
          errors: [expect.objectContaining({ extensions: expect.objectContaining({ code }) })],
        });
        expect(response.status).toBe(status);
        expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="orders"/);
      },
    );
  });

  describe('subscriptions', () => {
    const connect = (connectionParams: Record<string, unknown>) => graphql.client(connectionParams);

    it('accepts the token of the payload: the subscription resolver gets its client id', async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing', scope: 'orders:read' });
      const client = connect({ authorization });
      await expect(
        firstResult(client, 'subscription { callers { clientId scopes } }'),
      ).resolves.toEqual({ data: { callers: { clientId: 'billing', scopes: ['orders:read'] } } });
      await expect(firstResult(client, 'subscription { orderEvents }')).resolves.toEqual({
        data: { orderEvents: 'order-of-billing' },
      });
    });

    it('a subscription without its scope: a FORBIDDEN error for it, without extensions.http', async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing' });
      const client = connect({ authorization });
      await expect(firstResult(client, 'subscription { orderEvents }')).rejects.toEqual([
        {
          message: 'The access token lacks a required scope',
          locations: expect.any(Array),
          path: ['orderEvents'],
          extensions: {
            code: 'FORBIDDEN',
            statusCode: 403,
            error: 'insufficient_scope',
            scope: 'orders:read',
          },
        },
      ]);
    });

    it('a connection outlives its token: the operations that start after it expired are refused', async () => {
      // Only Date is faked: Mercurius has no socket to close, so no timer is involved.
      jest.useFakeTimers({
        now: new Date(),
        doNotFake: [
          'nextTick',
          'setImmediate',
          'clearImmediate',
          'setInterval',
          'clearInterval',
          'setTimeout',
          'clearTimeout',
          'queueMicrotask',
          'hrtime',
          'performance',
        ],
      });
      const exp = Math.floor(Date.now() / 1000) + 60;
      const client = connect({ authorization: await graphql.idp.bearer({ sub: 'billing', exp }) });
      await expect(firstResult(client, 'subscription { callers { clientId } }')).resolves.toEqual({
        data: { callers: { clientId: 'billing' } },
      });
      jest.setSystemTime((exp + 30) * 1000);
      await expect(firstResult(client, 'subscription { callers { clientId } }')).rejects.toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({ code: 'UNAUTHENTICATED', error: 'invalid_token' }),
        }),
      ]);
      expect(graphql.feeds.anyOpen()).toBe(true);
    });

    it.each<[string, () => Promise<unknown>]>([
      ['S11 no token', async () => ({})],
      ['invalid-signature', async () => ({ authorization: `${await graphql.idp.bearer()}x` })],
      ['sent twice', async () => ({ authorization: 'Bearer a', Authorization: 'Bearer a' })],
    ])(
      '%s at connection_init: connection_error "Forbidden", then the socket closes (no status code)',
      async (_name, payload) => {
        const socket = graphql.socket();
        const messages: unknown[] = [];
        socket.on('message', (data) => messages.push(JSON.parse(String(data))));
        await once(socket, 'open');
        socket.send(JSON.stringify({ type: 'connection_init', payload: await payload() }));
        const [code] = (await once(socket, 'close')) as [number];
        expect(messages).toEqual([{ type: 'connection_error', payload: { message: 'Forbidden' } }]);
        // Mercurius closes without a status code.
        expect(code).toBe(1005);
      },
    );
  });

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    expect(logger.at('error')).toEqual([]);
  });
});

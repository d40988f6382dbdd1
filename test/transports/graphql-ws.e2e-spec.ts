import { once } from 'node:events';
import { jest } from '@jest/globals';
import { type Client } from 'graphql-ws';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import request from 'supertest';
import { apolloAppModule } from './graphql-app.module.js';
import { firstResult, GraphqlSubscriptionApp } from './graphql-subscription-app.js';

type Params = Record<string, unknown>;
interface Closed {
  code: number;
  reason: string;
}

const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Apollo on Express with subscriptions over graphql-ws: the connection is authenticated once, at
 * `connection_init`, with the payload's `authorization`; the guard checks each operation of the
 * connection against its resolver; the connection is closed when its token expires.
 */
describe('GraphQL subscriptions over graphql-ws (Apollo on Express)', () => {
  const graphql = new GraphqlSubscriptionApp(apolloAppModule);
  const { logger } = graphql;

  /**
   * A graphql-ws client that sends `connectionParams` in `connection_init`; it reconnects only when
   * given `retryAttempts`, and then at once.
   */
  function connect(
    connectionParams: () => Params | Promise<Params>,
    options: { retryAttempts?: number } = {},
  ): { client: Client; closed: Promise<Closed> } {
    const client = graphql.client(connectionParams, options.retryAttempts);
    const closed = new Promise<Closed>((resolve) =>
      client.on('closed', (event) => {
        const { code, reason } = event as Closed;
        resolve({ code, reason });
      }),
    );
    return { client, closed };
  }

  /** A raw socket that sends `connection_init` (with `payload` unless `undefined`), until it closes. */
  async function refusedInit(payload: unknown): Promise<Closed & { messages: string[] }> {
    const socket = graphql.socket();
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    await once(socket, 'open');
    const init = payload === undefined ? {} : { payload };
    socket.send(JSON.stringify({ type: 'connection_init', ...init }));
    const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
    return { code, reason: String(reason), messages };
  }

  describe('over HTTP', () => {
    async function mutation(authorization: string) {
      const response = await request(graphql.app.getHttpServer())
        .post('/graphql')
        .set('Authorization', authorization)
        .send({ query: 'mutation { placeOrder(item: "tea") }' });
      expect(response.text).not.toContain('eyJ');
      return response;
    }

    it('runs a mutation with the client id of a token with its scope', async () => {
      const response = await mutation(
        await graphql.idp.bearer({ sub: 'billing', scope: 'orders:write' }),
      );
      expect(response.body).toEqual({ data: { placeOrder: 'tea for billing' } });
    });

    it('refuses a mutation without its scope: FORBIDDEN, and the challenge as a header', async () => {
      const response = await mutation(
        await graphql.idp.bearer({ sub: 'billing', scope: 'orders:read' }),
      );
      expect(response.body).toEqual({
        data: { placeOrder: null },
        errors: [
          expect.objectContaining({
            message: 'The access token lacks a required scope',
            extensions: {
              code: 'FORBIDDEN',
              statusCode: 403,
              error: 'insufficient_scope',
              scope: 'orders:write',
            },
          }),
        ],
      });
      expect(response.headers['www-authenticate']).toBe(
        'Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:write"',
      );
    });
  });

  describe('connection_init', () => {
    it('accepts the token of the payload: the subscription resolver gets its client id', async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing', scope: 'orders:read' });
      const { client } = connect(() => ({ authorization }));
      await expect(
        firstResult(client, 'subscription { callers { clientId scopes } }'),
      ).resolves.toEqual({
        data: { callers: { clientId: 'billing', scopes: ['orders:read'] } },
      });
      await expect(firstResult(client, 'subscription { orderEvents }')).resolves.toEqual({
        data: { orderEvents: 'order-of-billing' },
      });
    });

    it('queries and mutations over the connection run with its token too', async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing', scope: 'orders:write' });
      const { client } = connect(() => ({ authorization }));
      await expect(firstResult(client, '{ whoami { clientId } }')).resolves.toEqual({
        data: { whoami: { clientId: 'billing' } },
      });
      await expect(firstResult(client, 'mutation { placeOrder(item: "tea") }')).resolves.toEqual({
        data: { placeOrder: 'tea for billing' },
      });
    });

    it.each<[string, () => Promise<unknown>, Closed]>([
      ['S11 no token', async () => ({}), { code: 4403, reason: 'Forbidden' }],
      ['no payload', async () => undefined, { code: 4403, reason: 'Forbidden' }],
      [
        'another scheme',
        async () => ({ authorization: 'Basic YTpi' }),
        { code: 4403, reason: 'Forbidden' },
      ],
      [
        'invalid-signature',
        async () => ({ authorization: `${await graphql.idp.bearer({ sub: 'billing' })}x` }),
        { code: 4403, reason: 'Forbidden' },
      ],
      [
        'malformed',
        async () => ({ authorization: 'Bearer a,b' }),
        { code: 4403, reason: 'Forbidden' },
      ],
      [
        'sent twice',
        async () => {
          const authorization = await graphql.idp.bearer({ sub: 'billing' });
          return { authorization, Authorization: authorization };
        },
        { code: 4403, reason: 'Forbidden' },
      ],
      ['not a string', async () => ({ authorization: 42 }), { code: 4403, reason: 'Forbidden' }],
      [
        'the token alone (no Bearer scheme)',
        async () => ({ authorization: await graphql.idp.mintJwt({ sub: 'billing' }) }),
        { code: 4403, reason: 'Forbidden' },
      ],
    ])('%s: closed with 4403 Forbidden, never acknowledged', async (_name, payload, expected) => {
      const { code, reason, messages } = await refusedInit(await payload());
      expect({ code, reason }).toEqual(expected);
      expect(messages).toEqual([]);
    });

    it('ID service down: closed with 1013 Try Again Later (nothing is wrong with the token)', async () => {
      graphql.idp.on(PATHS.introspection, () => ({ status: 503 }));
      const { code, reason, messages } = await refusedInit({
        authorization: `Bearer ${graphql.idp.mintOpaque('billing')}`,
      });
      expect({ code, reason }).toEqual({ code: 1013, reason: 'Try again later' });
      expect(messages).toEqual([]);
    });
  });

  describe('operations of an accepted connection', () => {
    it('a subscription without its scope: a FORBIDDEN error for it, the connection stays open', async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing' });
      const { client } = connect(() => ({ authorization }));
      await expect(firstResult(client, 'subscription { orderEvents }')).resolves.toEqual({
        errors: [
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
        ],
      });
      await expect(firstResult(client, 'subscription { callers { clientId } }')).resolves.toEqual({
        data: { callers: { clientId: 'billing' } },
      });
    });

    it("@ClientId() in a public subscription fails rather than answer with the connection's client", async () => {
      const authorization = await graphql.idp.bearer({ sub: 'billing' });
      const { client } = connect(() => ({ authorization }));
      await firstResult(client, 'subscription { callers { clientId } }');
      const result = await firstResult(client, 'subscription { publicCallers }');
      expect(result.errors).toHaveLength(1);
      expect(JSON.stringify(result)).not.toContain('billing');
    });
  });

  describe('token expiry', () => {
    /**
     * Fakes `Date` and `setTimeout`, which the expiry check runs on; I/O stays real, and so does
     * `setInterval`, which graphql-ws' keep-alive pings run on, so that a moved clock never outruns
     * a pong.
     */
    function fakeClock(): void {
      jest.useFakeTimers({
        now: new Date(),
        doNotFake: [
          'nextTick',
          'setImmediate',
          'clearImmediate',
          'setInterval',
          'clearInterval',
          'queueMicrotask',
          'hrtime',
          'performance',
        ],
      });
    }

    it('closes the connection with 4403 "Token expired" once exp plus the clock tolerance has passed', async () => {
      fakeClock();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const authorization = await graphql.idp.bearer({ sub: 'billing', exp });
      const { client, closed } = connect(() => ({ authorization }));
      await expect(firstResult(client, 'subscription { callers { clientId } }')).resolves.toEqual({
        data: { callers: { clientId: 'billing' } },
      });

      const untilClose = exp * 1000 + CLOCK_TOLERANCE_SECONDS * 1000 - Date.now();
      await jest.advanceTimersByTimeAsync(untilClose - 1);
      expect(graphql.feeds.anyOpen()).toBe(true);
      await jest.advanceTimersByTimeAsync(1);

      await expect(closed).resolves.toEqual({ code: 4403, reason: 'Token expired' });
      await graphql.feeds.allEnded();
    });

    it('a graphql-ws client reconnects with a fresh token from connectionParams and resubscribes', async () => {
      fakeClock();
      const exp = Math.floor(Date.now() / 1000) + 60;
      let issued = 0;
      const { client, closed } = connect(
        async () => {
          issued += 1;
          const lifetime = issued === 1 ? { exp } : {};
          return { authorization: await graphql.idp.bearer({ sub: 'billing', ...lifetime }) };
        },
        { retryAttempts: 1 },
      );
      const events = client.iterate({ query: 'subscription { callers { clientId } }' });
      const expected = { done: false, value: { data: { callers: { clientId: 'billing' } } } };
      await expect(events.next()).resolves.toEqual(expected);

      await jest.advanceTimersByTimeAsync((60 + CLOCK_TOLERANCE_SECONDS) * 1000);
      await expect(closed).resolves.toEqual({ code: 4403, reason: 'Token expired' });
      await expect(events.next()).resolves.toEqual(expected);
      expect(issued).toBe(2);
      await events.return?.();
    });
  });

  it('logs no token and no unexpected error', () => {
    expect(logger.text()).not.toContain('eyJ');
    // The one error is the misplaced @ClientId() above, which its author must see.
    const misuse = '@ClientId() needs ClientTokenGuard on this route';
    expect(logger.at('error').filter((line) => !line.includes(misuse))).toEqual([]);
    expect(logger.at('error').some((line) => line.includes(misuse))).toBe(true);
  });
});

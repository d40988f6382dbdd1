import { ClientProxyFactory, Transport, type RedisOptions } from '@nestjs/microservices';
import { BROKERS } from '../utils/brokers.js';
import { answerOf, describeBrokerTransport, TOKEN_SENT_TWICE } from './broker-suite.js';

/**
 * Redis pub/sub (on the machine's redis-server): a Redis message has no headers, so the helper
 * puts the token in the payload's `authorization` member, which the handler receives too. A
 * caller may instead set the packet metadata with `ClientProxy.setOnDispatchHook` (Nest 12.1).
 */
const redis = (): RedisOptions => {
  const { hostname, port } = new URL(BROKERS.redis);
  return { transport: Transport.REDIS, options: { host: hostname, port: Number(port || 6379) } };
};

describeBrokerTransport(
  {
    name: 'Redis',
    transport: 'redis',
    server: redis,
    client: redis,
    payloadKeys: ['page', 'authorization'],
  },
  (run) => {
    describe('a caller that sets the packet metadata', () => {
      const client = ClientProxyFactory.create(redis());
      let authorization = '';
      client.setOnDispatchHook((packet) => {
        packet.metadata = { authorization };
      });
      afterAll(() => client.close());

      it('is read there: the payload stays the caller’s own', async () => {
        const { idp, patterns, sentTokens } = run();
        authorization = await idp.bearer({ sub: 'billing', aud: 'orders-api' });
        sentTokens.push(authorization.slice('Bearer '.length));
        await expect(answerOf(client.send(patterns.whoami, { page: 1 }))).resolves.toMatchObject({
          clientId: 'billing',
          payloadKeys: ['page'],
        });
      });

      it('S06 with a token in the payload too: BAD_REQUEST', async () => {
        const { idp, patterns } = run();
        authorization = await idp.bearer({ sub: 'billing', aud: 'orders-api' });
        await expect(
          answerOf(client.send(patterns.whoami, { page: 1, authorization })),
        ).resolves.toEqual(TOKEN_SENT_TWICE);
      });
    });
  },
);

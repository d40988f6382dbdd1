import { RmqRecordBuilder, Transport, type RmqOptions } from '@nestjs/microservices';
import { BROKERS } from '../utils/brokers.js';
import { answerOf, describeBrokerTransport } from './broker-suite.js';

/**
 * RabbitMQ (on the machine's rabbitmq-server): the token travels in the message properties'
 * headers, `authorization: Bearer …`. The run's queue is its own and goes away with its consumer.
 */
const rmq = (queue: string): RmqOptions => ({
  transport: Transport.RMQ,
  options: {
    urls: [BROKERS.rmq],
    queue,
    queueOptions: { durable: false, autoDelete: true },
  },
});

describeBrokerTransport(
  {
    name: 'RabbitMQ',
    transport: 'rmq',
    server: (prefix) => rmq(prefix),
    client: (prefix) => rmq(prefix),
    payloadKeys: ['page'],
  },
  (run) => {
    it.each([['authorization'], ['Authorization'], ['AUTHORIZATION']])(
      'a header %s set by hand with RmqRecordBuilder is read',
      async (name) => {
        const { idp, proxy, patterns, sentTokens } = run();
        const token = await idp.mintJwt({ sub: 'billing', aud: 'orders-api' });
        sentTokens.push(token);
        const record = new RmqRecordBuilder({ page: 1 })
          .setOptions({ headers: { [name]: `Bearer ${token}` } })
          .build();
        await expect(answerOf(proxy.send(patterns.whoami, record))).resolves.toMatchObject({
          clientId: 'billing',
          payloadKeys: ['page'],
        });
      },
    );

    it('S06 a token in the headers and in the payload: BAD_REQUEST', async () => {
      const { idp, sending, patterns } = run();
      const token = await idp.mintJwt({ sub: 'billing', aud: 'orders-api' });
      const message = { page: 1, authorization: `Bearer ${token}` };
      await expect(answerOf(sending(token).send(patterns.whoami, message))).resolves.toEqual({
        status: 'error',
        code: 'BAD_REQUEST',
        statusCode: 400,
        error: 'invalid_request',
        message: 'Malformed bearer token request',
      });
    });
  },
);

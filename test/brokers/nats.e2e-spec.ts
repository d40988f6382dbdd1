import { NatsRecordBuilder, Transport } from '@nestjs/microservices';
import { headers } from '@nats-io/transport-node';
import { BROKERS } from '../utils/brokers.js';
import { answerOf, describeBrokerTransport } from './broker-suite.js';

/**
 * NATS (core request/reply, on the machine's nats-server): the token travels in the message
 * headers, `authorization: Bearer …`; the handler's payload is the caller's own.
 */
describeBrokerTransport(
  {
    name: 'NATS',
    transport: 'nats',
    server: () => ({ transport: Transport.NATS, options: { servers: [BROKERS.nats] } }),
    client: () => ({ transport: Transport.NATS, options: { servers: [BROKERS.nats] } }),
    payloadKeys: ['page'],
  },
  (run) => {
    it.each([['authorization'], ['Authorization']])(
      'a header %s set by hand with NatsRecordBuilder is read',
      async (name) => {
        const { idp, proxy, patterns, sentTokens } = run();
        const token = await idp.mintJwt({ sub: 'billing', aud: 'orders-api' });
        sentTokens.push(token);
        const natsHeaders = headers();
        natsHeaders.set(name, `Bearer ${token}`);
        const record = new NatsRecordBuilder({ page: 1 }).setHeaders(natsHeaders).build();
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

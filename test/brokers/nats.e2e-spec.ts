import { NatsRecordBuilder, Transport } from '@nestjs/microservices';
import { headers } from '@nats-io/transport-node';
import { BROKERS } from '../utils/brokers.js';
import { describeBrokerTransport } from './broker-suite.js';

/**
 * NATS (core request/reply, on the machine's nats-server): the token travels in the message
 * headers, `authorization: Bearer …`; the handler's payload is the caller's own.
 */
describeBrokerTransport({
  name: 'NATS',
  transport: 'nats',
  server: () => ({ transport: Transport.NATS, options: { servers: [BROKERS.nats] } }),
  client: () => ({ transport: Transport.NATS, options: { servers: [BROKERS.nats] } }),
  payloadKeys: ['page'],
  metadata: {
    name: 'headers',
    spellings: ['authorization', 'Authorization'],
    builder: 'NatsRecordBuilder',
    record: (name, value) => {
      const natsHeaders = headers();
      natsHeaders.set(name, value);
      return new NatsRecordBuilder({ page: 1 }).setHeaders(natsHeaders).build();
    },
  },
});

import { RmqRecordBuilder, Transport, type RmqOptions } from '@nestjs/microservices';
import { BROKERS } from '../utils/brokers.js';
import { describeBrokerTransport } from './broker-suite.js';

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

describeBrokerTransport({
  name: 'RabbitMQ',
  transport: 'rmq',
  server: (prefix) => rmq(prefix),
  client: (prefix) => rmq(prefix),
  payloadKeys: ['page'],
  metadata: {
    name: 'headers',
    spellings: ['authorization', 'Authorization', 'AUTHORIZATION'],
    builder: 'RmqRecordBuilder',
    record: (name, value) =>
      new RmqRecordBuilder({ page: 1 }).setOptions({ headers: { [name]: value } }).build(),
  },
});

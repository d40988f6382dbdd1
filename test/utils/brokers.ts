import { randomUUID } from 'node:crypto';
import { SHARED_REDIS_URL } from './redis.js';

/**
 * The machine's message brokers, which `.ci/run` starts: NATS (JetStream on) on 4222, RabbitMQ on
 * 5672 (guest/guest), Mosquitto (MQTT 5) on 1883, Redis on 6379. Never stop one in a test: other
 * suites use them at the same time.
 */
export const BROKERS = {
  nats: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  rmq: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  mqtt: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
  redis: SHARED_REDIS_URL,
} as const;

/**
 * A name no other run uses (subjects, queues, topics, channels), so runs sharing a broker never
 * receive each other's messages.
 */
export const uniqueBrokerName = (prefix: string): string =>
  `${prefix}-${randomUUID().slice(0, 12)}`;

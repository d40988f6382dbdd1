import type { Logger } from '@nestjs/common';

/** The parts of a node-redis client (v4 or v5) a subscription needs, duck-typed. */
interface SubscriberClient {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  destroy?(): void;
  disconnect?(): Promise<unknown>;
}

/** The parts of the client behind a `@keyv/redis` store that publishing and subscribing need. */
export interface PubSubClient {
  publish(channel: string, message: string): Promise<unknown>;
  duplicate(): SubscriberClient;
}

/** The node-redis client of a `@keyv/redis` store (`keyv.store.client`), if it can publish. */
export function pubSubClientOf(store: unknown): PubSubClient | undefined {
  if (typeof store !== 'object' || store === null) return undefined;
  const client = (store as { client?: Record<string, unknown> }).client;
  if (typeof client !== 'object' || client === null) return undefined;
  return typeof client.publish === 'function' && typeof client.duplicate === 'function'
    ? (client as unknown as PubSubClient)
    : undefined;
}

/** A subscription on its own connection: `ready` once subscribed; `close()` ends it. */
export interface Subscription {
  readonly ready: Promise<void>;
  close(): void;
}

/**
 * Subscribes to `channel` on a duplicate of `client` (a connection in subscriber mode can do
 * nothing else). Connection errors are logged once until a message arrives again; node-redis
 * reconnects and resubscribes by itself.
 */
export function subscribeTo(
  client: PubSubClient,
  channel: string,
  listener: (message: string) => void,
  logger: Logger,
): Subscription {
  const subscriber = client.duplicate();
  let reported = false;
  subscriber.on('error', (error: unknown) => {
    if (reported) return;
    reported = true;
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn(`The subscription to ${channel} failed (${reason}); it is retried`);
  });
  const ready = subscriber.connect().then(async () => {
    await subscriber.subscribe(channel, (message) => {
      reported = false;
      listener(message);
    });
  });
  return {
    ready,
    close: () => {
      try {
        if (subscriber.destroy) subscriber.destroy();
        else void subscriber.disconnect?.().catch(() => undefined);
      } catch {
        // Not connected yet: nothing to end.
      }
    },
  };
}

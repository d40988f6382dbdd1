import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Socket } from 'node:net';
import { setTimeout as realDelay } from 'node:timers/promises';
import { createClient, createKeyv, type RedisClientType } from '@keyv/redis';
import type { Keyv } from 'keyv';
import { freePort } from './ports.js';

/** The machine's shared Redis (`.ci/run` starts one). Never stop or pause it in a test. */
export const SHARED_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A Keyv store on `url` for one app instance, reconnecting fast so tests that stop Redis do not
 * wait for the default backoff. The connect timeout is long: a stopped Redis refuses at once and a
 * frozen one is still accepted by the kernel, so it never decides a test, while a short one fails
 * a connection to a healthy Redis when the machine is busy (the store then logs itself unavailable).
 * Disconnect it with {@link closeStores}.
 */
export function redisStore(url: string = SHARED_REDIS_URL): Keyv {
  return createKeyv({ url, socket: { reconnectStrategy: () => 20, connectTimeout: 10_000 } });
}

/** The node-redis client behind a store created by {@link redisStore}. */
const clientOf = (store: Keyv) =>
  (store.store as { client?: { isOpen?: boolean; isReady?: boolean; destroy?: () => void } })
    .client;

/** Whether a store created by {@link redisStore} is connected and ready for commands. */
export const isReady = (store: Keyv): boolean => clientOf(store)?.isReady === true;

/** Disconnects Keyv stores created by {@link redisStore}. */
export async function closeStores(stores: Keyv[]): Promise<void> {
  await Promise.all(
    stores.map(async (store) => {
      const client = clientOf(store);
      if (client?.isOpen) client.destroy?.();
    }),
  );
}

/** A fresh key prefix, so tests sharing one Redis never see each other's entries. */
export const uniquePrefix = (): string => `oidc-cc-test-${randomUUID()}`;

/** A raw client to look at what the library wrote, as an operator with `redis-cli` would. */
export class RedisInspector {
  private constructor(private readonly client: RedisClientType) {}

  static async connect(url: string = SHARED_REDIS_URL): Promise<RedisInspector> {
    const client = createClient({ url }) as RedisClientType;
    await client.connect();
    return new RedisInspector(client);
  }

  /** Every key starting with `prefix`. */
  async keys(prefix: string): Promise<string[]> {
    const found: string[] = [];
    for await (const batch of this.client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      found.push(...batch);
    }
    return found.sort();
  }

  /** Keys and raw string values under `prefix`, as one text to search for secrets. */
  async dump(prefix: string): Promise<string> {
    const lines: string[] = [];
    for (const key of await this.keys(prefix)) lines.push(`${key} ${await this.client.get(key)}`);
    return lines.join('\n');
  }

  get(key: string): Promise<string | null> {
    return this.client.get(key);
  }

  async set(key: string, value: string, ttlMs = 60_000): Promise<void> {
    await this.client.set(key, value, { PX: ttlMs });
  }

  /** Remaining TTL in milliseconds (-2: no key, -1: no TTL). */
  pttl(key: string): Promise<number> {
    return this.client.pTTL(key);
  }

  /** The server's `total_commands_processed` (INFO stats), this call's INFO included. */
  async commandsProcessed(): Promise<number> {
    const info = await this.client.info('stats');
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1]);
  }

  /** Publishes `message` on `channel`; resolves with the number of subscribers that received it. */
  publish(channel: string, message: string): Promise<number> {
    return this.client.publish(channel, message);
  }

  /** Deletes every key under `prefix`. */
  async clear(prefix: string): Promise<void> {
    const keys = await this.keys(prefix);
    if (keys.length > 0) await this.client.del(keys);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/**
 * A private `redis-server` on a free loopback port, for tests that stop or pause Redis (never do
 * that to the shared one). Without persistence; `stop()` kills it, `start()` brings it back on the
 * same port, `close()` ends it for good.
 */
export class PrivateRedis {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    // Up to ten seconds: a busy machine can be slow to start a process.
    for (let i = 0; i < 500; i += 1) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      if (await answers(this.port)) return;
      // Node's own timer: this wait is real even while a test fakes the global ones.
      await realDelay(20);
    }
    throw new Error('redis-server did not start');
  }

  /**
   * Stops the server process (SIGSTOP): connections stay open and commands get no answer, as from
   * a Redis that went silent, until {@link thaw}. Unlike `CLIENT PAUSE`, which holds every client's
   * commands (an `UNPAUSE` too), this is undone at once.
   */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a {@link freeze}d server run again (SIGCONT); commands sent meanwhile are answered. */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kills the server (as a crash would). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  close(): Promise<void> {
    return this.stop();
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

/** A loopback port where nothing listens (bound and released at once). */
export const deadPort = freePort;

/** Counts keys on a private Redis (a fresh connection each time: the server may just be back). */
export class RedisKeys {
  constructor(private readonly url: string) {}

  async count(prefix: string): Promise<number> {
    const inspector = await RedisInspector.connect(this.url);
    try {
      return (await inspector.keys(prefix)).length;
    } finally {
      await inspector.close();
    }
  }
}

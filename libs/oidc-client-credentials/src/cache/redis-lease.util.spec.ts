import { Logger } from '@nestjs/common';
import { Keyv } from 'keyv';
import { GuardedKeyvStore } from './guarded-keyv.store.js';
import { isRedisStore, takeRedisLease, type RedisLeaseClient } from './redis-lease.util.js';

/**
 * A node-redis client reduced to what the lease may use, recording each call: `eval` only, with
 * Redis' SET NX PX and compare-and-delete semantics on a map. A call to anything else (`set`'s
 * option shapes differ between v4 and v5; a cluster's `sendCommand` wants a routing key first)
 * fails the test.
 */
class RecordedClient implements RedisLeaseClient {
  readonly isOpen = true;
  readonly calls: { script: string; keys: string[]; arguments: string[] }[] = [];
  readonly values = new Map<string, { value: string; px: number }>();

  constructor(readonly shape: string) {}

  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown> {
    this.calls.push({ script, ...options });
    const [key] = options.keys;
    const [id, px] = options.arguments;
    if (/'set'.*'NX'.*'PX'/.test(script)) {
      if (this.values.has(key)) return Promise.resolve(null);
      this.values.set(key, { value: id, px: Number(px) });
      return Promise.resolve('OK');
    }
    if (/'get'.*'del'/.test(script)) {
      if (this.values.get(key)?.value !== id) return Promise.resolve(0);
      this.values.delete(key);
      return Promise.resolve(1);
    }
    return Promise.reject(new Error(`unexpected script ${script}`));
  }
}

/** The part of a @keyv/redis store the lease reads: its client, key prefix and namespace. */
function redisStore(client: RecordedClient) {
  return {
    client,
    namespace: 'ns',
    getClient: () => Promise.resolve(client),
    createKeyPrefix: (key: string, namespace?: string) =>
      namespace ? `${namespace}::${key}` : key,
  };
}

describe('takeRedisLease command path', () => {
  const guarded = () => new GuardedKeyvStore(new Keyv(), 'cache.stores[0]', 1000, new Logger('t'));

  // No Redis cluster runs here: this records the calls a cluster client would get. node-redis v4
  // and v5, single node and cluster, all take eval(script, { keys, arguments }) and route it by
  // its first key; the real single node runs it in the shared-cache and fleet e2e specs.
  it('SET NX PX and the release go through eval only, with the lease key first', async () => {
    const shape = 'cluster';
    const client = new RecordedClient(shape);
    const store = redisStore(client);
    expect(isRedisStore(store)).toBe(true);

    const lease = await takeRedisLease(guarded(), store, 'p:token:abc:lease', 1000);
    expect(lease.state).toBe('acquired');
    expect(client.values.get('ns::p:token:abc:lease')?.px).toBe(1000);
    // A second instance finds it held.
    await expect(takeRedisLease(guarded(), store, 'p:token:abc:lease', 1000)).resolves.toEqual({
      state: 'held',
    });
    if (lease.state === 'acquired') await lease.release();
    expect(client.values.size).toBe(0);

    expect(client.calls.map((c) => c.keys)).toEqual([
      ['ns::p:token:abc:lease'],
      ['ns::p:token:abc:lease'],
      ['ns::p:token:abc:lease'],
    ]);
    expect(client.calls[0].arguments).toEqual([expect.any(String), '1000']);
  });

  it('a lease taken over by another instance after its TTL is not released by the old holder', async () => {
    const client = new RecordedClient('single node');
    const store = redisStore(client);
    const old = await takeRedisLease(guarded(), store, 'k', 500);
    client.values.clear(); // expired
    const taker = await takeRedisLease(guarded(), store, 'k', 500);
    expect(taker.state).toBe('acquired');
    if (old.state === 'acquired') await old.release();
    expect(client.values.has('ns::k')).toBe(true);
  });

  it('a store whose client has no eval is not a lease store', () => {
    const store = { client: { isOpen: true, set: () => undefined }, getClient: () => undefined };
    expect(isRedisStore(store)).toBe(false);
  });
});

import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createClient, type RedisClientType } from '@keyv/redis';
import { VerificationCache } from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { InboundFleet } from '../utils/inbound-fleet.js';
import type { RunningApp } from '../utils/nest-http-app.js';
import { SHARED_REDIS_URL } from '../utils/redis.js';
import { until } from '../utils/until.js';

/**
 * `VerificationCache.revoke()` / `revokeClient()` on one instance: its entries go at once, the
 * other instances drop theirs on an authenticated Redis message, and a shared record keeps the
 * token refused by instances that never saw the message, whatever a stale shared result says.
 */
describe('revocation across instances (e2e)', () => {
  const fleet = new InboundFleet();
  const { status } = fleet;
  let listener: RedisClientType;

  beforeEach(async () => {
    listener = createClient({ url: SHARED_REDIS_URL }) as RedisClientType;
    await listener.connect();
  });
  afterEach(() => {
    listener.destroy();
  });

  const instance = () => fleet.instance({ verification: { cacheTtlSeconds: 300 } });
  const channel = () => `${fleet.prefix}:revocations`;
  /** The next message on the revocations channel, as every instance receives it. */
  async function nextMessage(): Promise<() => Promise<string>> {
    let received: (message: string) => void = () => undefined;
    const message = new Promise<string>((resolve) => (received = resolve));
    await listener.subscribe(channel(), (m) => received(m));
    return () => message;
  }
  const refusedWithin1s = (app: RunningApp, token: string) =>
    until(async () => (await status(app, token)) === 401, 'a 401 for the revoked token', 1000);

  it.each([
    ['revoke(token)', (cache: VerificationCache, token: string) => cache.revoke(token)],
    ['revokeClient(clientId)', (cache: VerificationCache) => cache.revokeClient('billing')],
  ])(
    '%s on one of 3 instances: 401 there at once, on the others within 1 s, and on a new instance despite the shared result',
    async (_case, revoke) => {
      const [a, b, c] = await Promise.all([instance(), instance(), instance()]);
      const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
      for (const app of [a, b, c]) expect(await status(app, token)).toBe(200);
      expect(fleet.idp.requestsTo(PATHS.introspection)).toHaveLength(1);

      const message = await nextMessage();
      await revoke(a.app.get(VerificationCache), token);
      expect(await status(a, token)).toBe(401);
      await message();
      await refusedWithin1s(b, token);
      await refusedWithin1s(c, token);

      // An instance started after the message reads the stale shared result and the revocation.
      const late = await instance();
      expect(await status(late, token)).toBe(401);
      // Revocation is this fleet's: the ID service was never told, and was not asked again.
      expect(fleet.idp.requestsTo(PATHS.introspection)).toHaveLength(1);
    },
  );

  const signedWith = (key: Buffer) => (json: string) =>
    `${json}.${createHmac('sha256', key).update(`${channel()}\n${json}`).digest('base64url')}`;

  it.each([
    ['signed with another key', signedWith(randomBytes(32))],
    ['unsigned', (json: string) => json],
    ['with an empty signature', (json: string) => `${json}.`],
  ])('a forged revocation message (%s) changes nothing', async (_case, sign) => {
    const [a, b] = await Promise.all([instance(), instance()]);
    const kept = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    const revoked = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });
    for (const token of [kept, revoked]) expect(await status(b, token)).toBe(200);

    // A well-formed message revoking `kept`, which the instances must not believe.
    const body = { kind: 'client', clientId: 'billing', before: Date.now() + 10_000 };
    const json = JSON.stringify({ v: 1, at: Date.now(), id: randomUUID(), body });
    expect(await fleet.inspector.publish(channel(), sign(json))).toBe(2);

    // Messages on a channel arrive in order: once the genuine one took effect, the forged one
    // was received before it.
    await a.app.get(VerificationCache).revoke(revoked);
    await refusedWithin1s(b, revoked);
    expect(await status(b, kept)).toBe(200);
  });
});

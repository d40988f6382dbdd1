import { type VerificationStrategyName } from 'nest-oidc-client-credentials';
import { PATHS } from 'nest-oidc-client-credentials/testing';
import { InboundFleet } from '../utils/inbound-fleet.js';

/**
 * One call to the ID service per distinct token for the whole fleet: the first instance to miss
 * verifies under a Redis lease, the others wait for its shared result.
 */
describe('inbound single flight across instances (e2e)', () => {
  const fleet = new InboundFleet();
  const instance = (strategy: VerificationStrategyName) =>
    fleet.instance({ verification: { strategy } });

  it.each([
    ['introspection', PATHS.introspection],
    ['userinfo', PATHS.userinfo],
  ] as const)(
    '5 instances × 100 concurrent requests with one new token → one %s call',
    async (strategy, path) => {
      const apps = await Promise.all(Array.from({ length: 5 }, () => instance(strategy)));
      const token = fleet.idp.mintOpaque('billing', { scope: 'orders:read' });

      const statuses = await Promise.all(
        apps.flatMap((app) => Array.from({ length: 100 }, () => fleet.status(app, token))),
      );

      expect(statuses.filter((s) => s === 200)).toHaveLength(500);
      expect(fleet.idp.requestsTo(path)).toHaveLength(1);
      // The lease is given back once the result is shared.
      expect(
        (await fleet.inspector.keys(`${fleet.prefix}:verify:`)).filter((k) => k.endsWith(':lease')),
      ).toEqual([]);
    },
  );
});

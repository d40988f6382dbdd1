import type { SharedCache } from '../cache/shared-cache.provider.js';

/** Mean pause between two looks at the shared result while another instance works on it. */
const LEASE_POLL_MS = 25;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How one instance of the fleet does a piece of work while the others wait for its result. */
export interface FleetSingleFlight<T> {
  /** The Redis lease (`SET NX PX`) the instance doing the work holds. */
  readonly leaseKey: string;
  /** A lease outlives one piece of work, then lapses if its holder died. */
  readonly leaseTtlMs: number;
  /** How long the others wait for the result before doing the work themselves. */
  readonly waitMs: number;
  /** The result another instance wrote, if there is one yet. */
  readonly readWritten: () => Promise<T | undefined>;
  /** Does the work and writes its result for the others. */
  readonly run: () => Promise<T>;
}

/**
 * One instance of the fleet does the work; the others wait for its shared result, polling a
 * bounded number of times (the clock may jump or stand still), then do it themselves. The lease
 * is given back as soon as the work is done, or on a failure, which is never shared: the next
 * instance then takes the lease and tries.
 */
export async function underFleetLease<T>(
  shared: SharedCache,
  flight: FleetSingleFlight<T>,
): Promise<T> {
  const { leaseKey, leaseTtlMs, readWritten } = flight;
  let polls = Math.ceil(flight.waitMs / LEASE_POLL_MS);
  let lease = await shared.lease(leaseKey, leaseTtlMs);
  while (lease.state === 'held' && polls-- > 0) {
    await pause(Math.round(LEASE_POLL_MS * (0.5 + Math.random())));
    const written = await readWritten();
    if (written !== undefined) return written;
    lease = await shared.lease(leaseKey, leaseTtlMs);
  }
  try {
    if (lease.state === 'acquired') {
      // The previous holder may have written and released between the first read and the lease.
      const written = await readWritten();
      if (written !== undefined) return written;
    }
    return await flight.run();
  } finally {
    if (lease.state === 'acquired') await lease.release();
  }
}

import { describe, expect, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { SharedCache } from '../../cache/shared-cache.provider.js';
import type { SharedLease } from '../../cache/redis-lease.util.js';
import { ProofReplayStore } from './proof-replay.store.js';

const T0 = Date.UTC(2030, 0, 1);
const logger = new Logger('test');

/** A shared cache whose lease answers `state` (what the Redis lease answers; tested in cache/). */
function sharedAnswering(state: SharedLease['state']): SharedCache {
  return {
    enabled: true,
    key: (...parts: string[]) => parts.join(':'),
    lease: async () => ({ state, release: async () => undefined }) as SharedLease,
  } as unknown as SharedCache;
}

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: { code?: string }) => error.code,
  );

describe('ProofReplayStore', () => {
  it('accepts a proof once within its window, in process', async () => {
    const store = new ProofReplayStore(undefined, logger);
    expect(await code(store.remember('k', 'j1', 60_000, T0))).toBe('accepted');
    expect(await code(store.remember('k', 'j1', 60_000, T0 + 59_999))).toBe(
      'OIDC_CC_DPOP_PROOF_INVALID',
    );
    // The same jti of another key is another proof.
    expect(await code(store.remember('other', 'j1', 60_000, T0))).toBe('accepted');
  });

  it('forgets a proof only once its window has passed', async () => {
    const store = new ProofReplayStore(undefined, logger);
    await store.remember('k', 'j1', 60_000, T0);
    expect(await code(store.remember('k', 'j1', 60_000, T0 + 60_000))).toBe('accepted');
  });

  it('refuses new proofs rather than forgetting live ones when full', async () => {
    const store = new ProofReplayStore(undefined, logger, 2);
    await store.remember('k', 'j1', 60_000, T0);
    await store.remember('k', 'j2', 60_000, T0);
    expect(await code(store.remember('k', 'j3', 60_000, T0 + 1))).toBe(
      'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE',
    );
    // j1 is still remembered: no eviction let it back in.
    expect(await code(store.remember('k', 'j1', 60_000, T0 + 2))).toBe(
      'OIDC_CC_DPOP_PROOF_INVALID',
    );
    // Once expired, room is made.
    expect(await code(store.remember('k', 'j3', 60_000, T0 + 60_000))).toBe('accepted');
  });

  it.each<[SharedLease['state'], string]>([
    ['acquired', 'accepted'],
    ['held', 'OIDC_CC_DPOP_PROOF_INVALID'],
    ['unavailable', 'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE'],
  ])('with a shared Redis answering %s: %s', async (state, expected) => {
    const store = new ProofReplayStore(sharedAnswering(state), logger);
    expect(await code(store.remember('k', 'j1', 60_000, T0))).toBe(expected);
  });

  it('falls back to the process when the shared stores cannot set if absent', async () => {
    const store = new ProofReplayStore(sharedAnswering('unsupported'), logger);
    expect(await code(store.remember('k', 'j1', 60_000, T0))).toBe('accepted');
    expect(await code(store.remember('k', 'j1', 60_000, T0))).toBe('OIDC_CC_DPOP_PROOF_INVALID');
  });
});

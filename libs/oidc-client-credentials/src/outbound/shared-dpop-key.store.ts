import type { JWK } from 'jose';
import type { SharedCache } from '../cache/shared-cache.provider.js';
import type { ResolvedOptions } from '../options/resolved-options.js';
import { sleep } from './backoff.util.js';
import { importGeneratedDpopKey, type DpopKey } from './dpop-key.util.js';
import { LEASE_POLL_MS } from './shared-token.store.js';

/**
 * How long the fleet's key stays in the store after it was last written. Every instance writes it
 * again with each token it obtains, so a running fleet keeps it; a fleet stopped this long makes
 * a new one.
 */
export const DPOP_KEY_TTL_MS = 7 * 24 * 3600 * 1000;
/** The lease of the instance that makes the fleet's first key. */
const KEY_LEASE_MS = 5_000;
const RECORD_VERSION = 1;

/**
 * The fleet's DPoP key pair of one client, in the shared store — sealed: the module refuses to
 * start with a generated DPoP key and `cache.stores` but no `cache.encryptionKey`. The first
 * instance makes it under a Redis lease while the others wait for it, so the fleet binds its
 * tokens to one key and shares one token per lifetime, as for bearer tokens. A key the
 * application brought is never stored: every instance has it already.
 */
export class SharedDpopKeyStore {
  private readonly key: string;
  private readonly leaseKey: string;

  constructor(
    private readonly shared: SharedCache,
    tokenKey: string,
    private readonly options: ResolvedOptions,
  ) {
    this.key = `${tokenKey}:dpop-key`;
    this.leaseKey = `${this.key}:lease`;
  }

  /**
   * The fleet's key: the stored one, else one `make`s under the lease (and stores), else — no
   * lease possible, or no key written after `retry.deadlineMs` of waiting — this instance's own,
   * stored for the others. A store that cannot be reached gives this instance a key of its own,
   * stored by {@link sync} once the store answers again.
   */
  async obtain(make: () => Promise<DpopKey>): Promise<DpopKey> {
    const found = await this.read();
    if (found) return found;
    let polls = Math.ceil(this.options.retry.deadlineMs / LEASE_POLL_MS);
    let lease = await this.shared.lease(this.leaseKey, KEY_LEASE_MS);
    while (lease.state === 'held' && polls-- > 0) {
      await sleep(Math.round(LEASE_POLL_MS * (0.5 + Math.random())));
      const written = await this.read();
      if (written) return written;
      lease = await this.shared.lease(this.leaseKey, KEY_LEASE_MS);
    }
    if (lease.state !== 'acquired') {
      const own = await make();
      await this.write(own);
      // Without a lease two instances may have written: the last one written is the fleet's.
      return (await this.read()) ?? own;
    }
    try {
      const written = await this.read();
      if (written) return written;
      const made = await make();
      await this.write(made);
      return made;
    } finally {
      await lease.release();
    }
  }

  /**
   * Before a token request: the fleet's key as stored now — `current` when it is the same (then
   * written again, so it outlives the token) or the store has none (then `current` is stored), the
   * stored one when another instance replaced it (a flushed store, say).
   */
  async sync(current: DpopKey): Promise<DpopKey> {
    const stored = await this.read();
    if (stored && stored.thumbprint !== current.thumbprint) return stored;
    await this.write(current);
    return current;
  }

  private async write(key: DpopKey): Promise<void> {
    // A private key goes to the store sealed or not at all (startup refuses the unsealed case).
    if (key.privateJwk === undefined || !this.shared.sealed) return;
    await this.shared.set(
      this.key,
      { v: RECORD_VERSION, kind: 'dpop-key', key: this.key, alg: key.alg, jwk: key.privateJwk },
      DPOP_KEY_TTL_MS,
    );
  }

  /** The stored key, if it opens, is this client's, of its algorithm, and imports; else a miss. */
  private async read(): Promise<DpopKey | undefined> {
    const record = await this.shared.get(this.key);
    if (!record || !this.shared.sealed) return undefined;
    const { v, kind, key, alg, jwk } = record;
    if (
      v !== RECORD_VERSION ||
      kind !== 'dpop-key' ||
      key !== this.key ||
      alg !== this.options.dpop?.alg ||
      typeof jwk !== 'object' ||
      jwk === null
    ) {
      return undefined;
    }
    try {
      return await importGeneratedDpopKey(jwk as JWK, alg as string);
    } catch {
      return undefined;
    }
  }
}

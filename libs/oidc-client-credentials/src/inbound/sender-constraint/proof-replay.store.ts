import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { SenderConstraintError } from '../../errors/sender-constraint.error.js';
import type { SharedCache } from '../../cache/shared-cache.provider.js';

/** Proofs remembered in process at most; beyond this, proofs are refused (503), never forgotten early. */
export const MAX_REMEMBERED_PROOFS = 200_000;

/**
 * Remembers each DPoP proof's `jti` (per key) for the proof window, so a proof is accepted once.
 *
 * - With a @keyv/redis store in `cache.stores`: an atomic `SET NX PX` on the shared Redis (the
 *   key is a hash of the key thumbprint and `jti`), so a proof accepted by one instance is refused
 *   by every other. A Redis that does not answer within `cache.timeoutMs` fails closed: 503
 *   (`OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE`), never an accepted possible replay.
 * - Otherwise (no shared store, or stores without an atomic set-if-absent): in this process, with
 *   each entry expiring after the window. Entries are never evicted before they expire: past
 *   {@link MAX_REMEMBERED_PROOFS} live entries, new proofs are refused with 503 instead.
 */
export class ProofReplayStore {
  /** `jti` hash → expiry (ms). Inserted with one TTL, so insertion order is expiry order. */
  private readonly seen = new Map<string, number>();
  private warnedUnsupported = false;

  constructor(
    private readonly shared: SharedCache | undefined,
    private readonly logger: Logger,
    private readonly maxEntries = MAX_REMEMBERED_PROOFS,
  ) {}

  /**
   * Records the proof `jti` of key `jkt` for `ttlMs`.
   *
   * @throws SenderConstraintError `OIDC_CC_DPOP_PROOF_INVALID` when it was seen already,
   *   `OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE` when the store cannot answer or is full.
   */
  async remember(jkt: string, jti: string, ttlMs: number, now = Date.now()): Promise<void> {
    const id = createHash('sha256').update(jkt).update('\n').update(jti).digest('base64url');
    if (this.shared?.enabled) {
      const lease = await this.shared.lease(this.shared.key('dpop-jti', id), ttlMs);
      if (lease.state === 'acquired') return;
      if (lease.state === 'held') throw replayed();
      if (lease.state === 'unavailable') {
        throw new SenderConstraintError(
          'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE',
          'The shared store that remembers DPoP proofs did not answer: a replay cannot be ruled out',
        );
      }
      this.warnUnsupported();
    }
    this.rememberInProcess(id, ttlMs, now);
  }

  private rememberInProcess(id: string, ttlMs: number, now: number): void {
    for (const [key, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(key);
    }
    const expiry = this.seen.get(id);
    if (expiry !== undefined && expiry > now) throw replayed();
    if (this.seen.size >= this.maxEntries) {
      throw new SenderConstraintError(
        'OIDC_CC_DPOP_REPLAY_CHECK_UNAVAILABLE',
        `More than ${this.maxEntries} DPoP proofs within the proof window: new ones are refused until older ones expire`,
      );
    }
    this.seen.set(id, now + ttlMs);
  }

  private warnUnsupported(): void {
    if (this.warnedUnsupported) return;
    this.warnedUnsupported = true;
    this.logger.warn(
      'cache.stores has no @keyv/redis store: DPoP proofs are remembered in each process only, so a proof accepted by one instance could be replayed once at another',
    );
  }
}

function replayed(): SenderConstraintError {
  return SenderConstraintError.proof('The DPoP proof was used before');
}

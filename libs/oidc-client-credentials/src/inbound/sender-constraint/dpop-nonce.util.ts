import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long one nonce is handed out; it is accepted for one more period after that. */
export const DPOP_NONCE_PERIOD_SECONDS = 300;
const STEP_BYTES = 6;
const MAC_BYTES = 16;
const NONCE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Stateless DPoP server nonces (RFC 9449 §9): a nonce is a time step and an HMAC-SHA-256 of it,
 * so any instance holding the same secret checks any instance's nonce without a store. A new nonce
 * is handed out every {@link DPOP_NONCE_PERIOD_SECONDS}; the current and the previous step's are
 * accepted, so a nonce stays good for one to two periods.
 *
 * The secret is derived from `cache.encryptionKey` when the instances share stores (so the fleet
 * agrees), else drawn at random for this process.
 */
export class DpopNonces {
  private readonly secret: Buffer;

  constructor(
    sharedKey: Buffer | undefined,
    private readonly periodSeconds = DPOP_NONCE_PERIOD_SECONDS,
  ) {
    this.secret = sharedKey
      ? Buffer.from(hkdfSync('sha256', sharedKey, Buffer.alloc(0), 'oidc-cc dpop nonce', 32))
      : randomBytes(32);
  }

  /** The nonce to hand out now. */
  current(now = Date.now()): string {
    return this.nonceOf(this.stepAt(now));
  }

  /** Whether `nonce` is this step's or the previous one's. */
  accepts(nonce: string, now = Date.now()): boolean {
    if (!NONCE.test(nonce)) return false;
    const bytes = Buffer.from(nonce, 'base64url');
    if (bytes.length !== STEP_BYTES + MAC_BYTES) return false;
    const step = bytes.readUIntBE(0, STEP_BYTES);
    const current = this.stepAt(now);
    if (step !== current && step !== current - 1) return false;
    return timingSafeEqual(bytes.subarray(STEP_BYTES), this.mac(step));
  }

  private stepAt(now: number): number {
    return Math.floor(now / 1000 / this.periodSeconds);
  }

  private nonceOf(step: number): string {
    const bytes = Buffer.alloc(STEP_BYTES + MAC_BYTES);
    bytes.writeUIntBE(step, 0, STEP_BYTES);
    this.mac(step).copy(bytes, STEP_BYTES);
    return bytes.toString('base64url');
  }

  private mac(step: number): Buffer {
    const stepBytes = Buffer.alloc(STEP_BYTES);
    stepBytes.writeUIntBE(step, 0, STEP_BYTES);
    return createHmac('sha256', this.secret).update(stepBytes).digest().subarray(0, MAC_BYTES);
  }
}

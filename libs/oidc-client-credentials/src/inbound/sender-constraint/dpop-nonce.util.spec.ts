import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { DPOP_NONCE_PERIOD_SECONDS, DpopNonces } from './dpop-nonce.util.js';

const PERIOD_MS = DPOP_NONCE_PERIOD_SECONDS * 1000;
const T0 = Date.UTC(2030, 0, 1);

describe('DpopNonces', () => {
  const shared = randomBytes(32);

  it.each([
    ['the current nonce', 0, true],
    ['a nonce of the previous period', PERIOD_MS, true],
    ['a nonce two periods old', 2 * PERIOD_MS, false],
    ['a nonce of a future period', -PERIOD_MS, false],
  ])('accepts %s: %s', (_name, age, accepted) => {
    const nonces = new DpopNonces(shared);
    expect(nonces.accepts(nonces.current(T0), T0 + age)).toBe(accepted);
  });

  it('is valid on every instance that shares the key, and on no other', () => {
    const nonce = new DpopNonces(shared).current(T0);
    expect(new DpopNonces(shared).accepts(nonce, T0)).toBe(true);
    expect(new DpopNonces(randomBytes(32)).accepts(nonce, T0)).toBe(false);
    expect(new DpopNonces(undefined).accepts(nonce, T0)).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'a.b'],
    ['too short', 'AAAA'],
    ['too long', 'A'.repeat(65)],
  ])('refuses a nonce that is %s', (_name, nonce) => {
    expect(new DpopNonces(shared).accepts(nonce, T0)).toBe(false);
  });

  it('refuses a nonce whose MAC was altered', () => {
    const nonces = new DpopNonces(shared);
    const bytes = Buffer.from(nonces.current(T0), 'base64url');
    bytes[bytes.length - 1] ^= 1;
    expect(nonces.accepts(bytes.toString('base64url'), T0)).toBe(false);
  });

  it('hands out a new nonce each period', () => {
    const nonces = new DpopNonces(shared);
    expect(nonces.current(T0 + PERIOD_MS)).not.toBe(nonces.current(T0));
  });
});

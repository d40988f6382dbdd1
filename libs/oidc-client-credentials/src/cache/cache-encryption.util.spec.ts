import { randomBytes } from 'node:crypto';
import { createCacheCipher, open, seal } from './cache-encryption.util.js';

describe('cache encryption (AES-256-GCM)', () => {
  const cipher = createCacheCipher(randomBytes(32));
  const plaintext = JSON.stringify({ accessToken: 'eyJhbGciOi.secret-token.sig' });

  it('round-trips, with a fresh IV per value and no plaintext in the sealed text', () => {
    const a = seal(cipher, 'oidc-cc:token:1', plaintext);
    const b = seal(cipher, 'oidc-cc:token:1', plaintext);
    expect(a).not.toBe(b);
    expect(a).not.toContain('secret-token');
    expect(Buffer.from(a.slice(3), 'base64url').toString('latin1')).not.toContain('secret-token');
    expect(open(cipher, 'oidc-cc:token:1', a)).toBe(plaintext);
    expect(open(cipher, 'oidc-cc:token:1', b)).toBe(plaintext);
  });

  it('does not expose the configured key: the stored key id is derived, not a prefix of it', () => {
    const secret = randomBytes(32);
    const sealed = Buffer.from(seal(createCacheCipher(secret), 'k', 'x').slice(3), 'base64url');
    expect(sealed[0]).toBe(1);
    expect(sealed.subarray(1, 5).equals(secret.subarray(0, 4))).toBe(false);
    expect(createCacheCipher(secret).key.equals(secret)).toBe(false);
  });

  const sealedBytes = () => Buffer.from(seal(cipher, 'k', plaintext).slice(3), 'base64url');
  const flip = (bytes: Buffer, index: number) => {
    const copy = Buffer.from(bytes);
    copy[index] ^= 0x01;
    return `e1.${copy.toString('base64url')}`;
  };

  it.each([
    ['R16 wrong key', () => seal(createCacheCipher(randomBytes(32)), 'k', plaintext)],
    ['R16 other key binding (value copied to another key)', () => seal(cipher, 'other', plaintext)],
    ['R16 format version byte changed', () => flip(sealedBytes(), 0)],
    ['R16 key id changed', () => flip(sealedBytes(), 2)],
    ['R16 IV changed', () => flip(sealedBytes(), 8)],
    ['R16 ciphertext changed', () => flip(sealedBytes(), 20)],
    ['R16 tag changed', () => flip(sealedBytes(), sealedBytes().length - 1)],
    ['R16 truncated', () => `e1.${sealedBytes().subarray(0, 20).toString('base64url')}`],
    ['S72 plain JSON (written without encryption)', () => plaintext],
    ['S72 empty string', () => ''],
    ['S72 prefix only', () => 'e1.'],
    ['S72 not a string', () => ({ value: plaintext })],
    ['S72 number', () => 42],
  ])('%s opens to nothing', (_name, value) => {
    expect(open(cipher, 'k', value())).toBeUndefined();
  });
});

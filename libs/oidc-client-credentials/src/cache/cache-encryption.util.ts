import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** First byte of every sealed value: the format, so a later format can be told apart. */
const FORMAT_VERSION = 1;
const KEY_ID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES;
/** Text prefix of sealed values, so a value written without encryption is recognised at once. */
const SEALED_PREFIX = 'e1.';

/** An AES-256-GCM key derived from `cache.encryptionKey`, with the id stored next to each value. */
export interface CacheCipher {
  /** Derived encryption key (HKDF-SHA-256), never the configured key itself. */
  readonly key: Buffer;
  /** Identifies the configured key without revealing it, so a value sealed under another key is skipped. */
  readonly keyId: Buffer;
}

/**
 * Derives the cipher of a 32-byte `cache.encryptionKey`. Encryption key and key id come from HKDF
 * with distinct labels, so the id stored in Redis says nothing about the key.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export function createCacheCipher(secret: Buffer): CacheCipher {
  const derive = (info: string, length: number) =>
    Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), info, length));
  return {
    key: derive('nest-oidc-client-credentials cache encryption v1', 32),
    keyId: derive('nest-oidc-client-credentials cache key id v1', KEY_ID_BYTES),
  };
}

/**
 * Encrypts `plaintext` with AES-256-GCM under a random 96-bit IV. `binding` (the cache key) is
 * authenticated as additional data, so a value copied to another key does not open.
 *
 * Layout, base64url after the `e1.` prefix: version (1 byte) · key id (4) · IV (12) · ciphertext ·
 * tag (16).
 */
export function seal(cipher: CacheCipher, binding: string, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const header = Buffer.concat([Buffer.from([FORMAT_VERSION]), cipher.keyId]);
  const gcm = createCipheriv('aes-256-gcm', cipher.key, iv, { authTagLength: TAG_BYTES });
  gcm.setAAD(Buffer.concat([header, Buffer.from(binding, 'utf8')]));
  const ciphertext = Buffer.concat([gcm.update(plaintext, 'utf8'), gcm.final()]);
  const sealed = Buffer.concat([header, iv, ciphertext, gcm.getAuthTag()]);
  return SEALED_PREFIX + sealed.toString('base64url');
}

/**
 * The plaintext of a {@link seal}ed value, or `undefined` for anything else: not sealed, another
 * format version, another key, another binding, or altered (the GCM tag does not verify).
 */
export function open(cipher: CacheCipher, binding: string, value: unknown): string | undefined {
  if (typeof value !== 'string' || !value.startsWith(SEALED_PREFIX)) return undefined;
  const sealed = Buffer.from(value.slice(SEALED_PREFIX.length), 'base64url');
  if (sealed.length < HEADER_BYTES + IV_BYTES + TAG_BYTES) return undefined;
  const header = sealed.subarray(0, HEADER_BYTES);
  if (header[0] !== FORMAT_VERSION || !header.subarray(1).equals(cipher.keyId)) return undefined;
  const iv = sealed.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const ciphertext = sealed.subarray(HEADER_BYTES + IV_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  try {
    const gcm = createDecipheriv('aes-256-gcm', cipher.key, iv, { authTagLength: TAG_BYTES });
    gcm.setAAD(Buffer.concat([header, Buffer.from(binding, 'utf8')]));
    gcm.setAuthTag(tag);
    return Buffer.concat([gcm.update(ciphertext), gcm.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

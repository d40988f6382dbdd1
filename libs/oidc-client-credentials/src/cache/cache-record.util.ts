import { open, seal, type CacheCipher } from './cache-encryption.util.js';

/**
 * A record as the shared store holds it: JSON, sealed with `cache.encryptionKey` when there is
 * one (bound to `key`, so a value copied to another key does not open).
 */
export function encodeRecord(
  cipher: CacheCipher | undefined,
  key: string,
  record: Record<string, unknown>,
): string {
  const json = JSON.stringify(record);
  return cipher ? seal(cipher, key, json) : json;
}

/**
 * The record of a stored value, or `undefined` for anything else: a value that does not open
 * (plain text where sealed ones are expected, another key, altered) or is not a JSON object.
 * Callers still validate the record's shape.
 */
export function decodeRecord(
  cipher: CacheCipher | undefined,
  key: string,
  value: unknown,
): Record<string, unknown> | undefined {
  const json = cipher ? open(cipher, key, value) : value;
  if (typeof json !== 'string' || !json.startsWith('{')) return undefined;
  try {
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

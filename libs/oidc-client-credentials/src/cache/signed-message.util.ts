import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/** A message older (or further ahead of this clock) than this is refused. */
export const MAX_MESSAGE_AGE_MS = 30_000;
const FORMAT_VERSION = 1;

/**
 * The HMAC-SHA-256 key of messages between instances, derived from `cache.encryptionKey` with its
 * own HKDF label: neither the configured key nor the cache's encryption key.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5869
 */
export function messageKey(secret: Buffer): Buffer {
  return Buffer.from(
    hkdfSync('sha256', secret, Buffer.alloc(0), 'nest-oidc-client-credentials messages v1', 32),
  );
}

/**
 * `body` as a message on `channel`: JSON with the send time and a random id, then `.` and the
 * base64url HMAC of the channel and that JSON (so a message replayed on another channel fails).
 */
export function signMessage(
  key: Buffer,
  channel: string,
  body: Record<string, unknown>,
  now = Date.now(),
): string {
  const json = JSON.stringify({
    v: FORMAT_VERSION,
    at: now,
    id: randomBytes(16).toString('base64url'),
    body,
  });
  return `${json}.${mac(key, channel, json)}`;
}

/**
 * Remembers the ids of accepted messages for as long as they could be replayed
 * ({@link MAX_MESSAGE_AGE_MS} on either side of their send time).
 */
export class SeenMessages {
  private readonly ids = new Map<string, number>();

  /** Records `id`; false when it was already seen. */
  add(id: string, at: number, now: number): boolean {
    for (const [seen, seenAt] of this.ids) {
      if (seenAt < now - 2 * MAX_MESSAGE_AGE_MS) this.ids.delete(seen);
      else break;
    }
    if (this.ids.has(id)) return false;
    this.ids.set(id, at);
    return true;
  }
}

/**
 * The body of a message from {@link signMessage}, or `undefined` when it is not one: altered,
 * signed with another key or for another channel, older than {@link MAX_MESSAGE_AGE_MS}, or
 * already seen.
 */
export function openMessage(
  key: Buffer,
  channel: string,
  raw: string,
  seen: SeenMessages,
  now = Date.now(),
): Record<string, unknown> | undefined {
  const dot = raw.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const json = raw.slice(0, dot);
  const given = Buffer.from(raw.slice(dot + 1), 'base64url');
  const expected = Buffer.from(mac(key, channel, json), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let message: unknown;
  try {
    message = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof message !== 'object' || message === null) return undefined;
  const { v, at, id, body } = message as Record<string, unknown>;
  if (v !== FORMAT_VERSION || typeof at !== 'number' || typeof id !== 'string') return undefined;
  if (Math.abs(now - at) > MAX_MESSAGE_AGE_MS) return undefined;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  if (!seen.add(id, at, now)) return undefined;
  return body as Record<string, unknown>;
}

function mac(key: Buffer, channel: string, json: string): string {
  return createHmac('sha256', key).update(`${channel}\n${json}`).digest('base64url');
}

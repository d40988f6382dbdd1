import { createHash } from 'node:crypto';

/**
 * What binds a token to its holder, computed the same way on both sides: the client that sends a
 * proof and the guard that checks it.
 */

/** RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** The `x5t#S256` of a certificate: SHA-256 of its DER, base64url (RFC 8705 §3.1). */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}

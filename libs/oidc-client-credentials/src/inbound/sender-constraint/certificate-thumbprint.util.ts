import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import {
  SenderConstraintError,
  type ChallengeScheme,
} from '../../errors/sender-constraint.error.js';
import { headerLines } from '../bearer-token.util.js';

/** A `Client-Cert` header longer than this is refused unread (a certificate chain has its own header). */
const MAX_CLIENT_CERT_HEADER_LENGTH = 16_384;
/** RFC 8941 byte sequence: `:` base64 `:`. */
const BYTE_SEQUENCE = /^:([A-Za-z0-9+/]+={0,2}):$/;

/**
 * The DER of the client certificate of a request: the TLS connection's (`header` absent), or the
 * RFC 9440 `Client-Cert` header's, set by a TLS-terminating proxy. `undefined` when there is none.
 *
 * @throws SenderConstraintError `OIDC_CC_TOKEN_BINDING_INVALID` for a `Client-Cert` header sent
 *   twice, too long, not a byte sequence, or not a certificate.
 * @see https://www.rfc-editor.org/rfc/rfc9440#section-2.2
 */
export function clientCertificateOf(
  raw: IncomingMessage,
  header: 'client-cert' | undefined,
  scheme: ChallengeScheme,
): Uint8Array | undefined {
  if (header === undefined) return connectionCertificate(raw);
  const lines = headerLines(raw, header);
  if (lines.length === 0) return undefined;
  const refuse = (why: string) => SenderConstraintError.binding(why, scheme);
  if (lines.length > 1) throw refuse('More than one Client-Cert header');
  const value = lines[0].trim();
  if (value.length > MAX_CLIENT_CERT_HEADER_LENGTH)
    throw refuse('The Client-Cert header is too long');
  const match = BYTE_SEQUENCE.exec(value);
  if (!match) throw refuse('The Client-Cert header is not a byte sequence');
  const der = Buffer.from(match[1], 'base64');
  try {
    new X509Certificate(der);
  } catch {
    throw refuse('The Client-Cert header is not a certificate');
  }
  return der;
}

/** The DER of the certificate the client presented on this TLS connection, if any. */
function connectionCertificate(raw: IncomingMessage): Uint8Array | undefined {
  const socket = raw.socket as Partial<TLSSocket> | undefined;
  if (typeof socket?.getPeerCertificate !== 'function') return undefined;
  const certificate = socket.getPeerCertificate(false);
  const der = (certificate as { raw?: unknown } | null)?.raw;
  return der instanceof Uint8Array && der.length > 0 ? der : undefined;
}

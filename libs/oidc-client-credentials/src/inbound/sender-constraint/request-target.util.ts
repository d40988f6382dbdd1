import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { SenderConstraintError } from '../../errors/sender-constraint.error.js';
import { normalizeHtu } from './dpop-proof.util.js';

/** An Express request, a Fastify request (Node's as `raw`), or Node's own. */
type FrameworkRequest = Partial<IncomingMessage> & { raw?: IncomingMessage; originalUrl?: string };

/** Host header values: a reg-name or IP literal and an optional port, nothing that changes the URL. */
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Node's request behind an Express or Fastify request. */
export function nodeRequestOf(request: object): IncomingMessage {
  const framework = request as FrameworkRequest;
  return (framework.raw ?? framework) as IncomingMessage;
}

/** The method and URL a DPoP proof of this request must name. */
export interface RequestTarget {
  method: string;
  /** Normalised as {@link normalizeHtu}, without query and fragment. */
  htu: string;
}

/**
 * The request's method and URL for comparing a DPoP proof's `htm` and `htu`: the scheme of the
 * connection (`https` when TLS) and the `Host` header, or — with `trustForwardedHeaders` — the first
 * `X-Forwarded-Proto` and `X-Forwarded-Host` values a proxy in front set; the path as received
 * (Express's `originalUrl`), without its query.
 *
 * @throws SenderConstraintError `OIDC_CC_DPOP_PROOF_INVALID` when no URL can be built (no or a
 *   malformed host).
 */
export function requestTarget(request: object, trustForwardedHeaders: boolean): RequestTarget {
  const framework = request as FrameworkRequest;
  const raw = nodeRequestOf(request);
  const encrypted = (raw.socket as Partial<TLSSocket> | undefined)?.encrypted === true;
  let scheme = encrypted ? 'https' : 'http';
  let host = firstValue(raw.headers?.host);
  if (trustForwardedHeaders) {
    const proto = firstValue(raw.headers?.['x-forwarded-proto'])?.toLowerCase();
    if (proto === 'http' || proto === 'https') scheme = proto;
    host = firstValue(raw.headers?.['x-forwarded-host']) ?? host;
  }
  if (host === undefined || !HOST.test(host)) {
    throw SenderConstraintError.proof('The request has no host a DPoP proof could name');
  }
  const target = framework.originalUrl ?? raw.url ?? '/';
  // Origin form (`/path?query`), else the absolute form a client may send (RFC 9112 §3.2.2).
  const htu = normalizeHtu(target.startsWith('/') ? `${scheme}://${host}${target}` : target);
  if (htu === undefined) {
    throw SenderConstraintError.proof('The request has no URL a DPoP proof could name');
  }
  return { method: (raw.method ?? framework.method ?? 'GET').toUpperCase(), htu };
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const first = text?.split(',', 1)[0].trim();
  return first ? first : undefined;
}

import { randomBytes } from 'node:crypto';
import { accessTokenHash } from '../proof-of-possession/confirmation.util.js';
import type { DpopKey } from './dpop-key.util.js';

/** Origins whose last `DPoP-Nonce` is kept; the least recently used one goes first. */
export const DPOP_NONCE_ORIGINS = 100;
/** Longest `DPoP-Nonce` kept; a longer one is ignored. */
const MAX_NONCE_LENGTH = 1024;
/** RFC 9449 §8.1: `nonce = 1*NQCHAR`, NQCHAR = %x21 / %x23-5B / %x5D-7E. */
const NONCE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** What a proof is for: the request's method and URL, and the access token it goes with. */
export interface DpopProofRequest {
  /** HTTP method, any case (sent upper case as `htm`). */
  method: string;
  /** The request's URL; `htu` is it without query and fragment (RFC 9449 §4.2). */
  url: string | URL;
  /** The access token sent with it (then `ath` is its SHA-256), none at the token endpoint. */
  accessToken?: string;
}

/** The headers an answer carries, as fetch, axios, undici or Node give them. */
export type ResponseHeaders =
  { get(name: string): unknown } | Readonly<Record<string, unknown>> | undefined;

/**
 * DPoP proofs of one client (RFC 9449 §4): a fresh JWT for each request, signed with the client's
 * key, with the last `DPoP-Nonce` each origin (token endpoint or API) gave.
 *
 * The proofs have the shape oauth4webapi's `DPoP()` handle makes (`typ`, `alg`, public `jwk`;
 * `iat`, `jti`, `htm`, `htu`, `nonce`, `ath`). Its handle is not used: it signs with a
 * `CryptoKeyPair` only, and a key may here also be a signer that never shows its private key.
 */
export class DpopProofs {
  private readonly nonces = new Map<string, string>();

  constructor(
    /** The current key: new tokens are requested bound to it. */
    public key: DpopKey,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * A compact `dpop+jwt` for one request, with the origin's nonce when one is known, signed with
   * `key` (the key its access token is bound to) or else the current one.
   */
  proof(request: DpopProofRequest, key: DpopKey = this.key): Promise<string> {
    const url = new URL(request.url);
    const nonce = this.nonceFor(url);
    return key.sign(
      {},
      {
        jti: randomBytes(16).toString('base64url'),
        htm: request.method.toUpperCase(),
        htu: htuOf(url),
        iat: Math.floor(this.clock() / 1000),
        ...(nonce === undefined ? {} : { nonce }),
        ...(request.accessToken === undefined ? {} : { ath: accessTokenHash(request.accessToken) }),
      },
    );
  }

  /** The nonce last given by `url`'s origin. */
  nonceFor(url: string | URL): string | undefined {
    const origin = new URL(url).origin;
    const nonce = this.nonces.get(origin);
    if (nonce !== undefined) {
      this.nonces.delete(origin);
      this.nonces.set(origin, nonce);
    }
    return nonce;
  }

  /**
   * Keeps the `DPoP-Nonce` of an answer from `url` for that origin's next proofs.
   *
   * @returns whether the answer carried a (well-formed) nonce that differs from the one kept.
   */
  rememberNonce(url: string | URL, headers: ResponseHeaders): boolean {
    const nonce = headerValue(headers, 'dpop-nonce');
    if (nonce === undefined || nonce.length > MAX_NONCE_LENGTH || !NONCE.test(nonce)) return false;
    const origin = new URL(url).origin;
    const changed = this.nonces.get(origin) !== nonce;
    this.nonces.delete(origin);
    if (this.nonces.size >= DPOP_NONCE_ORIGINS) {
      this.nonces.delete(this.nonces.keys().next().value!);
    }
    this.nonces.set(origin, nonce);
    return changed;
  }
}

/** RFC 9449 §4.2 `htu`: the URL without query and fragment. */
export function htuOf(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Whether an API's answer asks for a DPoP nonce (RFC 9449 §9): 401 with a `DPoP` challenge whose
 * error is `use_dpop_nonce`, and a `DPoP-Nonce` header.
 */
export function isDpopNonceChallenge(status: number, headers: ResponseHeaders): boolean {
  if (status !== 401 || headerValue(headers, 'dpop-nonce') === undefined) return false;
  const challenges = headerValue(headers, 'www-authenticate');
  return challenges !== undefined && dpopChallengeError(challenges) === 'use_dpop_nonce';
}

/** Longest `WWW-Authenticate` value read for a DPoP challenge. */
const MAX_CHALLENGE_LENGTH = 8192;
/** One scheme, or one `name=value` parameter, of a `WWW-Authenticate` value (RFC 9110 §11.6.1). */
const CHALLENGE_PART =
  /[\s,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+./^_`|~0-9A-Za-z-]+=*))?/y;

/** The `error` parameter of the `DPoP` challenge among `challenges`, if any. */
export function dpopChallengeError(challenges: string): string | undefined {
  if (challenges.length > MAX_CHALLENGE_LENGTH) return undefined;
  CHALLENGE_PART.lastIndex = 0;
  let scheme: string | undefined;
  let match: RegExpExecArray | null;
  while ((match = CHALLENGE_PART.exec(challenges)) !== null && match[0].length > 0) {
    const [, name, value] = match;
    if (value === undefined) {
      scheme = name!.toLowerCase();
    } else if (scheme === 'dpop' && name!.toLowerCase() === 'error') {
      return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
  }
  return undefined;
}

/** One header of an answer as text (a list joined), whatever the HTTP client's headers object. */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  let value: unknown;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    value = (headers as { get(name: string): unknown }).get(name);
  } else {
    const record = headers as Readonly<Record<string, unknown>>;
    const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  if (Array.isArray(value)) value = value.join(', ');
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

import { TokenVerificationError } from '../errors/token-verification.error.js';

/** The protected header of a compact JWS, after the pre-parse checks. */
export interface JwsHeader {
  alg: string;
  kid?: string;
  typ?: unknown;
  [parameter: string]: unknown;
}

/** A compact JWS split and pre-checked: header decoded, payload still encoded. */
export interface CompactJws {
  header: JwsHeader;
  encodedPayload: string;
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
// ignoreBOM keeps a leading U+FEFF in the text, so JSON.parse refuses it (RFC 8725 §3.7).
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Splits a compact JWS and checks its shape before any cryptography: exactly three non-empty
 * base64url segments (a five-segment JWE and the JSON serialisation are refused), a header that is
 * a JSON object in strict UTF-8 without duplicate member names, with a string `alg` and, when
 * present, a string `kid`. Cheap enough to run on every token; jose checks the rest.
 *
 * @throws TokenVerificationError `OIDC_CC_TOKEN_MALFORMED`
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-7.1
 * @see https://www.rfc-editor.org/rfc/rfc8725#section-3.3
 */
export function parseCompactJws(token: string, maxLength: number): CompactJws {
  if (typeof token !== 'string' || token.length === 0 || token.length > maxLength) {
    throw TokenVerificationError.malformed('The token is empty or too long');
  }
  const segments = token.split('.');
  if (segments.length === 5)
    throw TokenVerificationError.malformed('Encrypted tokens (JWE) are not accepted');
  if (segments.length !== 3)
    throw TokenVerificationError.malformed('The token is not a compact JWS');
  const [encodedHeader, encodedPayload, signature] = segments;
  const known = checkedHeaders.get(encodedHeader);
  if (
    !(known !== undefined || isBase64urlSegment(encodedHeader)) ||
    !isBase64urlSegment(encodedPayload) ||
    !isBase64urlSegment(signature)
  ) {
    throw TokenVerificationError.malformed('The token has an empty or non-base64url segment');
  }
  return { header: known ?? checkedHeader(encodedHeader), encodedPayload };
}

/**
 * Headers that passed {@link checkedHeader}, by their encoded segment, frozen: the tokens of one
 * issuer and key share one header, which is then decoded once. Bounded; refused headers are not
 * kept.
 */
const checkedHeaders = new Map<string, JwsHeader>();
const CHECKED_HEADERS_MAX = 64;

/** The header segment decoded and checked (strict JSON object, a string `alg`, a string `kid`). */
function checkedHeader(segment: string): JwsHeader {
  const header = decodeJsonObject(segment, 'header');
  if (typeof header.alg !== 'string' || header.alg.length === 0) {
    throw TokenVerificationError.malformed('The token header has no "alg"');
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') {
    throw TokenVerificationError.malformed('The token header "kid" is not a string');
  }
  if (checkedHeaders.size >= CHECKED_HEADERS_MAX) checkedHeaders.clear();
  // A copy of the segment as the key: a slice would keep the whole token in memory.
  checkedHeaders.set(
    Buffer.from(segment, 'latin1').toString('latin1'),
    Object.freeze(header) as JwsHeader,
  );
  return header as JwsHeader;
}

/**
 * Whether the token looks like a JWS: three base64url segments whose header decodes to an object
 * with an `alg`. Never throws; used to route tokens, not to trust them.
 */
export function isJwsShaped(token: string, maxLength: number): boolean {
  try {
    parseCompactJws(token, maxLength);
    return true;
  } catch {
    return false;
  }
}

/**
 * Decodes one base64url segment as a JSON object: strict UTF-8, no byte order mark, a top-level
 * object, and no member name twice at any depth (RFC 7515 §4 and RFC 7519 §4 allow "reject";
 * picking one of two values is what parser-differential attacks exploit).
 *
 * @throws TokenVerificationError `OIDC_CC_TOKEN_MALFORMED`
 */
export function decodeJsonObject(segment: string, label: string): Record<string, unknown> {
  let text: string;
  let value: unknown;
  try {
    text = STRICT_UTF8.decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    throw TokenVerificationError.malformed(`The token ${label} is not UTF-8 JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw TokenVerificationError.malformed(`The token ${label} is not a JSON object`);
  }
  if (hasDuplicateMemberNames(text)) {
    throw TokenVerificationError.malformed(`The token ${label} repeats a member name`);
  }
  return value as Record<string, unknown>;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

/**
 * Whether valid JSON text names a member twice in one object. Walks the text once, keeping one set
 * of names per open object; names are compared after unescaping (`"a"` equals `"\u0061"`), which
 * only a name holding a backslash needs: the others are compared as they are written.
 */
export function hasDuplicateMemberNames(json: string): boolean {
  const stack: (Set<string> | undefined)[] = [];
  let names: Set<string> | undefined;
  let expectName = false;
  for (let i = 0; i < json.length; i++) {
    const char = json.charCodeAt(i);
    if (char === QUOTE) {
      let end = i + 1;
      let escaped = false;
      for (let c = json.charCodeAt(end); c !== QUOTE; c = json.charCodeAt(end)) {
        if (c === BACKSLASH) {
          escaped = true;
          end += 2;
        } else {
          end += 1;
        }
      }
      if (expectName && names) {
        const name = escaped
          ? (JSON.parse(json.slice(i, end + 1)) as string)
          : json.slice(i + 1, end);
        if (names.has(name)) return true;
        names.add(name);
        expectName = false;
      }
      i = end;
    } else if (char === OPEN_OBJECT) {
      names = new Set();
      stack.push(names);
      expectName = true;
    } else if (char === OPEN_ARRAY) {
      stack.push((names = undefined));
      expectName = false;
    } else if (char === CLOSE_OBJECT || char === CLOSE_ARRAY) {
      stack.pop();
      names = stack[stack.length - 1];
      expectName = false;
    } else if (char === COMMA) {
      expectName = names !== undefined;
    }
  }
  return false;
}

function isBase64urlSegment(segment: string): boolean {
  // A length of 4n+1 cannot be produced by base64url encoding; lenient decoders guess.
  return segment.length % 4 !== 1 && SEGMENT.test(segment);
}

import { createHmac, createPublicKey, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';

/** Base64url of a string or bytes, without padding (RFC 7515 §2). */
export const b64u = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** A JSON value, or JSON text given as is (for duplicate member names and other non-objects). */
export type JsonPart = Record<string, unknown> | string;

const text = (part: JsonPart): string => (typeof part === 'string' ? part : JSON.stringify(part));

/** Encoded `header.payload` of a JWS, the signing input. */
export function signingInput(header: JsonPart, payload: JsonPart): string {
  return `${b64u(text(header))}.${b64u(text(payload))}`;
}

/** A compact JWS with the given (possibly empty) signature bytes and no real signature. */
export function unsigned(
  header: JsonPart,
  payload: JsonPart,
  signature: Buffer | string = '',
): string {
  return `${signingInput(header, payload)}.${b64u(signature)}`;
}

/** An HS256 JWS whose secret is the given bytes (the algorithm-confusion attacks, S15/S16). */
export function hs256(header: JsonPart, payload: JsonPart, secret: Buffer | string): string {
  const input = signingInput(header, payload);
  return `${input}.${b64u(createHmac('sha256', secret).update(input).digest())}`;
}

/** A published RSA public key in the forms an HS/RS confusion attack uses as HMAC secret. */
export function publicKeyForms(jwk: JWK): Record<string, Buffer> {
  const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  const pem = key.export({ type: 'spki', format: 'pem' }) as string;
  return {
    pem: Buffer.from(pem),
    'pem-pkcs1': Buffer.from(key.export({ type: 'pkcs1', format: 'pem' }) as string),
    der: key.export({ type: 'spki', format: 'der' }),
    'jwk-json': Buffer.from(JSON.stringify(jwk)),
    'pem-leading-newline': Buffer.from(`\n${pem}`),
  };
}

/** Replaces one segment (0 header, 1 payload, 2 signature) of a compact token. */
export function withSegment(token: string, segment: number, value: string): string {
  const parts = token.split('.');
  parts[segment] = value;
  return parts.join('.');
}

/** Flips the lowest bit of the byte at `index` of one segment, re-encoding it. */
export function flipBit(token: string, segment: number, index: number): string {
  const bytes = Buffer.from(token.split('.')[segment], 'base64url');
  bytes[index] ^= 1;
  return withSegment(token, segment, b64u(bytes));
}

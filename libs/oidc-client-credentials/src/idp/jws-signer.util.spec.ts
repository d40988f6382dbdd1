import { generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import {
  compactVerify,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';
import {
  isJwsSigner,
  JwsSigningError,
  signCompactJws,
  type JwsSigner,
  type SigningKey,
} from './jws-signer.util.js';

/** A KMS-shaped signer: the private key never leaves it, only signatures do. */
function keptKeySigner(
  alg: 'ES256' | 'RS256' | 'PS256' | 'Ed25519',
  kid = 'kms-1',
): { signer: JwsSigner; publicJwk: Promise<JWK> } {
  const pair =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'Ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKey: KeyObject = pair.privateKey;
  const signer: JwsSigner = {
    kid,
    alg,
    sign: async (data) => {
      if (alg === 'ES256') {
        return nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      }
      if (alg === 'PS256') {
        return nodeSign('sha256', data, { key: privateKey, padding: 6, saltLength: 32 });
      }
      return nodeSign(alg === 'Ed25519' ? null : 'sha256', data, privateKey);
    },
  };
  return { signer, publicJwk: exportJWK(pair.publicKey) };
}

async function verifies(jws: string, publicJwk: JWK, alg: string) {
  const { payload, protectedHeader } = await compactVerify(jws, await importJWK(publicJwk, alg));
  return { header: protectedHeader, payload: JSON.parse(new TextDecoder().decode(payload)) };
}

describe('signCompactJws', () => {
  it.each(['ES256', 'RS256', 'PS256', 'Ed25519'] as const)(
    'a %s signer that keeps its key: the JWS verifies with its public key',
    async (alg) => {
      const { signer, publicJwk } = keptKeySigner(alg);
      const jws = await signCompactJws({ typ: 'JWT' }, { sub: 'billing' }, signer);
      const { header, payload } = await verifies(jws, await publicJwk, alg);
      expect(header).toEqual({ typ: 'JWT', alg, kid: 'kms-1' });
      expect(payload).toEqual({ sub: 'billing' });
    },
  );

  it('a private JWK: alg and kid come from the JWK', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.privateKey)), alg: 'ES256', kid: 'jwk-1' };
    const jws = await signCompactJws({}, { n: 1 }, jwk);
    const { header } = await verifies(jws, await exportJWK(pair.publicKey), 'ES256');
    expect(header).toEqual({ alg: 'ES256', kid: 'jwk-1' });
  });

  it.each([
    ['RSASSA-PKCS1-v1_5', 'RS256'],
    ['RSA-PSS', 'PS256'],
    ['ECDSA', 'ES256'],
  ] as const)('a %s CryptoKey signs with the alg it implies (%s)', async (_name, alg) => {
    const pair = await generateKeyPair(alg, { extractable: true });
    const jws = await signCompactJws({}, { n: 1 }, pair.privateKey);
    expect(decodeProtectedHeader(jws)).toEqual({ alg });
    await verifies(jws, await exportJWK(pair.publicKey), alg);
  });

  it('a header kid is kept over the key kid', async () => {
    const { signer } = keptKeySigner('ES256');
    const jws = await signCompactJws({ kid: 'other' }, {}, signer);
    expect(decodeProtectedHeader(jws).kid).toBe('other');
  });

  const der = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const failing = new Error('kms said: secret-material-xyz');
  it.each<[string, SigningKey, Record<string, unknown>, RegExp]>([
    [
      'an ES256 signer answering DER, not r||s',
      { alg: 'ES256', sign: async (data) => nodeSign('sha256', data, der) },
      {},
      /not the 64-byte raw r\|\|s signature.*ieee-p1363/,
    ],
    [
      'a signer that throws (its message is not repeated)',
      {
        alg: 'ES256',
        sign: async () => {
          throw failing;
        },
      },
      {},
      /^the ES256 signer failed \(Error\)$/,
    ],
    [
      'a signer answering no bytes',
      { alg: 'ES256', sign: async () => 'sig' as unknown as Uint8Array },
      {},
      /returned no signature bytes/,
    ],
    [
      'a signer of a symmetric alg',
      { alg: 'HS256', sign: async () => new Uint8Array(32) },
      {},
      /not an asymmetric JWS algorithm/,
    ],
    [
      'a signer of alg none',
      { alg: 'none', sign: async () => new Uint8Array(0) },
      {},
      /"none" is not an asymmetric/,
    ],
    [
      'a JWK without alg',
      { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' },
      {},
      /names no "alg"/,
    ],
    [
      'a header alg other than the key',
      { alg: 'ES256', sign: async () => new Uint8Array(64) },
      { alg: 'RS256' },
      /header asks for "RS256", the key signs ES256/,
    ],
  ])('%s: JwsSigningError', async (_case, key, header, message) => {
    const error = await signCompactJws(header, {}, key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JwsSigningError);
    expect(error).toMatchObject({ code: 'OIDC_CC_SIGNING_FAILED' });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('secret-material');
  });
});

describe('isJwsSigner', () => {
  it.each<[string, unknown, boolean]>([
    ['a signer', { alg: 'ES256', sign: async () => new Uint8Array() }, true],
    ['a signer with kid', { kid: 'k', alg: 'ES256', sign: async () => new Uint8Array() }, true],
    ['a JWK', { kty: 'EC', alg: 'ES256' }, false],
    ['sign not a function', { alg: 'ES256', sign: 'x' }, false],
    ['no alg', { sign: async () => new Uint8Array() }, false],
    ['null', null, false],
    ['a string', 'ES256', false],
  ])('%s → %s', (_case, value, expected) => {
    expect(isJwsSigner(value)).toBe(expected);
  });
});

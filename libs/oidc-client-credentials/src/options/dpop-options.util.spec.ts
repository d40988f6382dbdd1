import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { Keyv } from 'keyv';
import { ConfigurationError } from '../errors/configuration.error.js';
import type { OidcClientCredentialsModuleOptions } from './oidc-client-credentials-options.interface.js';
import { resolveOptions } from './resolve-options.util.js';

const base: OidcClientCredentialsModuleOptions = {
  issuer: 'https://id.example.com',
  clientId: 'billing',
  clientSecret: 's3cret',
};

/** The ConfigurationError `options` give, as option and message. */
function refusal(options: Partial<OidcClientCredentialsModuleOptions>) {
  try {
    resolveOptions({ ...base, ...options });
  } catch (error) {
    if (error instanceof ConfigurationError)
      return { option: error.option, message: error.message };
    throw error;
  }
  return undefined;
}

describe('dpop option', () => {
  let ecJwk: Record<string, unknown>;
  let rsaJwk: Record<string, unknown>;
  let edKey: CryptoKey;
  let edPublicKey: CryptoKey;

  beforeAll(async () => {
    ecJwk = {
      ...(await exportJWK((await generateKeyPair('ES384', { extractable: true })).privateKey)),
    };
    rsaJwk = {
      ...(await exportJWK((await generateKeyPair('PS256', { extractable: true })).privateKey)),
    };
    const ed = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    edKey = ed.privateKey as CryptoKey;
    edPublicKey = ed.publicKey as CryptoKey;
  });

  it.each<[string, () => OidcClientCredentialsModuleOptions['dpop'], unknown]>([
    ['left out: off', () => undefined, undefined],
    ['false: off', () => false, undefined],
    ['true: a generated ES256 key', () => true, { alg: 'ES256' }],
    ['an algorithm', () => ({ alg: 'PS256' }), { alg: 'PS256' }],
    ['an EC JWK: its curve says the algorithm', () => ({ privateKey: ecJwk }), { alg: 'ES384' }],
    ['an RSA JWK with dpop.alg', () => ({ privateKey: rsaJwk, alg: 'RS256' }), { alg: 'RS256' }],
    ['a JWK with its alg', () => ({ privateKey: { ...rsaJwk, alg: 'PS384' } }), { alg: 'PS384' }],
    ['a CryptoKey', () => ({ privateKey: edKey }), { alg: 'EdDSA' }],
    [
      'an Ed25519 key, fully specified',
      () => ({ privateKey: edKey, alg: 'Ed25519' }),
      { alg: 'Ed25519' },
    ],
    [
      'a signer',
      () => ({
        privateKey: { alg: 'ES256', jwk: { kty: 'EC' }, sign: async () => new Uint8Array() },
      }),
      { alg: 'ES256' },
    ],
  ])('%s', (_case, dpop, expected) => {
    const resolved = resolveOptions({ ...base, dpop: dpop() }).dpop;
    if (expected === undefined) expect(resolved).toBeUndefined();
    else expect(resolved).toMatchObject(expected as object);
  });

  it.each<[string, () => Partial<OidcClientCredentialsModuleOptions>, string, RegExp]>([
    ['a string', () => ({ dpop: 'yes' as never }), 'dpop', /expected true, false or/],
    [
      'an unknown key',
      () => ({ dpop: { algorithm: 'ES256' } as never }),
      'dpop.algorithm',
      /"dpop" takes alg, privateKey/,
    ],
    [
      'a symmetric algorithm',
      () => ({ dpop: { alg: 'HS256' } }),
      'dpop.alg',
      /expected one of ES256/,
    ],
    ['none', () => ({ dpop: { alg: 'none' } }), 'dpop.alg', /expected one of/],
    [
      'a public JWK',
      () => ({ dpop: { privateKey: { ...ecJwk, d: undefined } } }),
      'dpop.privateKey',
      /public key/,
    ],
    [
      'an oct JWK',
      () => ({ dpop: { privateKey: { kty: 'oct', k: 'c2VjcmV0' } } }),
      'dpop.privateKey',
      /EC, OKP or RSA/,
    ],
    [
      'an RSA JWK without an algorithm',
      () => ({ dpop: { privateKey: rsaJwk } }),
      'dpop.privateKey',
      /set dpop.alg/,
    ],
    [
      'a JWK whose alg differs',
      () => ({ dpop: { privateKey: ecJwk, alg: 'ES256' } }),
      'dpop.privateKey',
      /ES384 differs from dpop.alg ES256/,
    ],
    [
      'a public CryptoKey',
      () => ({ dpop: { privateKey: edPublicKey } }),
      'dpop.privateKey',
      /private CryptoKey/,
    ],
    [
      'a signer without its public key',
      () => ({
        dpop: { privateKey: { alg: 'ES256', sign: async () => new Uint8Array() } as never },
      }),
      'dpop.privateKey',
      /public key as "jwk"/,
    ],
    [
      'a signer whose jwk is private',
      () => ({
        dpop: { privateKey: { alg: 'ES256', jwk: ecJwk, sign: async () => new Uint8Array() } },
      }),
      'dpop.privateKey',
      /public key only/,
    ],
    [
      'a named client’s bad dpop, named after it',
      () => ({ clients: { reports: { dpop: { alg: 'HS256' } } } }),
      'clients.reports.dpop.alg',
      /expected one of/,
    ],
  ])('refused: %s', (_case, options, option, message) => {
    expect(refusal(options())).toEqual({ option, message: expect.stringMatching(message) });
  });

  describe('with shared stores', () => {
    const store = new Keyv();

    it.each<[string, Partial<OidcClientCredentialsModuleOptions>, string | undefined]>([
      [
        'a generated key without cache.encryptionKey: refused',
        { dpop: true },
        'cache.encryptionKey',
      ],
      [
        'with cache.encryptionKey: the fleet key is sealed',
        { dpop: true, cache: { stores: [store], encryptionKey: Buffer.alloc(32, 1) } },
        undefined,
      ],
      [
        'a brought key: nothing secret is stored',
        { dpop: { alg: 'ES256' } },
        'cache.encryptionKey',
      ],
    ])('%s', (_case, options, refusedOption) => {
      const result = refusal({ cache: { stores: [store] }, ...options });
      expect(result?.option).toBe(refusedOption);
    });

    it('a brought key needs no cache.encryptionKey', () => {
      expect(refusal({ dpop: { privateKey: ecJwk }, cache: { stores: [store] } })).toBeUndefined();
    });
  });

  describe('named clients', () => {
    it.each<[string, Partial<OidcClientCredentialsModuleOptions>, unknown]>([
      [
        'inherit the root’s setting',
        { dpop: { alg: 'ES384' }, clients: { reports: {} } },
        { alg: 'ES384' },
      ],
      ['may turn it off', { dpop: true, clients: { reports: { dpop: false } } }, undefined],
      ['may turn it on alone', { clients: { reports: { dpop: true } } }, { alg: 'ES256' }],
    ])('%s', (_case, options, expected) => {
      const resolved = resolveOptions({ ...base, ...options }).clients.reports!.dpop;
      if (expected === undefined) expect(resolved).toBeUndefined();
      else expect(resolved).toEqual(expected);
    });
  });
});

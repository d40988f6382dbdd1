import { compactVerify, decodeJwt, decodeProtectedHeader, EmbeddedJWK } from 'jose';
import { generateDpopKey, publicPart } from './dpop-key.util.js';
import { accessTokenHash } from '../proof-of-possession/confirmation.util.js';
import {
  dpopChallengeError,
  DPOP_NONCE_ORIGINS,
  DpopProofs,
  headerValue,
  htuOf,
  isDpopNonceChallenge,
} from './dpop-proof.util.js';

describe('DPoP proofs (RFC 9449)', () => {
  it('ath is base64url(SHA-256(token)): the RFC 9449 §7.1 example', () => {
    expect(accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU')).toBe(
      'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
    );
  });

  it.each([
    [
      'query and fragment left out',
      'https://api.example/orders?page=2#top',
      'https://api.example/orders',
    ],
    [
      'default port left out, host lower case',
      'https://API.example:443/a',
      'https://api.example/a',
    ],
    ['other port kept', 'http://127.0.0.1:8080/x/y', 'http://127.0.0.1:8080/x/y'],
    ['empty path is /', 'https://api.example', 'https://api.example/'],
  ])('htu: %s', (_case, url, htu) => {
    expect(htuOf(new URL(url))).toBe(htu);
  });

  it('a proof: typ dpop+jwt, the public jwk, htm upper case, htu, iat from the clock, a new jti, ath', async () => {
    const key = await generateDpopKey('ES256');
    const proofs = new DpopProofs(key, () => 1_700_000_000_500);
    const proof = await proofs.proof({
      method: 'patch',
      url: 'https://api.example/orders/1?x=1',
      accessToken: 'tok',
    });
    const header = decodeProtectedHeader(proof);
    expect(header).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk });
    expect(header.jwk).not.toHaveProperty('d');
    expect(decodeJwt(proof)).toEqual({
      jti: expect.stringMatching(/^[\w-]{22}$/),
      htm: 'PATCH',
      htu: 'https://api.example/orders/1',
      iat: 1_700_000_000,
      ath: accessTokenHash('tok'),
    });
    await expect(compactVerify(proof, EmbeddedJWK)).resolves.toBeDefined();
    const other = await proofs.proof({ method: 'GET', url: 'https://api.example/' });
    expect(decodeJwt(other).jti).not.toBe(decodeJwt(proof).jti);
    expect(decodeJwt(other)).not.toHaveProperty('ath');
  });

  describe('nonces, per origin', () => {
    it.each<[string, string | undefined, boolean]>([
      ['a nonce', 'abc-123_~', true],
      ['none', undefined, false],
      ['empty', '', false],
      ['with a space', 'a b', false],
      ['with a quote', 'a"b', false],
      ['with a backslash', 'a\\b', false],
      ['with a control character', 'a\nb', false],
      ['too long', 'n'.repeat(1025), false],
    ])('%s: kept %s', async (_case, nonce, kept) => {
      const proofs = new DpopProofs(await generateDpopKey('ES256'));
      const headers = nonce === undefined ? {} : { 'DPoP-Nonce': nonce };
      expect(proofs.rememberNonce('https://api.example/a', headers)).toBe(kept);
      expect(proofs.nonceFor('https://api.example/other/path')).toBe(kept ? nonce : undefined);
      expect(proofs.nonceFor('https://id.example/token')).toBeUndefined();
    });

    it('a proof carries its origin’s nonce only; the same nonce again is no change', async () => {
      const proofs = new DpopProofs(await generateDpopKey('ES256'));
      proofs.rememberNonce('https://api.example/a', new Headers({ 'dpop-nonce': 'n1' }));
      expect(
        proofs.rememberNonce('https://api.example/b', new Headers({ 'dpop-nonce': 'n1' })),
      ).toBe(false);
      const here = await proofs.proof({ method: 'GET', url: 'https://api.example/c' });
      const there = await proofs.proof({ method: 'GET', url: 'https://other.example/c' });
      expect(decodeJwt(here).nonce).toBe('n1');
      expect(decodeJwt(there)).not.toHaveProperty('nonce');
    });

    it(`keeps the nonces of ${DPOP_NONCE_ORIGINS} origins, the least recently used going first`, async () => {
      const proofs = new DpopProofs(await generateDpopKey('ES256'));
      for (let i = 0; i < DPOP_NONCE_ORIGINS; i += 1) {
        proofs.rememberNonce(`https://h${i}.example/`, { 'dpop-nonce': `n${i}` });
      }
      expect(proofs.nonceFor('https://h0.example/')).toBe('n0');
      proofs.rememberNonce('https://new.example/', { 'dpop-nonce': 'new' });
      expect(proofs.nonceFor('https://h0.example/')).toBe('n0');
      expect(proofs.nonceFor('https://h1.example/')).toBeUndefined();
      expect(proofs.nonceFor('https://new.example/')).toBe('new');
    });
  });

  describe('an API’s nonce challenge (RFC 9449 §9)', () => {
    it.each<[string, string, string | undefined]>([
      [
        'quoted',
        'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce"',
        'use_dpop_nonce',
      ],
      ['a token value', 'DPoP algs="ES256", error=use_dpop_nonce', 'use_dpop_nonce'],
      ['scheme in any case', 'dpop error="use_dpop_nonce"', 'use_dpop_nonce'],
      [
        'after a Bearer challenge',
        'Bearer realm="api", DPoP algs="ES256 PS256" error="use_dpop_nonce"',
        'use_dpop_nonce',
      ],
      ['another error', 'DPoP error="invalid_token"', 'invalid_token'],
      [
        'the error of a Bearer challenge only',
        'Bearer error="use_dpop_nonce", DPoP algs="ES256"',
        undefined,
      ],
      ['no DPoP challenge', 'Bearer realm="api"', undefined],
      ['escaped quote', 'DPoP error="use\\"dpop"', 'use"dpop'],
      ['too long', `DPoP ${'x=1, '.repeat(2000)}error="use_dpop_nonce"`, undefined],
    ])('%s', (_case, challenge, error) => {
      expect(dpopChallengeError(challenge)).toBe(error);
    });

    it.each<[string, number, Record<string, string>, boolean]>([
      [
        '401, DPoP use_dpop_nonce and a nonce',
        401,
        { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n' },
        true,
      ],
      ['no DPoP-Nonce header', 401, { 'www-authenticate': 'DPoP error="use_dpop_nonce"' }, false],
      [
        'not 401',
        400,
        { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n' },
        false,
      ],
      [
        'another error',
        401,
        { 'www-authenticate': 'DPoP error="invalid_dpop_proof"', 'dpop-nonce': 'n' },
        false,
      ],
    ])('%s: retried %s', (_case, status, headers, retried) => {
      expect(isDpopNonceChallenge(status, headers)).toBe(retried);
    });
  });

  it.each<[string, Parameters<typeof headerValue>[0], string | undefined]>([
    ['fetch Headers', new Headers({ 'DPoP-Nonce': 'a' }), 'a'],
    ['a record in any case', { 'DPoP-Nonce': 'b' }, 'b'],
    ['a list', { 'dpop-nonce': ['c', 'd'] }, 'c, d'],
    ['absent', {}, undefined],
    ['no headers', undefined, undefined],
  ])('headerValue reads %s', (_case, headers, value) => {
    expect(headerValue(headers, 'dpop-nonce')).toBe(value);
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'EC',
      { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k', alg: 'ES256' },
      '{"kty":"EC","crv":"P-256","x":"x","y":"y"}',
    ],
    [
      'RSA',
      { kty: 'RSA', n: 'n', e: 'AQAB', d: 'd', p: 'p', q: 'q', dp: 'dp', dq: 'dq', qi: 'qi' },
      '{"kty":"RSA","n":"n","e":"AQAB"}',
    ],
    [
      'OKP',
      { kty: 'OKP', crv: 'Ed25519', x: 'x', d: 'd' },
      '{"kty":"OKP","crv":"Ed25519","x":"x"}',
    ],
  ])('the public part of an %s key holds its public members only', (_case, jwk, expected) => {
    expect(JSON.stringify(publicPart(jwk))).toBe(expected);
  });

  it('a symmetric key has no public part', () => {
    expect(() => publicPart({ kty: 'oct', k: 'secret' })).toThrow('not asymmetric');
  });
});

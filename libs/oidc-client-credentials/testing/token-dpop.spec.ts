import { randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose';
import { FakeIdService, PATHS, type FakeDpopOptions } from 'nest-oidc-client-credentials/testing';

interface TokenBody {
  access_token?: string;
  token_type?: string;
  error?: string;
  error_description?: string;
}

describe('the token endpoint of the testing kit, DPoP mode', () => {
  let key: CryptoKey;
  let jwk: JWK;
  const services: FakeIdService[] = [];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    jwk = await exportJWK(pair.publicKey);
  });
  afterEach(async () => {
    while (services.length > 0) await services.pop()!.close();
  });

  async function start(dpop: FakeDpopOptions = {}, tokenFormat: 'jwt' | 'opaque' = 'jwt') {
    const idp = await FakeIdService.start({ clients: { app: { secret: 's' } }, dpop, tokenFormat });
    services.push(idp);
    return idp;
  }

  /** A proof for the token endpoint; `claims` and `header` replace its parts. */
  function proof(
    idp: FakeIdService,
    claims: Record<string, unknown> = {},
    header: Record<string, unknown> = {},
  ) {
    return new SignJWT({
      htm: 'POST',
      htu: idp.url(PATHS.token),
      jti: randomUUID(),
      iat: Math.floor(Date.now() / 1000),
      ...claims,
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk, ...header })
      .sign(key);
  }

  async function post(idp: FakeIdService, dpop?: string) {
    const response = await fetch(idp.url(PATHS.token), {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from('app:s').toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...(dpop === undefined ? {} : { dpop }),
      },
      body: 'grant_type=client_credentials',
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as TokenBody,
    };
  }

  it('a valid proof: token_type DPoP and cnf.jkt the proof key’s thumbprint', async () => {
    const idp = await start();
    const { status, body } = await post(idp, await proof(idp));
    expect(status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    expect(decodeJwt(body.access_token!).cnf).toEqual({ jkt: await calculateJwkThumbprint(jwk) });
  });

  it('an opaque token: cnf.jkt and token_type DPoP in its introspection', async () => {
    const idp = await start({}, 'opaque');
    const { body } = await post(idp, await proof(idp));
    expect(await idp.introspect(body.access_token!)).toMatchObject({
      token_type: 'DPoP',
      cnf: { jkt: await calculateJwkThumbprint(jwk) },
    });
  });

  it('no proof: a bearer token, unless proofs are required', async () => {
    expect((await post(await start())).body.token_type).toBe('Bearer');
    expect((await post(await start({ required: true }))).body.error).toBe('invalid_dpop_proof');
  });

  it.each<[string, (idp: FakeIdService) => Promise<string>]>([
    ['typ not dpop+jwt', (idp) => proof(idp, {}, { typ: 'JWT' })],
    ['htm not POST', (idp) => proof(idp, { htm: 'GET' })],
    ['htu another URL', (idp) => proof(idp, { htu: 'https://elsewhere.example/openid/token' })],
    ['iat too old', (idp) => proof(idp, { iat: Math.floor(Date.now() / 1000) - 120 })],
    ['no jti', (idp) => proof(idp, { jti: undefined })],
    ['a private key in jwk', async (idp) => proof(idp, {}, { jwk: await exportJWK(key) })],
    [
      'signed by another key',
      async (idp) => {
        const other = await generateKeyPair('ES256');
        return new SignJWT({
          htm: 'POST',
          htu: idp.url(PATHS.token),
          jti: randomUUID(),
          iat: Math.floor(Date.now() / 1000),
        })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
          .sign(other.privateKey);
      },
    ],
    ['not a JWS', () => Promise.resolve('not-a-proof')],
  ])('refused with invalid_dpop_proof: %s', async (_case, make) => {
    const idp = await start();
    const { status, body } = await post(idp, await make(idp));
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_dpop_proof');
  });

  it('a proof used twice is refused the second time', async () => {
    const idp = await start();
    const once = await proof(idp);
    expect((await post(idp, once)).status).toBe(200);
    expect((await post(idp, once)).body.error).toBe('invalid_dpop_proof');
  });

  it('requireNonce: use_dpop_nonce with a DPoP-Nonce, then the nonce is accepted; a rotated one is not', async () => {
    const idp = await start({ requireNonce: true });
    const first = await post(idp, await proof(idp));
    expect(first.status).toBe(400);
    expect(first.body.error).toBe('use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce')!;
    expect(nonce).toBe(idp.dpopNonce);
    const second = await post(idp, await proof(idp, { nonce }));
    expect(second.body.token_type).toBe('DPoP');
    expect(second.headers.get('dpop-nonce')).toBe(nonce);
    idp.rotateDpopNonce();
    expect((await post(idp, await proof(idp, { nonce }))).body.error).toBe('use_dpop_nonce');
  });
});

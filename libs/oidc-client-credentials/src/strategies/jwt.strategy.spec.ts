import { CompactEncrypt, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { Test } from '@nestjs/testing';
import {
  JwtVerificationStrategy,
  OidcClientCredentialsModule,
  TokenVerificationError,
  type TokenVerificationErrorCode,
  type VerificationOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS, signCompact } from 'nest-oidc-client-credentials/testing';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: string | object) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('JwtVerificationStrategy', () => {
  let idp: FakeIdService;
  let attacker: FakeIdService;

  beforeAll(async () => {
    idp = await FakeIdService.start();
    attacker = await FakeIdService.start();
  });
  afterAll(async () => {
    await idp.close();
    await attacker.close();
  });
  beforeEach(() => {
    idp.reset();
    attacker.reset();
  });

  async function strategy(
    verification: VerificationOptions = {},
    issuer = idp.issuer,
  ): Promise<JwtVerificationStrategy> {
    const moduleRef = await Test.createTestingModule({
      imports: [OidcClientCredentialsModule.forRoot({ issuer, verification })],
    }).compile();
    return moduleRef.get(JwtVerificationStrategy);
  }

  /** Seed-shaped claims for `test-client`, valid for an hour. */
  function seedClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
    const iat = now();
    return {
      iss: idp.issuer,
      iat,
      exp: iat + 3600,
      sub: 'test-client',
      aud: 'test-client',
      ...extra,
    };
  }

  /** RFC 9068 claims on top of the seed's. */
  function atClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return seedClaims({ client_id: 'test-client', jti: 'jti-1', ...extra });
  }

  const header = (extra: Record<string, unknown> = {}) => ({
    alg: 'RS256',
    kid: idp.currentKid,
    ...extra,
  });

  async function refusal(promise: Promise<unknown>): Promise<TokenVerificationError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TokenVerificationError);
    return error as TokenVerificationError;
  }

  async function expectRefused(
    promise: Promise<unknown>,
    code: TokenVerificationErrorCode,
  ): Promise<void> {
    expect((await refusal(promise)).code).toBe(code);
  }

  it("verifies the seed's JWT access token and describes it", async () => {
    const jwt = await strategy();
    const token = await idp.mintJwt({ scope: 'orders:read orders:write' });
    const verified = await jwt.verify(token);
    expect(verified).toMatchObject({
      clientId: 'test-client',
      subject: 'test-client',
      scopes: ['orders:read', 'orders:write'],
      issuer: idp.issuer,
      audience: ['test-client'],
    });
    expect(verified.expiresAt).toBeGreaterThan(now());
    expect(Object.getPrototypeOf(verified.claims)).toBeNull();
    expect(verified.claims.sub).toBe('test-client');
    expect(idp.requestsTo(PATHS.jwks)).toHaveLength(1);
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(1);
  });

  it('verifies with an explicitly configured jwks endpoint without discovery', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcClientCredentialsModule.forRoot({
          issuer: idp.issuer,
          endpoints: { jwks: idp.url(PATHS.jwks) },
        }),
      ],
    }).compile();
    await moduleRef.get(JwtVerificationStrategy).verify(await idp.mintJwt());
    expect(idp.requestsTo(PATHS.discovery)).toHaveLength(0);
  });

  it('takes client_id, else sub, as the client; a non-standard clientId claim is not read', async () => {
    const jwt = await strategy();
    const a = await jwt.verify(await idp.signRaw(header(), seedClaims({ client_id: 'billing' })));
    const b = await jwt.verify(await idp.signRaw(header(), seedClaims({ clientId: 'shipping' })));
    expect(a.clientId).toBe('billing');
    expect(b.clientId).toBe(seedClaims().sub);
  });

  describe('algorithms (S13–S17)', () => {
    it.each([
      ['S13 alg none, empty signature', 'none', ''],
      ['S13 alg None, empty signature', 'None', ''],
      ['S13 alg NONE, empty signature', 'NONE', ''],
      ['S13 alg nOnE, empty signature', 'nOnE', ''],
    ])('%s', async (_name, alg) => {
      const jwt = await strategy();
      const token = `${b64({ alg })}.${b64(seedClaims())}.`;
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_MALFORMED');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it.each(['none', 'None', 'NONE', 'nOnE'])(
      'S13 alg %s with a signature is not allowlisted, JWKS not fetched',
      async (alg) => {
        const jwt = await strategy();
        const token = `${b64({ alg })}.${b64(seedClaims())}.c2lnbmF0dXJl`;
        await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
        expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
      },
    );

    it('S14 header.payload. (null signature) for RS256', async () => {
      const jwt = await strategy();
      const [h, p] = (await idp.mintJwt()).split('.');
      await expectRefused(jwt.verify(`${h}.${p}.`), 'OIDC_CC_TOKEN_MALFORMED');
    });

    it.each([
      ['PEM', 'pem'],
      ['DER', 'der'],
      ['JWK JSON', 'jwk'],
      ['PEM with leading whitespace', 'pem-ws'],
    ])('S15 HS256 keyed with the RSA public key as %s', async (_name, form) => {
      const jwt = await strategy();
      const publicJwk = idp.jwks().keys[0];
      const { createPublicKey, createHmac } = await import('node:crypto');
      const keyObject = createPublicKey({ key: publicJwk as never, format: 'jwk' });
      const secret =
        form === 'jwk'
          ? JSON.stringify(publicJwk)
          : form === 'der'
            ? keyObject.export({ format: 'der', type: 'spki' })
            : `${form === 'pem-ws' ? ' \n' : ''}${keyObject.export({ format: 'pem', type: 'spki' }).toString()}`;
      const input = `${b64({ alg: 'HS256', kid: idp.currentKid })}.${b64(seedClaims())}`;
      const mac = createHmac('sha256', secret).update(input).digest('base64url');
      await expectRefused(jwt.verify(`${input}.${mac}`), 'OIDC_CC_TOKEN_INVALID');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it('S16 HS256 with an empty secret', async () => {
      const jwt = await strategy();
      const { createHmac } = await import('node:crypto');
      const input = `${b64({ alg: 'HS256' })}.${b64(seedClaims())}`;
      const mac = createHmac('sha256', Buffer.alloc(0)).update(input).digest('base64url');
      await expectRefused(jwt.verify(`${input}.${mac}`), 'OIDC_CC_TOKEN_INVALID');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it.each(['PS256', 'ES512', 'RS384'])(
      'S17 %s outside algorithms [RS256, ES256] is refused without fetching the JWKS',
      async (alg) => {
        const jwt = await strategy({ algorithms: ['RS256', 'ES256'] });
        const token = `${b64({ alg, kid: idp.currentKid })}.${b64(seedClaims())}.c2ln`;
        await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
        expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
      },
    );
  });

  describe('keys (S18–S25, S34)', () => {
    /** Serves `keys` as the JWKS of the fake ID service for one test. */
    function publish(keys: JWK[]): void {
      idp.on(PATHS.jwks, () => ({ body: { keys } }));
    }

    async function keyPair(alg: string, options: { modulusLength?: number } = {}) {
      const pair = await generateKeyPair(alg, { extractable: true, ...options });
      return { privateKey: pair.privateKey as SigningKey, jwk: await exportJWK(pair.publicKey) };
    }

    it('S18 alg ES256 with a kid that names an RSA key', async () => {
      const jwt = await strategy();
      const es = await keyPair('ES256');
      publish([{ ...idp.jwks().keys[0] }]);
      const token = await signCompact(
        { alg: 'ES256', kid: idp.currentKid },
        seedClaims(),
        es.privateKey,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S18 alg RS512 for a JWK whose alg is RS256 (one key, one algorithm)', async () => {
      const jwt = await strategy({ algorithms: ['RS256', 'RS512'] });
      const rsa = await keyPair('RS512');
      publish([{ ...rsa.jwk, kid: 'k1', alg: 'RS256' }]);
      const token = await signCompact({ alg: 'RS512', kid: 'k1' }, seedClaims(), rsa.privateKey);
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');

      // The same key without an alg of its own verifies the same token.
      const other = await strategy({ algorithms: ['RS256', 'RS512'] });
      publish([{ ...rsa.jwk, kid: 'k1' }]);
      await expect(other.verify(token)).resolves.toMatchObject({ clientId: 'test-client' });
    });

    it.each([
      ['S19 use enc', { use: 'enc' }],
      ['S19 key_ops without verify', { key_ops: ['encrypt'] }],
      ['S19 key_ops not a list', { key_ops: 'verify' }],
    ])('%s', async (_name, extra) => {
      const jwt = await strategy();
      const rsa = await keyPair('RS256');
      publish([{ ...rsa.jwk, kid: 'k1', ...extra } as JWK]);
      const token = await signCompact({ alg: 'RS256', kid: 'k1' }, seedClaims(), rsa.privateKey);
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S19 key_ops with verify is accepted', async () => {
      const jwt = await strategy();
      const rsa = await keyPair('RS256');
      publish([{ ...rsa.jwk, kid: 'k1', key_ops: ['verify'] }]);
      const token = await signCompact({ alg: 'RS256', kid: 'k1' }, seedClaims(), rsa.privateKey);
      await expect(jwt.verify(token)).resolves.toMatchObject({ clientId: 'test-client' });
    });

    it.each([
      ['with our kid', true],
      ['without a kid', false],
    ])('S20 header jwk carrying the attacker key it was signed with, %s', async (_n, withKid) => {
      const jwt = await strategy();
      const evil = await keyPair('RS256');
      const token = await signCompact(
        { alg: 'RS256', ...(withKid ? { kid: idp.currentKid } : {}), jwk: evil.jwk },
        seedClaims(),
        evil.privateKey,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it.each(['jku', 'x5u'])(
      'S21 header %s pointing at an attacker URL: refused, the URL never requested',
      async (param) => {
        const jwt = await strategy();
        const evil = await keyPair('RS256');
        attacker.on(PATHS.jwks, () => ({ body: { keys: [{ ...evil.jwk, kid: 'evil' }] } }));
        for (const url of [attacker.url(PATHS.jwks), `http://127.0.0.1:1${PATHS.jwks}`]) {
          const token = await signCompact(
            { alg: 'RS256', kid: 'evil', [param]: url },
            seedClaims(),
            evil.privateKey,
          );
          await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
        }
        expect(attacker.requests).toHaveLength(0);
      },
    );

    it('S22 header x5c with an attacker certificate is ignored', async () => {
      const jwt = await strategy();
      const evil = await keyPair('RS256');
      const token = await signCompact(
        { alg: 'RS256', kid: idp.currentKid, x5c: ['MIIBszCCAVmgAwIBAgIU'] },
        seedClaims(),
        evil.privateKey,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it.each([
      ['path traversal', '../../../../dev/null'],
      ['absolute path', '/dev/null'],
      ['SQL', "x' UNION SELECT '1';--"],
      ['shell', '|sleep 10'],
      ['4 KB string', 'k'.repeat(4096)],
    ])('S23 kid %s: refused, at most one JWKS fetch', async (_name, kid) => {
      const jwt = await strategy();
      const token = await idp.signRaw({ alg: 'RS256', kid }, seedClaims());
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
      expect(idp.requestsTo(PATHS.jwks).length).toBeLessThanOrEqual(1);
    });

    it.each([
      ['number', 7],
      ['object', { $ne: null }],
    ])('S23 kid as a %s is malformed', async (_name, kid) => {
      const jwt = await strategy();
      const token = await idp.signRaw({ alg: 'RS256', kid }, seedClaims());
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_MALFORMED');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it('S23 a 10 KB kid makes the token too long to parse', async () => {
      const jwt = await strategy();
      const token = await idp.signRaw({ alg: 'RS256', kid: 'k'.repeat(10_240) }, seedClaims());
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_MALFORMED');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it('S24 no kid and several RSA keys in the JWKS', async () => {
      const jwt = await strategy();
      const a = await keyPair('RS256');
      const b = await keyPair('RS256');
      publish([
        { ...a.jwk, kid: 'a' },
        { ...b.jwk, kid: 'b' },
      ]);
      const token = await signCompact({ alg: 'RS256' }, seedClaims(), a.privateKey);
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S25 no kid and exactly one matching key (another type beside it)', async () => {
      const jwt = await strategy();
      const rsa = await keyPair('RS256');
      const ec = await keyPair('ES256');
      publish([
        { ...rsa.jwk, kid: 'a' },
        { ...ec.jwk, kid: 'b' },
      ]);
      const token = await signCompact({ alg: 'RS256' }, seedClaims(), rsa.privateKey);
      await expect(jwt.verify(token)).resolves.toMatchObject({ clientId: 'test-client' });
    });

    it('S34 an RSA key of 1024 bits is refused', async () => {
      const jwt = await strategy();
      const pair = (await crypto.subtle.generateKey(
        {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: 1024,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        },
        true,
        ['sign', 'verify'],
      )) as { publicKey: SigningKey; privateKey: SigningKey };
      publish([{ ...(await exportJWK(pair.publicKey)), kid: 'small' }]);
      const token = await signCompact(
        { alg: 'RS256', kid: 'small' },
        seedClaims(),
        pair.privateKey,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('refuses a published private key', async () => {
      const jwt = await strategy();
      const rsa = await keyPair('RS256');
      publish([{ ...(await exportJWK(rsa.privateKey)), kid: 'leaked' }]);
      const token = await signCompact(
        { alg: 'RS256', kid: 'leaked' },
        seedClaims(),
        rsa.privateKey,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });
  });

  describe('structure (S26–S38)', () => {
    it.each([
      [
        'S26 crit names an unknown extension',
        { crit: ['x-ext'], 'x-ext': 1 },
        'OIDC_CC_TOKEN_INVALID',
      ],
      ['S26 crit is empty', { crit: [] }, 'OIDC_CC_TOKEN_MALFORMED'],
      ['S26 crit names alg', { crit: ['alg'] }, 'OIDC_CC_TOKEN_INVALID'],
      ['S26 crit names an absent parameter', { crit: ['b64'] }, 'OIDC_CC_TOKEN_MALFORMED'],
      ['S27 b64 false with crit b64', { b64: false, crit: ['b64'] }, 'OIDC_CC_TOKEN_MALFORMED'],
    ] as const)('%s', async (_name, extra, code) => {
      const jwt = await strategy();
      const token = await idp.signRaw(header(extra), seedClaims());
      await expectRefused(jwt.verify(token), code);
    });

    it('S28 a five-segment JWE encrypted to our published key', async () => {
      const jwt = await strategy();
      const { n, e, kty } = idp.jwks().keys[0];
      const encryptionKey = await importJWK({ kty, n, e }, 'RSA-OAEP-256');
      const jwe = await new CompactEncrypt(Buffer.from(JSON.stringify(seedClaims())))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: idp.currentKid })
        .encrypt(encryptionKey);
      expect(jwe.split('.')).toHaveLength(5);
      await expectRefused(jwt.verify(jwe), 'OIDC_CC_TOKEN_MALFORMED');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it('S29 JWS JSON serialisation as the bearer value', async () => {
      const jwt = await strategy();
      const [h, p, s] = (await idp.mintJwt()).split('.');
      const json = JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
      await expectRefused(jwt.verify(json), 'OIDC_CC_TOKEN_MALFORMED');
      expect(idp.requests).toHaveLength(0);
    });

    it.each([
      ['S30 two segments', (h: string, p: string) => `${h}.${p}`],
      ['S30 four segments', (h: string, p: string, s: string) => `${h}.${p}.${s}.${s}`],
      ['S30 empty header', (_h: string, p: string, s: string) => `.${p}.${s}`],
      ['S30 empty payload', (h: string, _p: string, s: string) => `${h}..${s}`],
      ['S31 + in a segment', (h: string, p: string, s: string) => `${h}.${p}.+${s.slice(1)}`],
      ['S31 / in a segment', (h: string, p: string, s: string) => `${h}.${p}/.${s}`],
      ['S31 = padding', (h: string, p: string, s: string) => `${h}=.${p}.${s}`],
      ['S31 whitespace', (h: string, p: string, s: string) => `${h}.${p} .${s}`],
      ['S31 newline', (h: string, p: string, s: string) => `${h}.\n${p}.${s}`],
      [
        'S35 header not an object',
        (_h: string, p: string, s: string) => `${b64('"RS256"')}.${p}.${s}`,
      ],
    ])('%s', async (_name, build) => {
      const jwt = await strategy();
      const [h, p, s] = (await idp.mintJwt()).split('.');
      await expectRefused(jwt.verify(build(h, p, s)), 'OIDC_CC_TOKEN_MALFORMED');
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it('S32 one flipped bit in the header, the payload or the signature', async () => {
      const jwt = await strategy();
      const [h, p, s] = (await idp.mintJwt()).split('.');
      const flip = (segment: string, index: number) => {
        const bytes = Buffer.from(segment, 'base64url');
        bytes[index] ^= 0x01;
        return bytes.toString('base64url');
      };
      const headerText = Buffer.from(h, 'base64url').toString();
      // Flip a bit inside the kid's value so the header stays JSON and names a key.
      const kidAt = headerText.indexOf(idp.currentKid) + idp.currentKid.length - 1;
      const payloadText = Buffer.from(p, 'base64url').toString();
      const subAt = payloadText.indexOf('test-client');
      for (const token of [
        `${flip(h, kidAt)}.${p}.${s}`,
        `${h}.${flip(p, subAt)}.${s}`,
        `${h}.${p}.${flip(s, 10)}`,
      ]) {
        await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
      }
    });

    describe('S33 ES256 signature forgeries', () => {
      let es: FakeIdService;
      beforeAll(async () => {
        es = await FakeIdService.start({ alg: 'ES256' });
      });
      afterAll(() => es.close());

      it.each([
        ['DER r=s=0 (MAYCAQACAQA)', () => 'MAYCAQACAQA'],
        ['64 zero bytes', () => Buffer.alloc(64).toString('base64url')],
        [
          'the valid signature DER-encoded',
          (s: string) => {
            const raw = Buffer.from(s, 'base64url');
            const int = (b: Buffer) => {
              let i = 0;
              while (i < b.length - 1 && b[i] === 0) i++;
              const v = b.subarray(i);
              return v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
            };
            const r = int(raw.subarray(0, 32));
            const t = int(raw.subarray(32));
            const body = Buffer.concat([
              Buffer.from([2, r.length]),
              r,
              Buffer.from([2, t.length]),
              t,
            ]);
            return Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64url');
          },
        ],
      ])('%s', async (_name, forge) => {
        const jwt = await strategy({}, es.issuer);
        const good = await es.mintJwt();
        const [h, p, s] = good.split('.');
        await expect(jwt.verify(good)).resolves.toBeDefined();
        await expectRefused(jwt.verify(`${h}.${p}.${forge(s)}`), 'OIDC_CC_TOKEN_INVALID');
      });
    });

    it.each([
      ['S35 payload []', '[]'],
      ['S35 payload "str"', '"str"'],
      ['S35 payload 123', '123'],
      ['S35 payload null', 'null'],
    ])('%s', async (_name, payload) => {
      const jwt = await strategy();
      await expectRefused(
        jwt.verify(await idp.signRaw(header(), payload)),
        'OIDC_CC_TOKEN_MALFORMED',
      );
      expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
    });

    it.each([
      ['S36 invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
      ['S36 UTF-16 BOM', Buffer.from(`\ufeff${JSON.stringify({ sub: 'x' })}`, 'utf16le')],
      ['S36 UTF-8 BOM', Buffer.from(`\ufeff${JSON.stringify({ sub: 'x' })}`, 'utf8')],
    ])('%s in the payload', async (_name, payload) => {
      const jwt = await strategy();
      const token = await signCompact(header(), payload, idp.privateKey());
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_MALFORMED');
    });

    it.each([
      ['S37 duplicate alg in the header', '{"alg":"RS256","alg":"none","kid":"KID"}', null],
      [
        'S37 duplicate kid (escaped) in the header',
        '{"alg":"RS256","kid":"KID","\\u006bid":"x"}',
        null,
      ],
      ['S37 duplicate sub in the payload', null, '"sub":"a","sub":"test-client"'],
      ['S37 duplicate iss in the payload', null, '"iss":"https://evil","iss":"ISS"'],
      ['S37 duplicate name in a nested object', null, '"cnf":{"a":1,"a":2}'],
    ])('%s', async (_name, rawHeader, rawPayloadMembers) => {
      const jwt = await strategy();
      const { iss: _iss, sub: _sub, ...rest } = seedClaims();
      const payload = rawPayloadMembers
        ? `{${rawPayloadMembers.replace('ISS', idp.issuer)},${JSON.stringify({ ...rest, ...(rawPayloadMembers.includes('"sub"') ? { iss: idp.issuer } : { sub: 'test-client' }) }).slice(1)}`
        : seedClaims();
      const token = await idp.signRaw(
        rawHeader ? rawHeader.replace('KID', idp.currentKid) : header(),
        payload,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_MALFORMED');
    });

    it('S38 __proto__ and constructor members do not pollute prototypes', async () => {
      const jwt = await strategy();
      const members = JSON.stringify(seedClaims()).slice(1, -1);
      const token = await idp.signRaw(
        header(),
        `{${members},"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}`,
      );
      const verified = await jwt.verify(token);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
      expect(({} as Record<string, unknown>).x).toBeUndefined();
      expect(Object.getPrototypeOf(verified.claims)).toBeNull();
      expect(Object.getOwnPropertyDescriptor(verified.claims, '__proto__')?.value).toEqual({
        admin: true,
      });
      expect((verified.claims as Record<string, unknown>).admin).toBeUndefined();
      expect(Object.isFrozen(verified.claims)).toBe(true);
    });
  });

  describe('claims (S39–S54)', () => {
    it.each([
      ['S39 typ missing', undefined],
      ['S39 typ JWT', 'JWT'],
      ['S39 typ application/jwt', 'application/jwt'],
      ['S39 typ dpop+jwt', 'dpop+jwt'],
      ['S39 typ client-authentication+jwt', 'client-authentication+jwt'],
    ])('%s under the rfc9068 profile', async (_name, typ) => {
      const jwt = await strategy({ profile: 'rfc9068' });
      const token = await idp.signRaw(header(typ ? { typ } : {}), atClaims());
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it.each(['at+jwt', 'application/at+jwt', 'at+JWT', 'Application/AT+JWT'])(
      'S40 typ %s under the rfc9068 profile',
      async (typ) => {
        const jwt = await strategy({ profile: 'rfc9068' });
        const token = await idp.signRaw(header({ typ }), atClaims());
        await expect(jwt.verify(token)).resolves.toMatchObject({ clientId: 'test-client' });
      },
    );

    it.each([undefined, 'JWT', 'application/jwt', 'at+jwt', 'AT+JWT'])(
      'default profile accepts typ %s (the seed ID service tokens)',
      async (typ) => {
        const jwt = await strategy();
        const token = await idp.signRaw(header(typ ? { typ } : {}), seedClaims());
        await expect(jwt.verify(token)).resolves.toMatchObject({ clientId: 'test-client' });
      },
    );

    it.each(['dpop+jwt', 'client-authentication+jwt', 'secevent+jwt', 7])(
      'default profile refuses typ %s',
      async (typ) => {
        const jwt = await strategy();
        const token = await idp.signRaw(header({ typ }), seedClaims());
        await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
        expect(idp.requestsTo(PATHS.jwks)).toHaveLength(0);
      },
    );

    it('S41 an ID token from the same issuer (rfc9068 profile, and default with audience)', async () => {
      const idToken = await idp.signRaw(
        header({ typ: 'JWT' }),
        seedClaims({ aud: 'some-client', nonce: 'n-0S6_WzA2Mj', auth_time: now() }),
      );
      await expectRefused(
        (await strategy({ profile: 'rfc9068' })).verify(idToken),
        'OIDC_CC_TOKEN_INVALID',
      );
      await expectRefused(
        (await strategy({ audience: 'urn:orders-api' })).verify(idToken),
        'OIDC_CC_TOKEN_INVALID',
      );
    });

    it('S42 iss differing by trailing slash, case, scheme or port', async () => {
      const jwt = await strategy();
      const url = new URL(idp.issuer);
      for (const iss of [
        `${idp.issuer}/`,
        idp.issuer.replace('http://', 'HTTP://'),
        idp.issuer.replace('http://', 'https://'),
        `http://127.0.0.1:${Number(url.port) + 1}`,
        idp.issuer.replace('127.0.0.1', 'localhost'),
      ]) {
        await expectRefused(
          jwt.verify(await idp.signRaw(header(), seedClaims({ iss }))),
          'OIDC_CC_TOKEN_INVALID',
        );
      }
    });

    it('S43 iss as an array, a substring, a superstring or a number', async () => {
      const jwt = await strategy();
      for (const iss of [
        ['https://evil', idp.issuer],
        idp.issuer.slice(0, -1),
        `${idp.issuer}.evil`,
        42,
      ]) {
        await expectRefused(
          jwt.verify(await idp.signRaw(header(), seedClaims({ iss }))),
          'OIDC_CC_TOKEN_INVALID',
        );
      }
    });

    it("S44 issuer B's token, and A's key with iss B, where A is configured", async () => {
      const jwt = await strategy();
      const fromB = await attacker.mintJwt();
      await expectRefused(jwt.verify(fromB), 'OIDC_CC_TOKEN_INVALID');
      const keyOfAIssB = await idp.signRaw(header(), seedClaims({ iss: attacker.issuer }));
      await expectRefused(jwt.verify(keyOfAIssB), 'OIDC_CC_TOKEN_INVALID');
      expect(attacker.requests).toHaveLength(0);
    });

    it.each([
      ['aud missing', undefined],
      ['aud another RS', 'https://other.example.com'],
      ['aud []', []],
      ['aud [123]', [123]],
      ['aud a superstring', 'https://api.example.com.evil'],
    ])('S45 %s', async (_name, aud) => {
      const jwt = await strategy({ audience: 'https://api.example.com' });
      const claims = seedClaims();
      if (aud === undefined) delete claims.aud;
      else claims.aud = aud;
      await expectRefused(jwt.verify(await idp.signRaw(header(), claims)), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S45 a malformed aud is refused even when no audience is configured', async () => {
      const jwt = await strategy();
      await expectRefused(
        jwt.verify(await idp.signRaw(header(), seedClaims({ aud: [123] }))),
        'OIDC_CC_TOKEN_INVALID',
      );
    });

    it('S46 aud listing another RS and ours', async () => {
      const jwt = await strategy({ audience: ['urn:orders-api', 'https://api.example.com'] });
      const token = await idp.signRaw(
        header(),
        seedClaims({ aud: ['https://other', 'https://api.example.com'] }),
      );
      await expect(jwt.verify(token)).resolves.toMatchObject({
        audience: ['https://other', 'https://api.example.com'],
      });
    });

    it.each([
      ['a DPoP key thumbprint', { jkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' }],
      [
        'an mTLS certificate thumbprint',
        { 'x5t#S256': 'bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2' },
      ],
    ])(
      'a key-bound token (cnf with %s) is verified with its confirmation recorded for the guard',
      async (_name, cnf) => {
        const jwt = await strategy();
        const token = await idp.signRaw(header(), { ...seedClaims(), cnf });
        await expect(jwt.verify(token)).resolves.toMatchObject({ confirmation: cnf });
      },
    );

    it.each([
      ['a member no proof checks (jwk)', { jwk: { kty: 'EC' } }],
      ['a thumbprint that is not SHA-256 base64url', { jkt: 'short' }],
      ['no member at all', {}],
      ['a string', 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'],
    ])('a token bound by cnf with %s is refused', async (_name, cnf) => {
      const jwt = await strategy();
      const token = await idp.signRaw(header(), { ...seedClaims(), cnf });
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S47 exp missing', async () => {
      const jwt = await strategy();
      const { exp: _exp, ...claims } = seedClaims();
      await expectRefused(jwt.verify(await idp.signRaw(header(), claims)), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S48 exp one second beyond the leeway; exp == now with leeway 0', async () => {
      const jwt = await strategy({ clockToleranceSeconds: 30 });
      await expectRefused(
        jwt.verify(await idp.signRaw(header(), seedClaims({ exp: now() - 31 }))),
        'OIDC_CC_TOKEN_EXPIRED',
      );
      await expect(
        jwt.verify(await idp.signRaw(header(), seedClaims({ exp: now() - 20 }))),
      ).resolves.toBeDefined();
      const strict = await strategy({ clockToleranceSeconds: 0 });
      await expectRefused(
        strict.verify(await idp.signRaw(header(), seedClaims({ exp: now() }))),
        'OIDC_CC_TOKEN_EXPIRED',
      );
    });

    it.each([
      ['as a string', '"9999999999"', 'OIDC_CC_TOKEN_INVALID'],
      ['1e400 (infinite)', '1e400', 'OIDC_CC_TOKEN_INVALID'],
      ['negative', '-1', 'OIDC_CC_TOKEN_EXPIRED'],
    ] as const)('S49 exp %s', async (_name, exp, code) => {
      const jwt = await strategy();
      const { exp: _exp, ...claims } = seedClaims();
      const token = await idp.signRaw(
        header(),
        `{${JSON.stringify(claims).slice(1, -1)},"exp":${exp}}`,
      );
      await expectRefused(jwt.verify(token), code);
    });

    it('S49 a float exp within range is handled like an integer', async () => {
      const jwt = await strategy();
      const verified = await jwt.verify(
        await idp.signRaw(header(), seedClaims({ exp: now() + 100.5 })),
      );
      expect(verified.expiresAt).toBeCloseTo(now() + 100.5, 0);
    });

    it.each([
      ['beyond the leeway', () => now() + 120],
      ['as a string', () => String(now() - 10)],
      ['1e400', () => Infinity],
    ])('S50 nbf %s', async (_name, nbf) => {
      const jwt = await strategy();
      const value = nbf();
      const members = JSON.stringify(seedClaims()).slice(1, -1);
      const token = await idp.signRaw(
        header(),
        `{${members},"nbf":${value === Infinity ? '1e400' : JSON.stringify(value)}}`,
      );
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S50 nbf within the leeway is accepted', async () => {
      const jwt = await strategy();
      await expect(
        jwt.verify(await idp.signRaw(header(), seedClaims({ nbf: now() + 10 }))),
      ).resolves.toBeDefined();
    });

    it('S51 iat missing under rfc9068; iat an hour ahead or a string under both profiles', async () => {
      const strict = await strategy({ profile: 'rfc9068' });
      const relaxed = await strategy();
      const { iat: _iat, ...withoutIat } = atClaims();
      await expectRefused(
        strict.verify(await idp.signRaw(header({ typ: 'at+jwt' }), withoutIat)),
        'OIDC_CC_TOKEN_INVALID',
      );
      await expect(relaxed.verify(await idp.signRaw(header(), withoutIat))).resolves.toBeDefined();
      for (const jwt of [strict, relaxed]) {
        for (const iat of [now() + 3600, String(now())]) {
          const token = await idp.signRaw(header({ typ: 'at+jwt' }), atClaims({ iat }));
          await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
        }
      }
    });

    it.each([
      ['sub missing', { sub: undefined }],
      ['sub a number', { sub: 42 }],
      ['client_id missing', { client_id: undefined }],
      ['client_id a number', { client_id: 42 }],
      ['jti missing', { jti: undefined }],
      ['jti an object', { jti: {} }],
    ])('S52 %s under the rfc9068 profile', async (_name, change) => {
      const jwt = await strategy({ profile: 'rfc9068' });
      const claims = atClaims(change);
      const token = await idp.signRaw(header({ typ: 'at+jwt' }), JSON.stringify(claims));
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it.each([
      ['sub missing', { sub: undefined }],
      ['sub a number', { sub: 42 }],
      ['sub empty', { sub: '' }],
      ['client_id a number', { client_id: 42 }],
    ])('S52 %s under the default profile', async (_name, change) => {
      const jwt = await strategy();
      const token = await idp.signRaw(header(), JSON.stringify(seedClaims(change)));
      await expectRefused(jwt.verify(token), 'OIDC_CC_TOKEN_INVALID');
    });

    it('S54 an array scope or an scp claim grants no scopes', async () => {
      const jwt = await strategy();
      const array = await jwt.verify(
        await idp.signRaw(header(), seedClaims({ scope: ['orders:read'] })),
      );
      const scp = await jwt.verify(
        await idp.signRaw(header(), seedClaims({ scp: ['orders:read'], jti: 'other' })),
      );
      expect(array.scopes).toEqual([]);
      expect(scp.scopes).toEqual([]);
    });
  });

  it('keeps only jose code and message as cause, never the claims or the token', async () => {
    const jwt = await strategy();
    const token = await idp.signRaw(header(), seedClaims({ exp: now() - 3600, secret: 'claim-x' }));
    const error = await refusal(jwt.verify(token));
    expect(error.cause).toEqual({
      name: 'JWTExpired',
      code: 'ERR_JWT_EXPIRED',
      message: expect.any(String),
    });
    const serialised = JSON.stringify({ message: error.message, cause: error.cause });
    expect(serialised).not.toContain('claim-x');
    expect(serialised).not.toContain(token.split('.')[1]);
  });
});

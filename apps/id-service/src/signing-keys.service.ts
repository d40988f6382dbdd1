import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { IdServiceContext } from './id-service.context.js';

/** Private JWKs to sign with instead of generated keys (each with `alg`); the last one signs. */
export const ID_SERVICE_SIGNING_KEYS = Symbol('ID_SERVICE_SIGNING_KEYS');

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: Awaited<ReturnType<typeof importJWK>>;
  publicJwk: JWK;
  revoked: boolean;
}

/**
 * The service's signing keys. The newest key signs; older ones stay published (so tokens they
 * signed keep verifying) until revoked, which also makes their tokens inactive.
 */
@Injectable()
export class SigningKeys implements OnModuleInit {
  private readonly keys: SigningKey[] = [];

  constructor(
    private readonly context: IdServiceContext,
    @Inject(ID_SERVICE_SIGNING_KEYS) private readonly configuredKeys: JWK[],
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.keys.length > 0) return;
    for (const jwk of this.configuredKeys) await this.add(jwk);
    if (this.keys.length === 0) await this.rotate();
  }

  /** Generates a new key that signs from now on; returns its `kid` (its JWK thumbprint). */
  async rotate(): Promise<string> {
    const { privateKey } = await generateKeyPair(this.context.alg, { extractable: true });
    return this.add({ ...(await exportJWK(privateKey)), alg: this.context.alg });
  }

  /**
   * Unpublishes a key and makes every token it signed inactive. Revoking the signing key rotates
   * to a new one. Returns `false` for an unknown kid.
   */
  async revoke(kid: string): Promise<boolean> {
    const key = this.keys.find((k) => k.kid === kid && !k.revoked);
    if (!key) return false;
    key.revoked = true;
    if (key === this.keys.at(-1)) await this.rotate();
    return true;
  }

  /** The key new tokens are signed with. */
  signer(): Pick<SigningKey, 'kid' | 'alg' | 'privateKey'> {
    const key = this.keys.at(-1);
    if (!key || key.revoked) throw new Error('no signing key');
    return key;
  }

  /** The published JWKS: public parts of every key not revoked. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.filter((k) => !k.revoked).map((k) => ({ ...k.publicJwk })) };
  }

  /** Verifies a JWT signed by one of the published keys. */
  async verify(token: string, options: JWTVerifyOptions): Promise<JWTPayload> {
    const algorithms = [...new Set(this.keys.map((k) => k.alg))];
    const { payload } = await jwtVerify(token, createLocalJWKSet(this.jwks()), {
      ...options,
      algorithms,
    });
    return payload;
  }

  private async add(privateJwk: JWK): Promise<string> {
    if (!privateJwk.alg || !privateJwk.d)
      throw new Error('signing keys must be private JWKs with an alg');
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, k: _k, ...publicPart } = privateJwk;
    const kid = privateJwk.kid ?? (await calculateJwkThumbprint(publicPart));
    this.keys.push({
      kid,
      alg: privateJwk.alg,
      privateKey: await importJWK(privateJwk, privateJwk.alg),
      publicJwk: { ...publicPart, kid, alg: privateJwk.alg, use: 'sig' },
      revoked: false,
    });
    return kid;
  }
}

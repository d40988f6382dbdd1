import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import type { SigningCryptoKey } from './sign-compact.util.js';

/** Algorithms the ID service can generate signing keys for. */
export type SigningAlgorithm = 'RS256' | 'PS256' | 'ES256' | 'EdDSA';

/** One signing key of the ID service. */
export interface SigningKey {
  /** Key id: the configured one, else the JWK thumbprint (RFC 7638). */
  readonly kid: string;
  /** JWS algorithm, e.g. `ES256`. */
  readonly alg: string;
  /** Signs the service's tokens. */
  readonly privateKey: SigningCryptoKey;
  /** Verifies them. */
  readonly publicKey: SigningCryptoKey;
  /** The public JWK as the JWKS publishes it (`kid`, `alg`, `use: 'sig'`). */
  readonly publicJwk: JWK;
}

interface KeyState extends SigningKey {
  /** In the JWKS. */
  published: boolean;
  /** Its tokens are no longer active. */
  revoked: boolean;
}

/** Members of a private JWK that the public one leaves out. */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']);

/**
 * The ID service's signing keys. The newest key signs; older ones stay published, so tokens they
 * signed keep verifying, until they are unpublished (gone from the JWKS) or revoked (gone from the
 * JWKS, and their tokens inactive).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7517#section-5
 */
export class SigningKeys {
  private readonly keys: KeyState[] = [];

  /** @param alg algorithm of the keys {@link rotate} generates */
  private constructor(readonly alg: SigningAlgorithm) {}

  /** Keys from private JWKs (each with an `alg`; the last one signs), else one generated key. */
  static async create(alg: SigningAlgorithm, privateJwks: JWK[] = []): Promise<SigningKeys> {
    const keys = new SigningKeys(alg);
    for (const jwk of privateJwks) await keys.load(jwk);
    if (keys.keys.length === 0) await keys.rotate();
    return keys;
  }

  /** Generates a key that signs from now on and publishes it; returns its kid. */
  async rotate(): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(this.alg, { extractable: true });
    return this.add(privateKey, publicKey, await exportJWK(publicKey), this.alg);
  }

  /** Adds a private JWK (with an `alg`) that signs from now on; returns its kid. */
  async load(privateJwk: JWK): Promise<string> {
    if (!privateJwk.alg || !privateJwk.d) {
      throw new Error('signing keys must be private JWKs with an alg');
    }
    const publicJwk = Object.fromEntries(
      Object.entries(privateJwk).filter(([member]) => !PRIVATE_MEMBERS.has(member)),
    ) as JWK;
    return this.add(
      (await importJWK(privateJwk, privateJwk.alg)) as SigningCryptoKey,
      (await importJWK(publicJwk, privateJwk.alg)) as SigningCryptoKey,
      publicJwk,
      privateJwk.alg,
      privateJwk.kid,
    );
  }

  /** Stops publishing a key; its tokens stay active where the ID service itself is asked. */
  unpublish(kid: string): void {
    const key = this.keys.find((k) => k.kid === kid);
    if (key) key.published = false;
  }

  /**
   * Unpublishes a key and makes every token it signed inactive; revoking the signing key rotates to
   * a new one. `false` for an unknown or already revoked kid.
   */
  async revoke(kid: string): Promise<boolean> {
    const key = this.keys.find((k) => k.kid === kid && !k.revoked);
    if (!key) return false;
    key.revoked = true;
    key.published = false;
    if (key === this.keys.at(-1)) await this.rotate();
    return true;
  }

  /** The key new tokens are signed with. */
  get current(): SigningKey {
    return this.keys.at(-1)!;
  }

  /** A key by kid, revoked or not. */
  find(kid: string): SigningKey | undefined {
    return this.keys.find((k) => k.kid === kid);
  }

  /** The published JWKS: public parts only. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.filter((k) => k.published).map((k) => ({ ...k.publicJwk })) };
  }

  /**
   * The payload of a JWT signed by any key not revoked (published or not), checked with `options`;
   * `undefined` when none verifies it.
   */
  async verify(token: string, options: JWTVerifyOptions): Promise<JWTPayload | undefined> {
    for (const key of this.keys.filter((k) => !k.revoked)) {
      try {
        return (await jwtVerify(token, key.publicKey, options)).payload;
      } catch {
        // try the next key
      }
    }
    return undefined;
  }

  private async add(
    privateKey: SigningCryptoKey,
    publicKey: SigningCryptoKey,
    publicJwk: JWK,
    alg: string,
    configuredKid?: string,
  ): Promise<string> {
    const kid = configuredKid ?? (await calculateJwkThumbprint(publicJwk));
    this.keys.push({
      kid,
      alg,
      privateKey,
      publicKey,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      published: true,
      revoked: false,
    });
    return kid;
  }
}

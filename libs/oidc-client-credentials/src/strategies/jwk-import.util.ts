import { importJWK, type JWK } from 'jose';
import { TokenVerificationError } from '../errors/token-verification.error.js';

/** A public key that verifies a JWS (never a shared secret). */
export type VerificationKey = Exclude<Awaited<ReturnType<typeof importJWK>>, Uint8Array>;

/**
 * Published keys imported for verification, once per key and `alg`: kept while the key object
 * is (a key dropped from the JWKS is forgotten with it).
 */
export class ImportedJwks {
  private readonly imported = new WeakMap<JWK, Map<string, Promise<VerificationKey>>>();

  /**
   * `jwk` imported for `alg`.
   *
   * @throws TokenVerificationError when the key cannot be imported (or is symmetric).
   */
  get(jwk: JWK, alg: string): Promise<VerificationKey> {
    let byAlg = this.imported.get(jwk);
    if (!byAlg) {
      byAlg = new Map();
      this.imported.set(jwk, byAlg);
    }
    let key = byAlg.get(alg);
    if (!key) {
      key = importJWK(jwk, alg)
        .then((imported) => {
          if (imported instanceof Uint8Array) throw new TypeError('symmetric key');
          return imported;
        })
        .catch((error: unknown) => {
          throw TokenVerificationError.invalid(
            'The published key of this token cannot be imported',
            error,
          );
        });
      byAlg.set(alg, key);
    }
    return key;
  }
}

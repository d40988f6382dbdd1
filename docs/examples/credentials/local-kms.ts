import {
  createPublicKey,
  generateKeyPairSync,
  sign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { KmsClient } from './kms-signer.js';

/**
 * A KMS on this machine, for development and tests: it keeps its P-256 key to itself and answers
 * DER signatures, as AWS KMS and GCP KMS do.
 */
export class LocalKms implements KmsClient {
  private readonly keys = new Map<string, KeyObject>();

  createKey(keyId: string): void {
    this.keys.set(keyId, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  }

  /** The public key as a JWK, to register with the ID service. */
  publicJwk(keyId: string): JsonWebKey {
    return createPublicKey(this.key(keyId)).export({ format: 'jwk' });
  }

  async sign(request: { keyId: string; message: Uint8Array }): Promise<{ signature: Uint8Array }> {
    return { signature: sign('sha256', request.message, this.key(request.keyId)) };
  }

  private key(keyId: string): KeyObject {
    const key = this.keys.get(keyId);
    if (key === undefined) throw new Error(`no key ${keyId}`);
    return key;
  }
}

import { OidcClientCredentialsModule, type JwsSigner } from 'nest-oidc-client-credentials';

/**
 * The one call a KMS offers that matters here, shaped like AWS KMS `Sign` (`MessageType: 'RAW'`,
 * `SigningAlgorithm: 'ECDSA_SHA_256'`) and GCP KMS `asymmetricSign`: the message goes in, a
 * DER-encoded ECDSA signature comes out, and the private key never leaves the KMS.
 */
export interface KmsClient {
  sign(request: { keyId: string; message: Uint8Array }): Promise<{ signature: Uint8Array }>;
}

/**
 * `private_key_jwt` (and DPoP) signed by a KMS key: the library hands over the JWS signing input,
 * this signer asks the KMS to sign it and returns the signature as JWS wants it — for ES256 the
 * raw 64-byte `r || s`, not the DER the KMS answers.
 */
export class KmsSigner implements JwsSigner {
  readonly alg = 'ES256';

  constructor(
    private readonly kms: KmsClient,
    private readonly keyId: string,
    /** The kid the ID service knows the public key by. */
    readonly kid: string,
  ) {}

  async sign(data: Uint8Array): Promise<Uint8Array> {
    const { signature } = await this.kms.sign({ keyId: this.keyId, message: data });
    return derToRawEcdsa(signature, 32);
  }
}

/** DER `ECDSA-Sig-Value` (SEQUENCE of two INTEGERs) → raw `r || s`, each `size` bytes. */
export function derToRawEcdsa(der: Uint8Array, size: number): Uint8Array {
  const raw = new Uint8Array(size * 2);
  // SEQUENCE, its length (one byte, or 0x81 and one byte), then INTEGER r and INTEGER s.
  let offset = der[1]! & 0x80 ? 3 : 2;
  for (const half of [0, 1]) {
    if (der[offset] !== 0x02) throw new Error('not a DER ECDSA signature');
    const length = der[offset + 1]!;
    let value = der.subarray(offset + 2, offset + 2 + length);
    // An INTEGER has a leading zero when its high bit is set; r and s are unsigned.
    while (value.length > size && value[0] === 0) value = value.subarray(1);
    raw.set(value, half * size + size - value.length);
    offset += 2 + length;
  }
  return raw;
}

/**
 * The module of a service whose `private_key_jwt` key lives in a KMS: the ID service has the
 * key's public half registered under `OIDC_KEY_ID` for the client.
 */
export function kmsSignedClient(kms: KmsClient, env: NodeJS.ProcessEnv = process.env) {
  return OidcClientCredentialsModule.forRoot({
    issuer: env.OIDC_ISSUER!,
    clientId: env.OIDC_CLIENT_ID!,
    clientAuthMethod: 'private_key_jwt',
    privateKey: new KmsSigner(kms, env.KMS_KEY_ID!, env.OIDC_KEY_ID!),
  });
}

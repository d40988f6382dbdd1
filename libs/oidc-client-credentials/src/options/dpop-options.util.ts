import type { CryptoKey, JWK } from 'jose';
import { ConfigurationError } from '../errors/configuration.error.js';
import type {
  DpopOptions,
  DpopSigner,
  NamedClientOptions,
} from './oidc-client-credentials-options.interface.js';
import { DPOP_ALGORITHMS } from './dpop-algorithms.js';
import type { ResolvedOptions } from './resolved-options.js';

/** The proofs' algorithm when nothing says otherwise. */
export const DEFAULT_DPOP_ALG = 'ES256';

/** The algorithm an EC or OKP key implies; an RSA key must say (`alg` in it, or `dpop.alg`). */
const ALG_OF_CURVE: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
  Ed25519: 'EdDSA',
};

/** Private members of a JWK: a signer's public `jwk` must hold none. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * Checks a client's `dpop` option and resolves it (`undefined`: off). The key itself is imported
 * when the client starts; here its shape and algorithm are checked, so a mistake stops the start
 * with the option named (`clients.<name>.dpop…` through `optionPrefix`).
 */
export function resolveDpop(
  value: NamedClientOptions['dpop'],
  optionPrefix = '',
): ResolvedOptions['dpop'] {
  const option = `${optionPrefix}dpop`;
  if (value === undefined || value === false) return undefined;
  if (value === true) return { alg: DEFAULT_DPOP_ALG };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigurationError(option, 'expected true, false or { alg?, privateKey? }');
  }
  const { alg, privateKey } = value as DpopOptions;
  if (alg !== undefined && !(DPOP_ALGORITHMS as readonly unknown[]).includes(alg)) {
    throw new ConfigurationError(`${option}.alg`, `expected one of ${DPOP_ALGORITHMS.join(', ')}`);
  }
  if (privateKey === undefined) return { alg: alg ?? DEFAULT_DPOP_ALG };
  return { alg: keyAlgorithm(privateKey, alg, `${option}.privateKey`), privateKey };
}

/** The algorithm of a brought key, checked against `alg` when both say. */
function keyAlgorithm(
  key: JWK | CryptoKey | DpopSigner,
  alg: string | undefined,
  option: string,
): string {
  const named = (own: string | undefined, what: string): string => {
    if (own !== undefined && !(DPOP_ALGORITHMS as readonly string[]).includes(own)) {
      throw new ConfigurationError(
        option,
        `${what} ${own} is not a DPoP algorithm (${DPOP_ALGORITHMS.join(', ')})`,
      );
    }
    // An Ed25519 key signs as EdDSA or, fully specified (RFC 9864), as Ed25519.
    if (own === 'EdDSA' && alg === 'Ed25519' && what !== 'its alg is') return alg;
    if (own !== undefined && alg !== undefined && own !== alg) {
      throw new ConfigurationError(option, `${what} ${own} differs from dpop.alg ${alg}`);
    }
    const chosen = own ?? alg;
    if (chosen === undefined) {
      throw new ConfigurationError(option, 'says no algorithm: set dpop.alg (e.g. PS256)');
    }
    return chosen;
  };
  if (typeof key !== 'object' || key === null) {
    throw new ConfigurationError(option, 'expected a private JWK, a CryptoKey or a DpopSigner');
  }
  const cryptoKey = key as Partial<CryptoKey>;
  if (typeof cryptoKey.algorithm === 'object' && Array.isArray(cryptoKey.usages)) {
    // A CryptoKey, duck-typed (keys may come from another realm).
    const key = cryptoKey as CryptoKey;
    if (key.type !== 'private' || !key.usages.includes('sign')) {
      throw new ConfigurationError(option, 'expected a private CryptoKey with the "sign" usage');
    }
    return named(cryptoKeyAlgorithm(key), 'the CryptoKey is for');
  }
  if (typeof (key as DpopSigner).sign === 'function') {
    const signer = key as DpopSigner;
    const jwk = signer.jwk as Record<string, unknown> | undefined;
    if (typeof jwk !== 'object' || jwk === null || typeof jwk.kty !== 'string') {
      throw new ConfigurationError(option, 'a signer needs its public key as "jwk"');
    }
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) {
      throw new ConfigurationError(option, 'the signer\'s "jwk" must be the public key only');
    }
    if (typeof signer.alg !== 'string') {
      throw new ConfigurationError(option, 'a signer needs its JWS algorithm as "alg"');
    }
    return named(signer.alg, 'the signer signs');
  }
  const jwk = key as JWK;
  if (typeof jwk.kty !== 'string' || !['EC', 'OKP', 'RSA'].includes(jwk.kty)) {
    throw new ConfigurationError(option, 'expected an EC, OKP or RSA private JWK');
  }
  if (typeof jwk.d !== 'string') {
    throw new ConfigurationError(option, 'is a public key: the private JWK (with "d") is needed');
  }
  const implied = jwk.crv === undefined ? undefined : ALG_OF_CURVE[jwk.crv];
  return named(
    jwk.alg ?? implied ?? undefined,
    jwk.alg === undefined ? 'its curve implies' : 'its alg is',
  );
}

function cryptoKeyAlgorithm(key: CryptoKey): string | undefined {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } };
  const bits = algorithm.hash?.name.replace('SHA-', '');
  switch (algorithm.name) {
    case 'ECDSA':
      return algorithm.namedCurve === undefined ? undefined : ALG_OF_CURVE[algorithm.namedCurve];
    case 'Ed25519':
      return 'EdDSA';
    case 'RSASSA-PKCS1-v1_5':
      return `RS${bits}`;
    case 'RSA-PSS':
      return `PS${bits}`;
    default:
      return undefined;
  }
}

/** `{ dpop }` when DPoP is on, else nothing: options without it keep their shape. */
export function definedDpop(dpop: ResolvedOptions['dpop']): Pick<ResolvedOptions, 'dpop'> {
  return dpop === undefined ? {} : { dpop };
}

/**
 * Refuses a generated DPoP key with shared stores but no `cache.encryptionKey`: the fleet's key
 * pair would be stored in clear, and whoever reads the store could use the bound tokens.
 */
export function assertDpopSharable(client: ResolvedOptions, optionPrefix = ''): void {
  if (client.dpop === undefined || client.dpop.privateKey !== undefined) return;
  if (client.cache.stores.length === 0 || client.cache.encryptionKey !== undefined) return;
  throw new ConfigurationError(
    'cache.encryptionKey',
    `required with ${optionPrefix}dpop and cache.stores: the fleet shares one DPoP key pair per client, which is stored only sealed`,
  );
}

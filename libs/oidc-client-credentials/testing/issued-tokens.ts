import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, type JWSHeaderParameters, type JWTPayload } from 'jose';
import type { IdServiceContext } from './id-service-context.js';
import type { SigningKeys } from './signing-keys.js';

/** A freshly issued access token, as the token endpoint answers it. */
export interface IssuedToken {
  accessToken: string;
  /** Lifetime in seconds. */
  expiresIn: number;
  /** Granted scopes, space-separated; absent when none. */
  scope?: string;
}

/** What the service remembers of an opaque token. */
interface OpaqueRecord {
  clientId: string;
  scope?: string;
  audience: string | string[];
  iat: number;
  exp: number;
  revoked: boolean;
  /** The DPoP key thumbprint a bound token is for (RFC 9449 §6.2). */
  jkt?: string;
}

/**
 * The tokens the ID service issues (JWT or opaque, per client) and whether one is still active.
 * Opaque tokens and revoked JWTs are remembered by their SHA-256 only.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9068
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
export class IssuedTokens {
  private readonly opaque = new Map<string, OpaqueRecord>();
  private readonly revokedJwts = new Set<string>();

  constructor(
    private readonly context: IdServiceContext,
    private readonly keys: SigningKeys,
  ) {}

  /**
   * Issues a token to a registered client with exactly these scopes, as the token endpoint does:
   * its format, lifetime, audience and JWT profile come from the client. With `jkt` it is bound to
   * that DPoP key: `cnf: { jkt }` in the JWT, or in the introspection answer of an opaque token.
   */
  async issue(clientId: string, scopes: string[], jkt?: string): Promise<IssuedToken> {
    const client = this.context.client(clientId);
    if (!client) throw new Error(`unknown client ${clientId}`);
    const expiresIn = client.lifetimeSeconds ?? this.context.lifetimeSeconds;
    const scope = scopes.length > 0 ? scopes.join(' ') : undefined;
    if ((client.tokenFormat ?? this.context.tokenFormat) === 'opaque') {
      const accessToken = this.mintOpaque(clientId, { scope, lifetimeSeconds: expiresIn, jkt });
      return { accessToken, expiresIn, ...(scope ? { scope } : {}) };
    }
    const rfc9068 = client.jwtProfile === 'rfc9068';
    const iat = this.context.nowSeconds();
    const accessToken = await this.mintJwt(
      {
        iat,
        exp: iat + expiresIn,
        sub: clientId,
        aud: client.audience ?? clientId,
        ...(rfc9068 ? { client_id: clientId } : {}),
        ...(rfc9068 || this.context.uniqueJwtIds ? { jti: randomUUID() } : {}),
        ...(scope ? { scope } : {}),
        ...(jkt === undefined ? {} : { cnf: { jkt } }),
      },
      { typ: rfc9068 ? 'at+jwt' : 'JWT' },
    );
    return { accessToken, expiresIn, ...(scope ? { scope } : {}) };
  }

  /**
   * Signs a JWT with the current key (or `header.kid`'s, when the service has it). Defaults: `iss`
   * the service, `iat` now, `exp` in 1 h, `sub` = `aud` = `'test-client'`; given claims replace
   * them (`exp: undefined` leaves `exp` out).
   */
  async mintJwt(
    claims: JWTPayload & Record<string, unknown> = {},
    header: Partial<JWSHeaderParameters> = {},
  ): Promise<string> {
    const now = this.context.nowSeconds();
    const clientId = (claims.sub as string | undefined) ?? 'test-client';
    const payload = {
      iss: this.context.issuer,
      iat: now,
      exp: now + 3600,
      sub: clientId,
      aud: clientId,
      ...claims,
    };
    const key = this.keys.find(header.kid ?? this.keys.current.kid) ?? this.keys.current;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header } as JWSHeaderParameters & {
        alg: string;
      })
      .sign(key.privateKey);
  }

  /**
   * Issues an opaque token known to introspection. Its `aud` is `options.audience`, else the
   * client's `audience`, else the client id.
   */
  mintOpaque(
    clientId: string,
    options: {
      scope?: string;
      lifetimeSeconds?: number;
      audience?: string | string[];
      /** Bound to this DPoP key thumbprint (`cnf.jkt` and `token_type: DPoP` when introspected). */
      jkt?: string;
    } = {},
  ): string {
    const iat = this.context.nowSeconds();
    this.pruneExpired(iat);
    const token = randomBytes(32).toString('base64url');
    this.opaque.set(hash(token), {
      clientId,
      scope: options.scope,
      audience: options.audience ?? this.context.client(clientId)?.audience ?? clientId,
      iat,
      exp: iat + (options.lifetimeSeconds ?? this.context.lifetimeSeconds),
      revoked: false,
      ...(options.jkt === undefined ? {} : { jkt: options.jkt }),
    });
    return token;
  }

  /**
   * The claims introspection answers for a token this service issued that has not expired and is
   * not revoked (nor signed by a revoked key), else `undefined`. A JWT's claims are its payload plus
   * `client_id`, `clientId` and `token_type`.
   */
  async inspect(token: string): Promise<Record<string, unknown> | undefined> {
    const record = this.opaque.get(hash(token));
    if (record) return this.opaqueClaims(record);
    if (this.revokedJwts.has(hash(token))) return undefined;
    const payload = await this.keys.verify(token, {
      issuer: this.context.issuer,
      currentDate: this.context.now(),
    });
    if (!payload) return undefined;
    const bound = typeof (payload.cnf as { jkt?: unknown } | undefined)?.jkt === 'string';
    return {
      ...payload,
      client_id: payload.sub,
      clientId: payload.sub,
      token_type: bound ? 'DPoP' : 'Bearer',
    };
  }

  /**
   * Revokes a token: introspection answers `active: false` and userinfo 401 from now on. A JWT
   * still verifies locally against the JWKS, as JWT access tokens do.
   */
  revoke(token: string): void {
    const record = this.opaque.get(hash(token));
    if (record) record.revoked = true;
    else this.revokedJwts.add(hash(token));
  }

  /** Revokes a token this service knows: an opaque one it issued, or an active JWT of its keys. */
  async revokeKnown(token: string): Promise<boolean> {
    if (!this.opaque.has(hash(token)) && !(await this.inspect(token))) return false;
    this.revoke(token);
    return true;
  }

  private opaqueClaims(record: OpaqueRecord): Record<string, unknown> | undefined {
    if (record.revoked || record.exp <= this.context.nowSeconds()) return undefined;
    return {
      sub: record.clientId,
      client_id: record.clientId,
      clientId: record.clientId,
      exp: record.exp,
      iat: record.iat,
      aud: record.audience,
      iss: this.context.issuer,
      token_type: record.jkt === undefined ? 'Bearer' : 'DPoP',
      ...(record.jkt === undefined ? {} : { cnf: { jkt: record.jkt } }),
      ...(record.scope ? { scope: record.scope } : {}),
    };
  }

  private pruneExpired(now: number): void {
    for (const [key, record] of this.opaque) if (record.exp <= now) this.opaque.delete(key);
  }
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

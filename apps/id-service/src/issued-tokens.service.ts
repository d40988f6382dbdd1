import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { SignJWT } from 'jose';
import { IdServiceContext } from './id-service.context.js';
import { SigningKeys } from './signing-keys.service.js';

/** A freshly issued access token. */
export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
}

/** Claims of an active token, as introspection reports them (RFC 7662 §2.2 plus the seed's `clientId`). */
export interface ActiveTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  clientId: string;
  iat: number;
  exp: number;
  scope?: string;
  jti?: string;
  token_type: 'Bearer';
}

interface OpaqueRecord {
  clientId: string;
  scope: string;
  iat: number;
  exp: number;
  revoked: boolean;
}

/**
 * Issues access tokens (opaque or JWT, per client) and answers whether one is active. Tokens are
 * remembered by their SHA-256 only, as a resource server would cache them.
 */
@Injectable()
export class IssuedTokens {
  private readonly opaque = new Map<string, OpaqueRecord>();
  private readonly revokedJwts = new Set<string>();

  constructor(
    private readonly context: IdServiceContext,
    private readonly keys: SigningKeys,
  ) {}

  /** Issues a token for a client with the granted scopes. */
  async issue(clientId: string, scopes: string[]): Promise<IssuedToken> {
    const client = this.context.client(clientId);
    if (!client) throw new Error('unknown client');
    const lifetime = client.lifetimeSeconds ?? 3600;
    const iat = this.context.nowSeconds();
    const exp = iat + lifetime;
    const scope = scopes.join(' ');
    if ((client.tokenFormat ?? 'jwt') === 'opaque') {
      this.pruneExpired(iat);
      const accessToken = randomBytes(32).toString('base64url');
      this.opaque.set(hash(accessToken), { clientId, scope, iat, exp, revoked: false });
      return { accessToken, expiresIn: lifetime };
    }
    const signer = this.keys.signer();
    const rfc9068 = client.jwtProfile === 'rfc9068';
    const accessToken = await new SignJWT({
      ...(scope ? { scope } : {}),
      ...(rfc9068 ? { client_id: clientId, jti: randomUUID() } : {}),
    })
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: rfc9068 ? 'at+jwt' : 'JWT' })
      .setIssuer(this.context.issuer)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setSubject(clientId)
      .setAudience(clientId)
      .sign(signer.privateKey);
    return { accessToken, expiresIn: lifetime };
  }

  /** Claims of a token this service issued that is unexpired and not revoked, else `undefined`. */
  async inspect(token: string): Promise<ActiveTokenClaims | undefined> {
    const now = this.context.nowSeconds();
    const record = this.opaque.get(hash(token));
    if (record) {
      if (record.revoked || record.exp <= now) return undefined;
      return this.claims(record.clientId, record.iat, record.exp, record.scope);
    }
    if (this.revokedJwts.has(hash(token))) return undefined;
    try {
      const payload = await this.keys.verify(token, {
        issuer: this.context.issuer,
        currentDate: this.context.now(),
        clockTolerance: 0,
        requiredClaims: ['exp', 'iat', 'sub'],
      });
      const clientId = String(payload.sub);
      if (!this.context.client(clientId)) return undefined;
      const scope = typeof payload.scope === 'string' ? payload.scope : '';
      const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
      return {
        ...this.claims(clientId, payload.iat!, payload.exp!, scope),
        ...(jti ? { jti } : {}),
      };
    } catch {
      return undefined;
    }
  }

  /** Revokes a token; returns `false` when the service does not know it. */
  async revoke(token: string): Promise<boolean> {
    const record = this.opaque.get(hash(token));
    if (record) {
      record.revoked = true;
      return true;
    }
    if (!(await this.inspect(token))) return false;
    this.revokedJwts.add(hash(token));
    return true;
  }

  private claims(clientId: string, iat: number, exp: number, scope: string): ActiveTokenClaims {
    return {
      iss: this.context.issuer,
      sub: clientId,
      aud: clientId,
      client_id: clientId,
      clientId,
      iat,
      exp,
      ...(scope ? { scope } : {}),
      token_type: 'Bearer',
    };
  }

  private pruneExpired(now: number): void {
    for (const [key, record] of this.opaque) if (record.exp <= now) this.opaque.delete(key);
  }
}

function hash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

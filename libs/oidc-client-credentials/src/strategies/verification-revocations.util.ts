import { hash } from 'node:crypto';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { SharedCache } from '../cache/shared-cache.provider.js';
import type { VerifiedToken } from './verified-token.interface.js';
import { doNotCache, type LocalVerificationResults } from './verification-results.util.js';

/** The channel (`<prefix>:revocations`) on which instances tell each other of revocations. */
const REVOCATIONS = 'revocations';
/** How long a client's "revoked before" time is kept: longer than any client-credentials token lives. */
const REVOKED_CLIENT_TTL_MS = 24 * 60 * 60 * 1000;
const REVOCATION_RECORD_VERSION = 1;

/**
 * The token's digest for revocation records and messages: SHA-256 under a fixed label, the same on
 * every instance and for every profile; the token itself never leaves the process.
 */
export function revocationDigest(token: string): string {
  return hash('sha256', `nest-oidc-client-credentials revoked token.${token}`, 'base64url');
}

/** The client's digest in the key of its shared "revoked before" record. */
function clientDigest(clientId: string): string {
  return hash('sha256', `nest-oidc-client-credentials revoked client.${clientId}`, 'base64url');
}

/** A JWT's `exp` in ms, read without verifying (to bound a revocation record), if it has one. */
function unverifiedExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The refusal of a revoked token (401, `OIDC_CC_TOKEN_INACTIVE`), never cached as negative. */
export function revokedError(): TokenVerificationError {
  return doNotCache(new TokenVerificationError('OIDC_CC_TOKEN_INACTIVE', 'The token was revoked'));
}

/**
 * Revoked tokens and clients of the verification cache: kept in process, dropping the cached
 * results they concern; with a sealed shared cache also written as shared records
 * (`<prefix>:revoked:token:<digest>`, `<prefix>:revoked:client:<digest>`) and announced on
 * `<prefix>:revocations` to the other instances.
 */
export class VerificationRevocations {
  /** Revoked tokens: {@link revocationDigest} → until when (ms), their `exp` where known. */
  private readonly revokedTokens = new Map<string, number>();
  /** Revoked clients: client id → tokens issued before this time (ms) are refused. */
  private readonly revokedClients = new Map<string, number>();

  constructor(
    private readonly results: LocalVerificationResults,
    private readonly ttlMs: number,
    private readonly shared?: SharedCache,
  ) {}

  /** Revokes `token` until its `exp` where known, else for the TTL; shares and announces it. */
  async revoke(token: string): Promise<void> {
    const digest = revocationDigest(token);
    const until = this.revocationEnd(token, digest);
    this.applyTokenRevocation(digest, until);
    const shared = this.shared;
    if (!shared) return;
    const key = shared.key('revoked', 'token', digest);
    const record = { v: REVOCATION_RECORD_VERSION, kind: 'revoked-token', key, until };
    await shared.set(key, record, until - Date.now());
    await shared.publish(REVOCATIONS, { kind: 'token', digest, until });
  }

  /** Revokes every token of `clientId` issued until now; shares and announces it. */
  async revokeClient(clientId: string): Promise<void> {
    const before = Date.now();
    this.applyClientRevocation(clientId, before);
    const shared = this.shared;
    if (!shared) return;
    const key = shared.key('revoked', 'client', clientDigest(clientId));
    const record = { v: REVOCATION_RECORD_VERSION, kind: 'revoked-client', key, clientId, before };
    await shared.set(key, record, REVOKED_CLIENT_TTL_MS);
    await shared.publish(REVOCATIONS, { kind: 'client', clientId, before });
  }

  /** Listens for the revocations of the other instances (with a @keyv/redis store). */
  async subscribe(): Promise<void> {
    await this.shared?.subscribe(REVOCATIONS, (body) => this.onRevocationMessage(body));
  }

  /** The token of `digest` is revoked at `now`. */
  isTokenRevoked(digest: string, now: number): boolean {
    return (this.revokedTokens.get(digest) ?? -Infinity) > now;
  }

  /** Takes in a shared revocation record of the token, if there is one (instances that missed the message). */
  async sharedRevocationCheck(digest: string): Promise<void> {
    const shared = this.shared;
    if (!shared) return;
    const key = shared.key('revoked', 'token', digest);
    const record = await shared.get(key);
    if (
      record?.v === REVOCATION_RECORD_VERSION &&
      record.kind === 'revoked-token' &&
      record.key === key &&
      typeof record.until === 'number'
    ) {
      this.applyTokenRevocation(digest, record.until);
    }
  }

  /**
   * Whether a shared result of `value`'s client may be taken: yes unless the client was revoked
   * (here or in its shared record) and the result cannot show it was issued after that.
   */
  async acceptableAfterClientRevocation(
    shared: SharedCache,
    value: VerifiedToken,
  ): Promise<boolean> {
    const key = shared.key('revoked', 'client', clientDigest(value.clientId));
    const record = await shared.get(key);
    if (
      record?.v === REVOCATION_RECORD_VERSION &&
      record.kind === 'revoked-client' &&
      record.key === key &&
      record.clientId === value.clientId &&
      typeof record.before === 'number'
    ) {
      this.applyClientRevocation(value.clientId, record.before);
    }
    return !this.revokedClients.has(value.clientId) || typeof value.claims.iat === 'number';
  }

  throwIfTokenRevoked(digest: string): void {
    if ((this.revokedTokens.get(digest) ?? -Infinity) > Date.now()) throw revokedError();
  }

  /** Refuses a result of a revoked token, or of a revoked client's token issued before that. */
  refuseIfRevoked(digest: string, value: VerifiedToken): void {
    this.throwIfTokenRevoked(digest);
    const before = this.revokedClients.get(value.clientId);
    const iat = value.claims.iat;
    if (before !== undefined && typeof iat === 'number' && iat * 1000 < before) {
      throw revokedError();
    }
  }

  /** Until when a revocation of `token` lasts: its `exp` where known, else `cacheTtlSeconds`. */
  private revocationEnd(token: string, digest: string): number {
    const now = Date.now();
    let end = unverifiedExpiry(token);
    for (const entry of this.results.positiveEntries()) {
      if (entry.digest === digest && entry.value.expiresAt !== undefined) {
        end = Math.max(end ?? 0, entry.value.expiresAt * 1000);
      }
    }
    return end !== undefined && end > now ? end : now + Math.max(this.ttlMs, 1000);
  }

  private applyTokenRevocation(digest: string, until: number): void {
    if (!(until > Date.now())) return;
    this.revokedTokens.set(digest, Math.max(until, this.revokedTokens.get(digest) ?? 0));
    this.results.dropPositive((entry) => entry.digest === digest);
    this.pruneRevocations();
  }

  private applyClientRevocation(clientId: string, before: number): void {
    if (before <= (this.revokedClients.get(clientId) ?? -Infinity)) return;
    this.revokedClients.set(clientId, before);
    this.results.dropPositive((entry) => entry.value.clientId === clientId);
  }

  /** Revocations announced by other instances (authenticated by the shared cache). */
  private onRevocationMessage(body: Record<string, unknown>): void {
    if (
      body.kind === 'token' &&
      typeof body.digest === 'string' &&
      typeof body.until === 'number'
    ) {
      this.applyTokenRevocation(body.digest, body.until);
    } else if (
      body.kind === 'client' &&
      typeof body.clientId === 'string' &&
      typeof body.before === 'number' &&
      body.before <= Date.now() + 60_000
    ) {
      this.applyClientRevocation(body.clientId, body.before);
    }
  }

  /** Drops token revocations past their end (they are bounded by the tokens' lifetimes). */
  private pruneRevocations(): void {
    if (this.revokedTokens.size < 1024) return;
    const now = Date.now();
    for (const [digest, until] of this.revokedTokens) {
      if (until <= now) this.revokedTokens.delete(digest);
    }
  }
}

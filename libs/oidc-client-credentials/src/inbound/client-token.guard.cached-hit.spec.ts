import { jest } from '@jest/globals';
import { HttpException, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { OidcClientCredentialsEvents } from '../observability/oidc-client-credentials-events.provider.js';
import { resolveOptions } from '../options/resolve-options.util.js';
import type { VerificationOptions } from '../options/oidc-client-credentials-options.interface.js';
import { CachedVerificationStrategy } from '../strategies/cached-verification.strategy.js';
import { VerificationCache } from '../strategies/verification-cache.provider.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { ClientTokenGuard } from './client-token.guard.js';
import { RequireScopes } from './require-scopes.decorator.js';
import { getVerifiedToken } from './verified-tokens.js';

const SECOND = 1000;
const TOKEN = 'opaque-token-0123456789';

class Orders {
  @RequireScopes('orders:read') list(): void {}
  @RequireScopes('orders:write') write(): void {}
}

/** A cached strategy answering `result()` for every token, counting its real verifications. */
class CountingStrategy extends CachedVerificationStrategy {
  calls = 0;
  constructor(
    cache: VerificationCache,
    private readonly result: () => VerifiedToken,
  ) {
    super(cache, 'counting');
  }
  async verifyUncached(): Promise<VerifiedToken> {
    this.calls += 1;
    return this.result();
  }
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function granted(extra: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    clientId: 'billing',
    scopes: ['orders:read'],
    expiresAt: nowSeconds() + 3600,
    claims: Object.freeze(Object.assign(Object.create(null), { sub: 'billing' })) as Record<
      string,
      unknown
    >,
    ...extra,
  };
}

function setup(
  result: () => VerifiedToken = () => granted(),
  verification: VerificationOptions = {},
  Guard: typeof ClientTokenGuard = ClientTokenGuard,
) {
  const options = resolveOptions({
    issuer: 'https://id.example.com',
    verification: { warnOnMissingAudience: false, ...verification },
  });
  const events = new OidcClientCredentialsEvents();
  const cache = new VerificationCache(options, undefined, events);
  const strategy = new CountingStrategy(cache, result);
  const guard = new Guard(strategy, options, new Reflector());
  (guard as unknown as { events: OidcClientCredentialsEvents }).events = events;
  return { guard, strategy, cache, events };
}

function request(handler: () => void, token = TOKEN): ExecutionContext {
  const req = {
    method: 'GET',
    url: '/orders',
    headers: { authorization: `Bearer ${token}` },
    rawHeaders: ['Host', 'api', 'Authorization', `Bearer ${token}`],
  };
  const host = new ExecutionContextHost([req, { header: () => undefined }], Orders, handler);
  host.setType('http');
  return host;
}

const isPromise = (value: unknown): value is Promise<unknown> => value instanceof Promise;

describe('ClientTokenGuard answers a cached result synchronously', () => {
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });
  const advance = (ms: number) => jest.setSystemTime(Date.now() + ms);

  it('a miss is a promise; the next request with the token is `true` itself, with no verification', async () => {
    const { guard, strategy } = setup();
    const first = guard.canActivate(request(Orders.prototype.list));
    expect(isPromise(first)).toBe(true);
    await expect(first).resolves.toBe(true);
    const context = request(Orders.prototype.list);
    expect(guard.canActivate(context)).toBe(true);
    expect(strategy.calls).toBe(1);
    // As on the asynchronous path: the verified token is kept for the request.
    expect(getVerifiedToken(context)).toMatchObject({ clientId: 'billing' });
  });

  it.each([
    [
      'all tokens of the client revoked',
      (cache: VerificationCache) => cache.revokeClient('billing'),
    ],
    ['the token revoked', (cache: VerificationCache) => cache.revoke(TOKEN)],
    ['the cache cleared', (cache: VerificationCache) => Promise.resolve(cache.clear())],
  ])('%s: the cached entry is not served synchronously', async (_case, revoke) => {
    const { guard, cache } = setup();
    await guard.canActivate(request(Orders.prototype.list));
    expect(guard.canActivate(request(Orders.prototype.list))).toBe(true);
    await revoke(cache);
    const next = guard.canActivate(request(Orders.prototype.list));
    expect(isPromise(next)).toBe(true);
    await (next as Promise<boolean>).catch(() => false);
  });

  it('expired: past its exp the entry is not served synchronously, and the token is verified again', async () => {
    const { guard, strategy } = setup(() => granted({ expiresAt: nowSeconds() + 60 }));
    await guard.canActivate(request(Orders.prototype.list));
    advance(59 * SECOND);
    expect(guard.canActivate(request(Orders.prototype.list))).toBe(true);
    advance(2 * SECOND);
    const next = guard.canActivate(request(Orders.prototype.list));
    expect(isPromise(next)).toBe(true);
    await (next as Promise<boolean>).catch(() => false);
    expect(strategy.calls).toBe(2);
  });

  it("a hit the route refuses is a rejected promise with the route's answer (403), not a throw", async () => {
    const { guard } = setup();
    await guard.canActivate(request(Orders.prototype.list));
    const refused = guard.canActivate(request(Orders.prototype.write));
    expect(isPromise(refused)).toBe(true);
    await expect(refused).rejects.toBeInstanceOf(HttpException);
    await expect(refused).rejects.toMatchObject({ status: 403 });
  });

  it('reports a hit as the asynchronous path does: one cache hit, one success', async () => {
    const { guard, events } = setup();
    await guard.canActivate(request(Orders.prototype.list));
    const hits: unknown[] = [];
    const successes: unknown[] = [];
    events.on('verification.cache.hit', (event) => hits.push(event));
    events.on('verification.succeeded', (event) => successes.push(event));
    expect(guard.canActivate(request(Orders.prototype.list))).toBe(true);
    expect(hits).toEqual([{ result: 'positive' }]);
    expect(successes).toEqual([{ clientId: 'billing' }]);
  });

  it.each([
    ['a token bound to a key (cnf)', () => granted({ claims: { cnf: { jkt: 'thumbprint' } } })],
    ['a malformed strategy result', () => ({ clientId: '', scopes: [], claims: {} })],
  ])('%s: never answered synchronously', async (_case, result) => {
    const { guard } = setup(result as () => VerifiedToken);
    await Promise.resolve(guard.canActivate(request(Orders.prototype.list))).catch(() => false);
    const next = guard.canActivate(request(Orders.prototype.list));
    expect(isPromise(next)).toBe(true);
    await (next as Promise<boolean>).catch(() => false);
  });

  it.each([
    ['characters outside b64token', 'abc!def'],
    ['longer than maxTokenLength', 'a'.repeat(101)],
  ])(
    'a token with %s is refused (401) on the asynchronous path, as before',
    async (_case, token) => {
      const { guard, strategy } = setup(undefined, { maxTokenLength: 100 });
      const answer = guard.canActivate(request(Orders.prototype.list, token));
      expect(isPromise(answer)).toBe(true);
      await expect(answer).rejects.toMatchObject({ status: 401 });
      expect(strategy.calls).toBe(0);
    },
  );

  it('a subclass with its own verifyToken step is asked on every request: a promise', async () => {
    class Counting extends ClientTokenGuard {
      steps = 0;
      protected override verifyToken(token: string, strategy = this.strategy) {
        this.steps += 1;
        return super.verifyToken(token, strategy);
      }
    }
    const { guard } = setup(undefined, {}, Counting);
    await guard.canActivate(request(Orders.prototype.list));
    const next = guard.canActivate(request(Orders.prototype.list));
    expect(isPromise(next)).toBe(true);
    await expect(next).resolves.toBe(true);
    expect((guard as Counting).steps).toBe(2);
  });

  it('a subclass with its own authorize step: a hit runs it too', async () => {
    class Tenant extends ClientTokenGuard {
      protected override authorize(token: VerifiedToken, context: ExecutionContext): void {
        super.authorize(token, context);
        throw new HttpException('tenant', 403);
      }
    }
    const { guard } = setup(undefined, {}, Tenant);
    await Promise.resolve(guard.canActivate(request(Orders.prototype.list))).catch(() => false);
    const next = guard.canActivate(request(Orders.prototype.list));
    expect(isPromise(next)).toBe(true);
    await expect(next).rejects.toMatchObject({ status: 403, message: 'tenant' });
  });

  it('with the query enabled too, the full extraction runs on a hit (still synchronous)', async () => {
    const { guard } = setup(undefined, { tokenLocations: ['header', 'query'] });
    await guard.canActivate(request(Orders.prototype.list));
    expect(guard.canActivate(request(Orders.prototype.list))).toBe(true);
  });
});

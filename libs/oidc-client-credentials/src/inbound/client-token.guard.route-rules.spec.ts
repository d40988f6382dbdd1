import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { resolveOptions } from '../options/resolve-options.util.js';
import { TokenVerificationStrategy } from '../strategies/token-verification.strategy.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { AllowClients } from './allow-clients.decorator.js';
import { ClientTokenGuard } from './client-token.guard.js';
import { RequireClaims } from './require-claims.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';
import type { TransportRefusal } from './transports/transport-refusal.interface.js';

class Orders {
  @AllowClients('billing') billingOnly(): void {}
  @RequireScopes.any('orders:read', 'orders:admin') anyScope(): void {}
  @RequireClaims({ tenant: 'acme' }) acmeOnly(): void {}
  @RequireClaims(() => {
    throw new Error('boom');
  })
  broken(): void {}
}

const shipping: VerifiedToken = {
  clientId: 'shipping',
  scopes: ['orders:write'],
  claims: { tenant: 'globex' },
};

/** A strategy answering `token` for every request, as a cache would. */
function guardFor(token: VerifiedToken, reportsScopes?: boolean) {
  const strategy = new (class extends TokenVerificationStrategy {
    override readonly reportsScopes = reportsScopes;
    calls = 0;
    verify = () => {
      this.calls += 1;
      return Promise.resolve(token);
    };
  })();
  const options = resolveOptions({ issuer: 'https://id.example.com' });
  const guard = new ClientTokenGuard(strategy, options, new Reflector());
  const logger = (guard as unknown as { logger: Logger }).logger;
  const error = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
  jest.spyOn(logger, 'debug').mockImplementation(() => undefined);
  return { guard, strategy, error };
}

/** Where each transport carries the token, as Nest passes its handler arguments. */
const TRANSPORT_ARGS: Record<'rpc' | 'graphql' | 'ws', unknown[]> = {
  rpc: [{ authorization: 'Bearer abc' }, {}],
  graphql: [{}, {}, { req: { headers: { authorization: 'Bearer abc' } } }, {}],
  ws: [{ handshake: { headers: { authorization: 'Bearer abc' }, url: '/' } }, {}],
};

async function refusalOf(
  guard: ClientTokenGuard,
  type: keyof typeof TRANSPORT_ARGS,
  handler: () => void,
): Promise<TransportRefusal> {
  const host = new ExecutionContextHost(TRANSPORT_ARGS[type], Orders, handler);
  host.setType(type);
  const error = await Promise.resolve(guard.canActivate(host)).then(
    () => Promise.reject(new Error('the request was let through')),
    (refused: unknown) => refused,
  );
  if (type === 'graphql') {
    // A GraphQL error: the refusal's message, the rest in its extensions (with the HTTP answer).
    const graphqlError = error as { message: string; extensions: Record<string, unknown> };
    const { http: _http, status: _status, ...extensions } = graphqlError.extensions;
    return { status: 'error', message: graphqlError.message, ...extensions } as TransportRefusal;
  }
  return (error as { getError(): TransportRefusal }).getError();
}

describe('route rules on every transport', () => {
  afterEach(() => jest.restoreAllMocks());

  const forbidden = (message: string, scope?: string): TransportRefusal => ({
    status: 'error',
    code: 'FORBIDDEN',
    statusCode: 403,
    error: 'insufficient_scope',
    message,
    ...(scope === undefined ? {} : { scope }),
  });

  describe.each(['rpc', 'graphql', 'ws'] as const)('%s', (type) => {
    it.each<[string, () => void, TransportRefusal]>([
      [
        'allow-clients-other',
        Orders.prototype.billingOnly,
        forbidden('The client is not allowed to call this route'),
      ],
      [
        'scopes-any-none-present',
        Orders.prototype.anyScope,
        forbidden(
          'The access token has none of the scopes this route accepts',
          'orders:read orders:admin',
        ),
      ],
      [
        'claims-other-value',
        Orders.prototype.acmeOnly,
        forbidden('The access token lacks a claim this route requires'),
      ],
      [
        'claims-predicate-throws',
        Orders.prototype.broken,
        forbidden('The access token lacks a claim this route requires'),
      ],
    ])('%s', async (_case, handler, refusal) => {
      const { guard } = guardFor(shipping);
      await expect(refusalOf(guard, type, handler)).resolves.toEqual(refusal);
    });
  });
});

describe('route rules over cached results, and predicates that fail', () => {
  afterEach(() => jest.restoreAllMocks());

  function http(guard: ClientTokenGuard, handler: () => void) {
    const headers: Record<string, string> = {};
    const request = {
      method: 'GET',
      url: '/',
      headers: { authorization: 'Bearer abc' },
      rawHeaders: ['Authorization', 'Bearer abc'],
    };
    const response = { header: (name: string, value: string) => (headers[name] = value) };
    const host = new ExecutionContextHost([request, response], Orders, handler);
    host.setType('http');
    return Promise.resolve(guard.canActivate(host)).then(
      () => ({ status: 200, headers }),
      (error: { getStatus(): number }) => ({ status: error.getStatus(), headers }),
    );
  }

  it('S69 route-rules-each-request: the same verified token is checked against each route', async () => {
    const token: VerifiedToken = {
      clientId: 'billing',
      scopes: ['orders:admin'],
      claims: { tenant: 'globex' },
    };
    const { guard, strategy } = guardFor(token);
    expect((await http(guard, Orders.prototype.billingOnly)).status).toBe(200);
    expect((await http(guard, Orders.prototype.anyScope)).status).toBe(200);
    expect((await http(guard, Orders.prototype.acmeOnly)).status).toBe(403);
    expect((await http(guard, Orders.prototype.billingOnly)).status).toBe(200);
    expect(strategy.calls).toBe(4);
  });

  it('claims-predicate-throws: 403, one error log per route, the exception text not answered', async () => {
    const { guard, error } = guardFor(shipping);
    const answers = [
      await http(guard, Orders.prototype.broken),
      await http(guard, Orders.prototype.broken),
    ];
    expect(answers.map((a) => a.status)).toEqual([403, 403]);
    expect(answers[0].headers['WWW-Authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a claim this route requires"',
    );
    expect(JSON.stringify(answers)).not.toContain('boom');
    expect(error.mock.calls).toEqual([
      [
        'Orders.broken: a @RequireClaims() predicate threw Error: boom; its requests are refused with 403',
      ],
    ]);
  });

  it.each<[string, boolean | undefined, number]>([
    ['scopes-any-unverifiable: a strategy that reports no scopes', false, 403],
    ['scopes-any-verifiable: a strategy that reports scopes', undefined, 200],
  ])('%s', async (_case, reportsScopes, status) => {
    const token: VerifiedToken = { clientId: 'billing', scopes: ['orders:read'], claims: {} };
    const { guard, error } = guardFor(token, reportsScopes);
    const answer = await http(guard, Orders.prototype.anyScope);
    expect(answer.status).toBe(status);
    if (status === 403) {
      expect(answer.headers['WWW-Authenticate']).toBe(
        'Bearer realm="api", error="insufficient_scope", error_description="The route\'s required scopes cannot be checked by its verification strategy", scope="orders:read orders:admin"',
      );
      expect(error).toHaveBeenCalledTimes(1);
    }
  });
});

import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { ClientTokenGuard } from './client-token.guard.js';
import { ConfigurationError } from './errors/configuration.error.js';
import type { VerifiedToken } from './interfaces/verified-token.interface.js';
import { Public } from './public.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';
import { TokenVerificationStrategy } from './strategies/token-verification.strategy.js';
import { resolveOptions } from './utils/resolve-options.util.js';

class CountingStrategy extends TokenVerificationStrategy {
  calls = 0;
  async verify(): Promise<VerifiedToken> {
    this.calls += 1;
    return { clientId: 'billing', scopes: [], claims: {} };
  }
}

class Controller {
  route(): void {}
  @Public()
  open(): void {}
}

function guard(realm?: string) {
  const strategy = new CountingStrategy();
  const options = resolveOptions({ issuer: 'https://id.example.com', verification: { realm } });
  return { strategy, guard: new ClientTokenGuard(strategy, options, new Reflector()) };
}

function context(type: string, handler: () => void) {
  const request = {
    method: 'GET',
    url: '/',
    headers: { authorization: 'Bearer abc' },
    rawHeaders: ['Authorization', 'Bearer abc'],
  };
  const host = new ExecutionContextHost([request, {}, undefined], Controller, handler);
  host.setType(type);
  return host;
}

describe('ClientTokenGuard outside HTTP', () => {
  it.each(['rpc', 'ws', 'graphql'])('S11 denies a %s request without reading it', async (type) => {
    const { guard: g, strategy } = guard();
    await expect(g.canActivate(context(type, Controller.prototype.route))).resolves.toBe(false);
    expect(strategy.calls).toBe(0);
  });

  it('lets a @Public() handler through in any context', async () => {
    const { guard: g } = guard();
    await expect(g.canActivate(context('rpc', Controller.prototype.open))).resolves.toBe(true);
  });

  it('checks an HTTP request with the strategy', async () => {
    const { guard: g, strategy } = guard();
    await expect(g.canActivate(context('http', Controller.prototype.route))).resolves.toBe(true);
    expect(strategy.calls).toBe(1);
  });
});

describe('ClientTokenGuard options', () => {
  it.each(['a"b', 'a\\b', 'a\r\nb', 'caf\u00e9'])(
    'refuses verification.realm %j at startup',
    (realm) => {
      expect(() => guard(realm)).toThrow(ConfigurationError);
      expect(() => guard(realm)).toThrow('verification.realm');
    },
  );
});

describe('@RequireScopes()', () => {
  it.each([[[]], [['']], [['a b']], [['ok', 'a"b']], [['a\\b']]])(
    'refuses %j when the controller is declared',
    (scopes) => {
      expect(() => RequireScopes(...scopes)).toThrow(ConfigurationError);
    },
  );
});

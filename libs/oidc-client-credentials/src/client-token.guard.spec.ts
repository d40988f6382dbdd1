import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { ClientTokenGuard } from './client-token.guard.js';
import { ConfigurationError } from './errors/configuration.error.js';
import type { VerifiedToken } from './interfaces/verified-token.interface.js';
import { Public } from './public.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';
import { TokenVerificationStrategy } from './strategies/token-verification.strategy.js';
import { resolveOptions } from './utils/resolve-options.util.js';
import { VerifyWith } from './verify-with.decorator.js';

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
  it.each(['kafka-stream', 'custom'])(
    'S11 denies a %j context it cannot read, without a strategy call',
    async (type) => {
      const { guard: g, strategy } = guard();
      await expect(g.canActivate(context(type, Controller.prototype.route))).resolves.toBe(false);
      expect(strategy.calls).toBe(0);
    },
  );

  it('lets a @Public() handler through in any context', async () => {
    const { guard: g } = guard();
    await expect(g.canActivate(context('rpc', Controller.prototype.open))).resolves.toBe(true);
  });

  it('checks an HTTP request with the strategy', async () => {
    const { guard: g, strategy } = guard();
    await expect(g.canActivate(context('http', Controller.prototype.route))).resolves.toBe(true);
    expect(strategy.calls).toBe(1);
  });

  it.each([
    ['rpc', [{ authorization: 'Bearer abc' }, {}]],
    ['graphql', [{}, {}, { req: { headers: { authorization: 'Bearer abc' } } }, {}]],
    ['ws', [{ handshake: { headers: { authorization: 'Bearer abc' }, url: '/' } }, {}]],
  ])('S11 reads a %s request where its transport carries the token', async (type, args) => {
    const { guard: g, strategy } = guard();
    const host = new ExecutionContextHost(args, Controller, Controller.prototype.route);
    host.setType(type);
    await expect(g.canActivate(host)).resolves.toBe(true);
    expect(strategy.calls).toBe(1);
  });

  it.each([
    ['rpc', [{ authorization: 'Basic abc' }, {}]],
    ['graphql', [{}, {}, {}, {}]],
    ['ws', [{}, {}]],
  ])('S11 refuses a %s request without a token, without a strategy call', async (type, args) => {
    const { guard: g, strategy } = guard();
    const host = new ExecutionContextHost(args, Controller, Controller.prototype.route);
    host.setType(type);
    await expect(g.canActivate(host)).rejects.toMatchObject({ message: 'Bearer token required' });
    expect(strategy.calls).toBe(0);
  });
});

describe('@VerifyWith()', () => {
  class Named extends TokenVerificationStrategy {
    async verify(): Promise<VerifiedToken> {
      return { clientId: 'named', scopes: [], claims: {} };
    }
  }

  @VerifyWith('jwt')
  class Routes {
    byController(): void {}
    @VerifyWith(Named)
    byHandler(): void {}
  }

  it.each([['jwtt'], [''], [undefined], [null], [42], [() => undefined]])(
    'refuses %p when the route is declared',
    (choice) => {
      expect(() => VerifyWith(choice as never)).toThrow(ConfigurationError);
      expect(() => VerifyWith(choice as never)).toThrow('@VerifyWith()');
    },
  );

  it("uses the handler's choice over its controller's, each resolved once per route", () => {
    const { guard: g } = guard();
    const chosen: unknown[] = [];
    const jwt = new Named();
    const named = new Named();
    Object.assign(g, {
      strategies: {
        get: (choice: unknown) => (chosen.push(choice), choice === 'jwt' ? jwt : named),
      },
    });
    const at = (handler: () => void) => new ExecutionContextHost([], Routes, handler);
    const exposed = g as unknown as { strategyFor(c: ExecutionContextHost): unknown };
    expect(exposed.strategyFor(at(Routes.prototype.byController))).toBe(jwt);
    expect(exposed.strategyFor(at(Routes.prototype.byHandler))).toBe(named);
    expect(exposed.strategyFor(at(Routes.prototype.byHandler))).toBe(named);
    expect(chosen).toEqual(['jwt', Named]);
  });

  it("keeps the module's strategy on routes without a choice", () => {
    const { guard: g, strategy } = guard();
    const exposed = g as unknown as { strategyFor(c: ExecutionContextHost): unknown };
    const host = new ExecutionContextHost([], Controller, Controller.prototype.route);
    expect(exposed.strategyFor(host)).toBe(strategy);
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

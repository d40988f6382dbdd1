import { jest } from '@jest/globals';
import { Metadata } from '@grpc/grpc-js';
import { Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { RpcException } from '@nestjs/microservices';
import { ClientTokenGuard } from './client-token.guard.js';
import { getVerifiedToken, requireVerifiedToken } from './verified-tokens.js';
import { ConfigurationError } from '../errors/configuration.error.js';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../errors/validator-unavailable.error.js';
import type { VerifiedToken } from '../strategies/verified-token.interface.js';
import { Public } from './public.decorator.js';
import { RequireScopes } from './require-scopes.decorator.js';
import { TokenVerificationStrategy } from '../strategies/token-verification.strategy.js';
import { resolveOptions } from '../options/resolve-options.util.js';
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

function loggerOf(g: ClientTokenGuard): Logger {
  return (g as unknown as { logger: Logger }).logger;
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

describe('ClientTokenGuard at startup', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([
    ['no-audience', { strategy: 'auto' }, 1],
    ['no-audience-jwt', { strategy: 'jwt' }, 1],
    ['audience-set', { audience: 'orders-api' }, 0],
    ['opted-out', { warnOnMissingAudience: false }, 0],
    ['userinfo-cannot-check-aud', { strategy: 'userinfo' }, 0],
  ] as const)(
    '%s: warns about a missing verification.audience once per app, however many guards',
    (_case, verification, warnings) => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const options = resolveOptions({ issuer: 'https://id.example.com', verification });
      const strategy = new CountingStrategy();
      new ClientTokenGuard(strategy, options, new Reflector());
      new ClientTokenGuard(strategy, options, new Reflector());
      const audienceWarnings = warn.mock.calls.filter(([message]) =>
        String(message).startsWith('verification.audience is not set'),
      );
      expect(audienceWarnings).toHaveLength(warnings);
    },
  );
});

describe('ClientTokenGuard outside HTTP', () => {
  it.each(['kafka-stream', 'custom', 'constructor', 'toString', '__proto__'])(
    'S11 denies a %j context it cannot read, without a strategy call',
    async (type) => {
      const { guard: g, strategy } = guard();
      await expect(g.canActivate(context(type, Controller.prototype.route))).resolves.toBe(false);
      expect(strategy.calls).toBe(0);
    },
  );

  it('S11 warns once per context type it denies, naming the supported ones', async () => {
    const { guard: g } = guard();
    const warn = jest.spyOn(loggerOf(g), 'warn').mockImplementation(() => undefined);
    for (const type of ['custom', 'custom', 'kafka-stream']) {
      await g.canActivate(context(type, Controller.prototype.route));
    }
    expect(warn.mock.calls).toEqual([
      ['ClientTokenGuard denies "custom" requests: only http, graphql, rpc and ws are supported'],
      [
        'ClientTokenGuard denies "kafka-stream" requests: only http, graphql, rpc and ws are supported',
      ],
    ]);
  });

  it('S11 refuses WebSocket messages of a client without a handshake, warning once', async () => {
    const { guard: g, strategy } = guard();
    const warn = jest.spyOn(loggerOf(g), 'warn').mockImplementation(() => undefined);
    for (let i = 0; i < 2; i += 1) {
      const host = new ExecutionContextHost([{}, {}], Controller, Controller.prototype.route);
      host.setType('ws');
      await expect(g.canActivate(host)).rejects.toMatchObject({
        error: { code: 'UNAUTHENTICATED', message: 'Bearer token required' },
      });
    }
    expect(strategy.calls).toBe(0);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('attachHandshake(client, request)');
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

describe('where the verified token is kept', () => {
  class Gateway {
    whoami(): void {}
    orders(): void {}
    @Public()
    open(): void {}
  }
  const wsContext = (client: object, handler: () => void) => {
    const host = new ExecutionContextHost([client, {}], Gateway, handler);
    host.setType('ws');
    return host;
  };

  it('HTTP: for the request, read by the request or by the context', async () => {
    const { guard: g } = guard();
    const host = context('http', Controller.prototype.route);
    await g.canActivate(host);
    const request = host.switchToHttp().getRequest<object>();
    expect(getVerifiedToken(request)).toMatchObject({ clientId: 'billing' });
    expect(getVerifiedToken(host)).toBe(getVerifiedToken(request));
    expect(requireVerifiedToken(host, '@ClientId()')).toBe(getVerifiedToken(request));
  });

  it('WebSocket: per handler of a connection, so interleaved messages each find theirs', async () => {
    const { guard: g } = guard();
    const client = { handshake: { headers: { authorization: 'Bearer abc' }, url: '/' } };
    const whoami = wsContext(client, Gateway.prototype.whoami);
    const orders = wsContext(client, Gateway.prototype.orders);
    await g.canActivate(whoami);
    await g.canActivate(orders);
    expect(requireVerifiedToken(whoami, '@ClientId()')).toMatchObject({ clientId: 'billing' });
    expect(requireVerifiedToken(orders, '@ClientId()')).toMatchObject({ clientId: 'billing' });
  });

  it('WebSocket: nothing for a handler the guard did not check, nor by the client alone', async () => {
    const { guard: g } = guard();
    const client = { handshake: { headers: { authorization: 'Bearer abc' }, url: '/' } };
    await g.canActivate(wsContext(client, Gateway.prototype.whoami));
    const open = wsContext(client, Gateway.prototype.open);
    await expect(g.canActivate(open)).resolves.toBe(true);
    expect(getVerifiedToken(open)).toBeUndefined();
    expect(() => requireVerifiedToken(open, '@ClientId()')).toThrow(
      expect.objectContaining({ code: 'OIDC_CC_VERIFIED_TOKEN_MISSING' }),
    );
    expect(getVerifiedToken(client)).toBeUndefined();
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

describe('ClientTokenGuard on a route whose strategy reports no scopes', () => {
  class Orders {
    @RequireScopes('orders:read')
    list(): void {}
    whoami(): void {}
  }

  afterEach(() => jest.restoreAllMocks());

  const grantedAll = async (): Promise<VerifiedToken> => ({
    clientId: 'billing',
    scopes: ['orders:read'],
    claims: {},
  });

  function check(reportsScopes: boolean | undefined, handler: () => void) {
    const strategy = new (class extends TokenVerificationStrategy {
      override readonly reportsScopes = reportsScopes;
      verify = grantedAll;
    })();
    const options = resolveOptions({ issuer: 'https://id.example.com' });
    const g = new ClientTokenGuard(strategy, options, new Reflector());
    const error = jest.spyOn(loggerOf(g), 'error').mockImplementation(() => undefined);
    const response = { headers: {} as Record<string, string> };
    const request = {
      method: 'GET',
      url: '/orders',
      headers: { authorization: 'Bearer abc' },
      rawHeaders: ['Authorization', 'Bearer abc'],
    };
    const run = () => {
      const host = new ExecutionContextHost(
        [request, { header: (n: string, v: string) => (response.headers[n] = v) }],
        Orders,
        handler,
      );
      host.setType('http');
      return Promise.resolve(g.canActivate(host)).then(
        () => 200,
        (e: { getStatus(): number }) => e.getStatus(),
      );
    };
    return { run, error, response };
  }

  it.each([
    ['userinfo-like strategy, route with scopes', false, Orders.prototype.list, 403],
    ['userinfo-like strategy, route without scopes', false, Orders.prototype.whoami, 200],
    ['strategy that reports scopes', true, Orders.prototype.list, 200],
    ['strategy that does not say (a plain verify)', undefined, Orders.prototype.list, 200],
  ] as const)('%s: %s', async (_case, reportsScopes, handler, status) => {
    const { run } = check(reportsScopes, handler);
    await expect(run()).resolves.toBe(status);
  });

  it('answers 403 insufficient_scope naming the scopes, and logs the route once', async () => {
    const { run, error, response } = check(false, Orders.prototype.list);
    await run();
    await run();
    expect(response.headers['WWW-Authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", error_description="The route\'s required scopes cannot be checked by its verification strategy", scope="orders:read"',
    );
    expect(error.mock.calls).toEqual([
      [
        "Orders.list requires the scopes orders:read, but its verification strategy (userinfo) reports no scopes: every request is refused with 403. Verify this route with 'jwt' or 'introspection' (@VerifyWith()), or remove @RequireScopes().",
      ],
    ]);
  });
});

describe('ClientTokenGuard on gRPC calls', () => {
  class Orders {
    @RequireScopes('orders:read')
    list(): void {}
  }

  const token = (scopes: string[]): VerifiedToken => ({ clientId: 'billing', scopes, claims: {} });

  function refusalOf(verify: () => Promise<VerifiedToken>, request: object, metadata: object) {
    const strategy = new (class extends TokenVerificationStrategy {
      verify = verify;
    })();
    const options = resolveOptions({
      issuer: 'https://id.example.com',
      verification: { realm: 'orders', retryAfterSeconds: 7 },
    });
    const g = new ClientTokenGuard(strategy, options, new Reflector());
    // Nest's arguments of a gRPC handler: the request message, the call's metadata, the call.
    const host = new ExecutionContextHost([request, metadata, {}], Orders, Orders.prototype.list);
    host.setType('rpc');
    return Promise.resolve(g.canActivate(host)).then(
      () => Promise.reject(new Error('the call was let through')),
      (error: unknown) => error,
    );
  }

  const bearer = (value = 'Bearer abc') => {
    const metadata = new Metadata();
    metadata.set('authorization', value);
    return metadata;
  };

  it.each<[string, number, () => Promise<VerifiedToken>, object, Metadata, string, string]>([
    [
      'no token',
      16,
      async () => token(['orders:read']),
      {},
      new Metadata(),
      'Bearer token required',
      'www-authenticate: Bearer realm="orders"',
    ],
    [
      'an invalid token',
      16,
      () => Promise.reject(new TokenVerificationError('OIDC_CC_TOKEN_INVALID', 'bad signature')),
      {},
      bearer(),
      'The access token is invalid',
      'www-authenticate: Bearer realm="orders", error="invalid_token", error_description="The access token is invalid"',
    ],
    [
      'a missing scope',
      7,
      async () => token(['orders:write']),
      {},
      bearer(),
      'The access token lacks a required scope',
      'www-authenticate: Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks a required scope", scope="orders:read"',
    ],
    [
      'a token in the metadata and the request message',
      3,
      async () => token(['orders:read']),
      { authorization: 'Bearer abc' },
      bearer(),
      'Malformed bearer token request',
      'www-authenticate: Bearer realm="orders", error="invalid_request", error_description="Malformed bearer token request"',
    ],
    [
      'the ID service down',
      14,
      () => Promise.reject(new ValidatorUnavailableError('OIDC_CC_JWKS_UNAVAILABLE', 'down')),
      {},
      bearer(),
      'Token verification is temporarily unavailable',
      'retry-after: 7',
    ],
  ])(
    '%s: an RpcException that @grpc/grpc-js sends as status %i, with details and trailers',
    async (_name, code, verify, request, metadata, details, trailer) => {
      const error = await refusalOf(verify, request, metadata);
      expect(error).toBeInstanceOf(RpcException);
      const sent = (error as RpcException).getError() as {
        code: unknown;
        details: unknown;
        metadata: Metadata;
        refusal: { message: string };
      };
      expect([sent.code, sent.details]).toEqual([code, details]);
      expect(sent.metadata).toBeInstanceOf(Metadata);
      const trailers = Object.entries(sent.metadata.getMap()).map(([k, v]) => `${k}: ${v}`);
      expect(trailers).toEqual([trailer]);
      expect(sent.refusal).toMatchObject({ status: 'error', message: details });
    },
  );

  it('a message without gRPC metadata keeps the refusal as its RpcException payload', async () => {
    const error = await refusalOf(async () => token([]), { authorization: 'Bearer abc' }, {});
    expect((error as RpcException).getError()).toEqual({
      status: 'error',
      code: 'FORBIDDEN',
      statusCode: 403,
      error: 'insufficient_scope',
      message: 'The access token lacks a required scope',
      scope: 'orders:read',
    });
  });
});

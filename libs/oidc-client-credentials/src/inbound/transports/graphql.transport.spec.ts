import { jest } from '@jest/globals';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { GraphqlRefusalError } from './graphql-refusal.error.js';
import { graphqlRequest, graphqlTransport } from './graphql.transport.js';
import type { Refusal } from './transport-adapter.interface.js';

function host(type: string, args: unknown[]): ExecutionContextHost {
  const context = new ExecutionContextHost(args);
  context.setType(type);
  return context;
}

/** A resolver's execution context: `[root, args, context, info]`. */
const resolverWith = (gqlContext: unknown) => host('graphql', [{}, {}, gqlContext, {}]);

const BEARER = 'Bearer abc';
const httpRequest = () => ({
  method: 'POST',
  url: '/graphql',
  headers: { authorization: BEARER },
  rawHeaders: ['Authorization', BEARER],
});
/** The context graphql-ws hands its hooks; @nestjs/apollo puts it in `req` for an operation over it. */
const graphqlWsContext = (connectionParams?: unknown) => ({
  connectionInitReceived: true,
  acknowledged: true,
  subscriptions: {},
  extra: { socket: {}, request: {} },
  connectionParams,
});
/** Mercurius' subscription request: `headers` holds the `connection_init` payload. */
const mercuriusUpgrade = (headers: Record<string, unknown>) => ({
  ws: true,
  raw: { rawHeaders: [] },
  headers: { upgrade: 'websocket', ...headers },
});

const REFUSAL: Refusal = {
  answer: { status: 401, error: 'invalid_token', description: 'The access token is invalid' },
  header: ['WWW-Authenticate', 'Bearer realm="api", error="invalid_token"'],
  payload: {
    status: 'error',
    code: 'UNAUTHENTICATED',
    statusCode: 401,
    error: 'invalid_token',
    message: 'The access token is invalid',
  },
};

describe('graphqlRequest', () => {
  it.each([
    ['Apollo (req)', { req: { id: 'apollo' } }, 'apollo'],
    ['Mercurius (reply.request)', { reply: { request: { id: 'mercurius' } } }, 'mercurius'],
  ])('finds the HTTP request of %s', (_name, gqlContext, id) => {
    expect(graphqlRequest(host('graphql', [{}, {}, gqlContext, {}]))).toEqual({ id });
  });

  it.each([[undefined], [{}], [{ req: 'x' }]])('none in %p', (gqlContext) => {
    expect(graphqlRequest(host('graphql', [{}, {}, gqlContext, {}]))).toBeUndefined();
  });
});

describe('graphqlTransport', () => {
  describe('where the token is, and what the verified token is kept for', () => {
    it.each<[string, (request: object) => object]>([
      ['Apollo over HTTP (req)', (req) => ({ req })],
      ['Mercurius over HTTP (req and reply)', (req) => ({ req, reply: { request: req } })],
    ])('%s: the HTTP request, kept for the request', (_name, gqlContextOf) => {
      const request = httpRequest();
      const context = resolverWith(gqlContextOf(request));
      expect(graphqlTransport.bearerParts(context)?.authorization).toEqual([BEARER]);
      expect(graphqlTransport.carrier(context)).toBe(request);
    });

    it.each<[string, (authorization: unknown) => object]>([
      [
        'graphql-ws (connectionParams, in req)',
        (authorization) => ({ req: graphqlWsContext({ authorization }) }),
      ],
      [
        'Mercurius subscription (the payload in reply.request.headers)',
        (authorization) => ({ reply: { request: mercuriusUpgrade({ authorization }) } }),
      ],
      [
        'an upgrade request in req',
        (authorization) => ({ req: { headers: { upgrade: 'WebSocket', authorization } } }),
      ],
    ])(
      "%s: the connection's authorization, kept for the operation, not the connection",
      (_name, gqlContextOf) => {
        const gqlContext = gqlContextOf(BEARER);
        const context = resolverWith(gqlContext);
        expect(graphqlTransport.bearerParts(context)).toEqual({
          method: 'MESSAGE',
          authorization: [BEARER],
          url: '',
        });
        expect(graphqlTransport.carrier(context)).toBe(gqlContext);
      },
    );

    it.each<[string, unknown, readonly string[]]>([
      ['no payload', undefined, []],
      ['no authorization', { other: 'x' }, []],
      ['an array payload', [BEARER], []],
      ['sent twice (any case)', { authorization: BEARER, Authorization: BEARER }, [BEARER, BEARER]],
    ])('graphql-ws with %s', (_name, connectionParams, lines) => {
      const context = resolverWith({ req: graphqlWsContext(connectionParams) });
      expect(graphqlTransport.bearerParts(context)?.authorization).toEqual(lines);
    });

    it('a payload authorization that is not a string is malformed (400)', () => {
      const context = resolverWith({ req: graphqlWsContext({ authorization: 42 }) });
      expect(() => graphqlTransport.bearerParts(context)).toThrow(
        expect.objectContaining({ code: 'OIDC_CC_BEARER_REQUEST_INVALID' }),
      );
    });

    it('nothing to read without a request: refused as without a token, kept for the context', () => {
      const gqlContext = {};
      const context = resolverWith(gqlContext);
      expect(graphqlTransport.bearerParts(context)).toBeUndefined();
      expect(graphqlTransport.carrier(context)).toBe(gqlContext);
      expect(graphqlTransport.carrier(resolverWith(undefined))).toBeUndefined();
    });
  });

  describe('a refusal', () => {
    it('Apollo over HTTP: the status and challenge in extensions.http, for Apollo Server', () => {
      const error = graphqlTransport.refuse(REFUSAL, resolverWith({ req: httpRequest() }));
      expect(error).toBeInstanceOf(GraphqlRefusalError);
      expect((error as GraphqlRefusalError).extensions).toEqual({
        code: 'UNAUTHENTICATED',
        statusCode: 401,
        error: 'invalid_token',
        http: { status: 401, headers: new Map([REFUSAL.header]) },
      });
      expect(error.message).toBe('The access token is invalid');
    });

    it("Mercurius over HTTP: the challenge set on the reply, the status as the error's statusCode", () => {
      const header = jest.fn();
      const request = httpRequest();
      const context = resolverWith({ req: request, reply: { request, header } });
      const error = graphqlTransport.refuse(REFUSAL, context) as GraphqlRefusalError;
      expect(header).toHaveBeenCalledWith(...REFUSAL.header);
      expect(error.extensions).toEqual({
        code: 'UNAUTHENTICATED',
        statusCode: 401,
        error: 'invalid_token',
      });
      expect(error.statusCode).toBe(401);
    });

    it.each<[string, object | undefined]>([
      ['graphql-ws', { req: graphqlWsContext({ authorization: BEARER }) }],
      ['a Mercurius subscription', { reply: { request: mercuriusUpgrade({}) } }],
      ['no context', undefined],
    ])('%s: no HTTP response, so no extensions.http', (_name, gqlContext) => {
      const error = graphqlTransport.refuse(
        REFUSAL,
        gqlContext === undefined ? undefined : resolverWith(gqlContext),
      ) as GraphqlRefusalError;
      expect(error.extensions).not.toHaveProperty('http');
      expect(error.extensions.code).toBe('UNAUTHENTICATED');
    });
  });
});

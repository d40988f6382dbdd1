import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { TokenVerificationError } from '../../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../../errors/validator-unavailable.error.js';
import { OidcClientCredentialsEvents } from '../../observability/oidc-client-credentials-events.provider.js';
import type { VerificationOptions } from '../../options/oidc-client-credentials-options.interface.js';
import { resolveOptions } from '../../options/resolve-options.util.js';
import { TokenVerificationStrategy } from '../../strategies/token-verification.strategy.js';
import type { VerifiedToken } from '../../strategies/verified-token.interface.js';
import {
  GraphqlWsAuthentication,
  type GraphqlWsConnection,
} from './graphql-ws-authentication.provider.js';

const NOW = new Date('2030-01-01T00:00:00Z');
const NOW_SECONDS = NOW.getTime() / 1000;
const TOLERANCE_SECONDS = 30;
const OPEN = 1;

/** A strategy answering with `result` (or throwing it), recording the tokens it was asked about. */
class ScriptedStrategy extends TokenVerificationStrategy {
  readonly tokens: string[] = [];
  constructor(private readonly result: () => unknown) {
    super();
  }
  async verify(token: string): Promise<VerifiedToken> {
    this.tokens.push(token);
    return this.result() as VerifiedToken;
  }
}

const billing = (extra: Partial<VerifiedToken> = {}): VerifiedToken => ({
  clientId: 'billing',
  subject: 'billing',
  scopes: [],
  expiresAt: NOW_SECONDS + 60,
  claims: {},
  ...extra,
});

function setup(result: () => unknown, verification: VerificationOptions = {}) {
  const strategy = new ScriptedStrategy(result);
  const options = resolveOptions({ issuer: 'https://id.example.com', verification });
  const events = new OidcClientCredentialsEvents();
  const seen: string[] = [];
  events.on('verification.succeeded', ({ clientId }) => seen.push(`succeeded:${clientId}`));
  events.on('verification.failed', ({ code, status }) => seen.push(`failed:${status}:${code}`));
  return {
    strategy,
    events: seen,
    connections: new GraphqlWsAuthentication(strategy, options, events),
  };
}

/** graphql-ws' context of a connection over `ws`, with a socket that records its closing. */
function graphqlWs(connectionParams?: Record<string, unknown>, readyState = OPEN) {
  const close = jest.fn<(code: number, reason: string) => void>();
  const connection: GraphqlWsConnection = {
    connectionParams,
    extra: { socket: { close, readyState }, request: {} },
  };
  return { connection, close };
}

describe('GraphqlWsAuthentication', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: NOW });
  });
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it.each<[string, GraphqlWsConnection]>([
    ['graphql-ws (connectionParams)', graphqlWs({ authorization: 'Bearer abc' }).connection],
    ['Mercurius (the connection_init message)', { payload: { authorization: 'Bearer abc' } }],
    ['any case of the name', graphqlWs({ Authorization: 'Bearer abc' }).connection],
  ])('%s: accepts the payload token and reports it', async (_name, connection) => {
    const { strategy, events, connections } = setup(() => billing());
    await expect(connections.onConnect(connection)).resolves.toBe(true);
    expect(strategy.tokens).toEqual(['abc']);
    expect(events).toEqual(['succeeded:billing']);
  });

  it.each<
    [string, Record<string, unknown> | undefined, () => unknown, VerificationOptions, string]
  >([
    ['S11 no token', {}, () => billing(), {}, 'failed:401:OIDC_CC_TOKEN_MISSING'],
    ['no payload', undefined, () => billing(), {}, 'failed:401:OIDC_CC_TOKEN_MISSING'],
    [
      'another scheme',
      { authorization: 'Basic YTpi' },
      () => billing(),
      {},
      'failed:401:OIDC_CC_TOKEN_MISSING',
    ],
    [
      'sent twice',
      { authorization: 'Bearer abc', Authorization: 'Bearer abc' },
      () => billing(),
      {},
      'failed:400:OIDC_CC_BEARER_REQUEST_INVALID',
    ],
    [
      'not a string',
      { authorization: 42 },
      () => billing(),
      {},
      'failed:400:OIDC_CC_BEARER_REQUEST_INVALID',
    ],
    [
      'invalid-signature',
      { authorization: 'Bearer abc' },
      () => {
        throw new TokenVerificationError('OIDC_CC_TOKEN_INVALID', 'bad signature');
      },
      {},
      'failed:401:OIDC_CC_TOKEN_INVALID',
    ],
    [
      'expired (a stale result)',
      { authorization: 'Bearer abc' },
      () => billing({ expiresAt: NOW_SECONDS - TOLERANCE_SECONDS - 1 }),
      {},
      'failed:401:OIDC_CC_TOKEN_EXPIRED',
    ],
    [
      'client-not-allowed',
      { authorization: 'Bearer abc' },
      () => billing(),
      { allowedClientIds: ['shipping'] },
      'failed:403:OIDC_CC_CLIENT_NOT_ALLOWED',
    ],
    [
      'sub-is-not-the-client',
      { authorization: 'Bearer abc' },
      () => billing({ subject: 'someone-else' }),
      { requireSubjectIsClient: true },
      'failed:401:OIDC_CC_TOKEN_INVALID',
    ],
  ])(
    '%s: refused (graphql-ws closes with 4403), reported, no timer',
    async (_name, params, result, verification, reported) => {
      const { events, connections } = setup(result, verification);
      const { connection, close } = graphqlWs(params);
      await expect(connections.onConnect(connection)).resolves.toBe(false);
      expect(close).not.toHaveBeenCalled();
      expect(events).toEqual([reported]);
      expect(jest.getTimerCount()).toBe(0);
    },
  );

  it.each<[string, () => unknown, string]>([
    [
      'ID service down',
      () => {
        throw new ValidatorUnavailableError('OIDC_CC_INTROSPECTION_UNAVAILABLE', 'down');
      },
      'failed:503:OIDC_CC_INTROSPECTION_UNAVAILABLE',
    ],
    [
      'a strategy bug',
      () => {
        throw new Error('boom Bearer abc');
      },
      'failed:503:UNEXPECTED_ERROR',
    ],
    ['a malformed strategy result', () => ({ clientId: 'billing' }), 'failed:503:UNEXPECTED_ERROR'],
  ])('%s: closed with 1013 Try Again Later, never thrown', async (_name, result, reported) => {
    const logged: string[] = [];
    for (const level of ['error', 'warn'] as const) {
      jest.spyOn(Logger.prototype, level).mockImplementation((message: unknown) => {
        logged.push(String(message));
      });
    }
    const { events, connections } = setup(result);
    const { connection, close } = graphqlWs({ authorization: 'Bearer abc' });
    await expect(connections.onConnect(connection)).resolves.toBe(false);
    expect(close).toHaveBeenCalledWith(1013, 'Try again later');
    expect(events).toEqual([reported]);
    expect(logged).toHaveLength(1);
    expect(logged.join()).not.toContain('abc');
  });

  describe('when the token expires', () => {
    it('closes the socket with 4403 "Token expired" at exp plus the clock tolerance', async () => {
      const { connections } = setup(() => billing({ expiresAt: NOW_SECONDS + 60 }));
      const { connection, close } = graphqlWs({ authorization: 'Bearer abc' });
      await connections.onConnect(connection);
      await jest.advanceTimersByTimeAsync((60 + TOLERANCE_SECONDS) * 1000 - 1);
      expect(close).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      expect(close).toHaveBeenCalledWith(4403, 'Token expired');
      expect(close).toHaveBeenCalledTimes(1);
    });

    it('a lifetime beyond what setTimeout can wait: re-armed, closed at the right time', async () => {
      const lifetime = 40 * 24 * 3600;
      const { connections } = setup(() => billing({ expiresAt: NOW_SECONDS + lifetime }));
      const { connection, close } = graphqlWs({ authorization: 'Bearer abc' });
      await connections.onConnect(connection);
      await jest.advanceTimersByTimeAsync(2 ** 31);
      expect(close).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync((lifetime + TOLERANCE_SECONDS) * 1000 - 2 ** 31);
      expect(close).toHaveBeenCalledWith(4403, 'Token expired');
    });

    it('onClose forgets the connection: nothing is closed later', async () => {
      const { connections } = setup(() => billing());
      const { connection, close } = graphqlWs({ authorization: 'Bearer abc' });
      await connections.onConnect(connection);
      expect(jest.getTimerCount()).toBe(1);
      connections.onClose(connection);
      expect(jest.getTimerCount()).toBe(0);
      await jest.advanceTimersByTimeAsync(3600 * 1000);
      expect(close).not.toHaveBeenCalled();
    });

    it.each<[string, () => unknown, number]>([
      ['no expiry known', () => billing({ expiresAt: undefined }), OPEN],
      ['the socket closed while the token was checked', () => billing(), 3],
    ])('%s: no timer', async (_name, result, readyState) => {
      const { connections } = setup(result);
      const { connection } = graphqlWs({ authorization: 'Bearer abc' }, readyState);
      await expect(connections.onConnect(connection)).resolves.toBe(true);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('Mercurius gives no socket: accepted, nothing to close', async () => {
      const { connections } = setup(() => billing());
      await expect(
        connections.onConnect({ payload: { authorization: 'Bearer abc' } }),
      ).resolves.toBe(true);
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});

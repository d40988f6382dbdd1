import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import {
  TokenProvider,
  type OidcClientCredentialsModuleOptions,
} from 'nest-oidc-client-credentials';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { IssuerMetadataProvider } from '../idp/issuer-metadata.provider.js';
import { resolveOptions } from '../options/resolve-options.util.js';
import { REFUSAL_COOLDOWN_MS } from './token.provider.js';

// S79: an access_token is 1*VSCHAR (%x20-7E, RFC 6749 Appendix A.12). Anything else would be sent
// on in Authorization headers, so it is a malformed token response: refused, not retried, not cached.

const SECRET = 'access-token-spec-secret';
const PREFIX = 'tok-7c2e91';

describe('TokenProvider refuses an access_token outside RFC 6749 VSCHAR', () => {
  let idp: FakeIdService;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    idp = await FakeIdService.start({ clients: { 'test-client': { secret: SECRET } } });
  });
  afterAll(async () => {
    Logger.overrideLogger(new Logger());
    await idp.close();
  });
  afterEach(() => {
    jest.useRealTimers();
    idp.reset();
  });

  function provider(options: Partial<OidcClientCredentialsModuleOptions> = {}): TokenProvider {
    const resolved = resolveOptions({
      issuer: idp.issuer,
      endpoints: { token: idp.url(PATHS.token) },
      clientId: 'test-client',
      clientSecret: SECRET,
      // Three attempts allowed: a refusal must still make one request only.
      retry: { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2 },
      ...options,
    });
    return new TokenProvider(resolved, new IssuerMetadataProvider(resolved));
  }
  const answerToken = (accessToken: string) =>
    idp.on(PATHS.token, () => ({
      body: { access_token: accessToken, token_type: 'Bearer', expires_in: 3600 },
    }));
  const tokenRequests = () => idp.requestsTo(PATHS.token).length;

  it.each<[string, string, string]>([
    [
      'S79 CR LF',
      `${PREFIX}\r\nSet-Cookie: a=b`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 LF',
      `${PREFIX}\nx`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 NUL',
      `${PREFIX}\u0000x`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 TAB',
      `${PREFIX}\tx`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 DEL',
      `${PREFIX}\u007fx`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 non-ASCII',
      `${PREFIX}é`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 non-ASCII lookalike of a space (U+00A0)',
      `${PREFIX}\u00a0x`,
      'Invalid token response: access_token has characters outside %x20-7E (RFC 6749 Appendix A.12)',
    ],
    [
      'S79 empty',
      '',
      'Invalid token response: response body access_token property must not be empty',
    ],
  ])('%s is refused, not retried and not cached', async (_case, accessToken, message) => {
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'performance', 'hrtime'],
    });
    answerToken(accessToken);
    const tokens = provider();
    const error = await tokens.getToken().catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'TokenRequestError',
      code: 'OIDC_CC_TOKEN_RESPONSE_INVALID',
      status: 200,
      message,
    });
    // The message names the field, never the value.
    expect(JSON.stringify(error)).not.toContain(PREFIX);
    expect((error as Error).message).not.toContain(PREFIX);
    expect(tokenRequests()).toBe(1);
    expect(tokens.status()).toMatchObject({ lastAcquisition: { ok: false } });
    expect(tokens.status().tokenExpiresAt).toBeUndefined();

    // Once the refusal cooldown is over, the next call asks again: nothing was kept.
    idp.reset();
    jest.setSystemTime(Date.now() + REFUSAL_COOLDOWN_MS);
    const token = await tokens.getToken();
    expect(token).toMatch(/^[\x20-\x7e]+$/);
    expect(tokenRequests()).toBe(1);
  });

  it.each<[string, string]>([
    [
      'S79 every VSCHAR',
      Array.from({ length: 0x5f }, (_, i) => String.fromCharCode(0x20 + i)).join(''),
    ],
    ['S79 one character', 'x'],
  ])('%s is accepted', async (_case, accessToken) => {
    answerToken(accessToken);
    await expect(provider().getToken()).resolves.toBe(accessToken);
  });
});

import { summarizeAnswer } from './id-service-recorder.js';
import {
  paint,
  redactAuthorization,
  redactParams,
  redactToken,
  REDACTED,
  useColor,
} from './output.js';

const JWT =
  'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJkZW1vLWNsaWVudCIsImV4cCI6MTl9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const OPAQUE = 'hinxbB9GcdmNyImNg3GGeJfsi2jBXO2Q';
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('demo output: colours', () => {
  it.each([
    ['terminal', true, {}, true],
    ['pipe-or-file', false, {}, false],
    ['no-isTTY-at-all', undefined, {}, false],
    ['terminal-with-NO_COLOR', true, { NO_COLOR: '1' }, false],
    ['terminal-with-NO_COLOR-empty', true, { NO_COLOR: '' }, true],
    ['pipe-with-NO_COLOR', false, { NO_COLOR: '1' }, false],
  ])('%s', (_case, isTTY, env: Record<string, string>, expected) => {
    expect(useColor({ isTTY }, env)).toBe(expected);
  });

  it('paints only when asked', () => {
    expect(paint('ok', 'green', false)).toBe('ok');
    expect(paint('ok', 'green', true)).toBe('\x1b[32mok\x1b[39m');
  });
});

describe('demo output: tokens and secrets never shown whole', () => {
  it.each([
    ['jwt', JWT, `eyJ${REDACTED}`],
    ['opaque', OPAQUE, `hin${REDACTED}`],
    ['short', 'abcdefgh', `ab${REDACTED}`],
    ['tiny', 'abc', REDACTED],
    ['empty', '', REDACTED],
  ])('redactToken: %s', (_case, token, shown) => {
    expect(redactToken(token)).toBe(shown);
  });

  it.each([
    ['bearer-jwt', `Bearer ${JWT}`, `Bearer eyJ${REDACTED}`],
    ['basic', basic('demo-api', 'demo-api-secret'), `Basic demo-api:${REDACTED}`],
    ['basic-form-encoded-id', basic('my app', 's:e c'), `Basic my app:${REDACTED}`],
    [
      'basic-without-colon',
      `Basic ${Buffer.from('nocolon').toString('base64')}`,
      `Basic ${REDACTED}`,
    ],
    ['other-scheme', `DPoP ${OPAQUE}`, `DPoP ${REDACTED}`],
    ['none', undefined, undefined],
  ])('redactAuthorization: %s', (_case, header, shown) => {
    expect(redactAuthorization(header)).toBe(shown);
  });

  it.each([
    [
      'client-secret-query',
      'grant_type=client_credentials&client_id=app&client_secret=s3cret',
      `grant_type=client_credentials&client_id=app&client_secret=${REDACTED}`,
    ],
    [
      'introspection-form',
      `token=${JWT}&token_type_hint=access_token`,
      `token=eyJ${REDACTED}&token_type_hint=access_token`,
    ],
    ['assertion', 'client_assertion=abc.def.ghi', `client_assertion=${REDACTED}`],
  ])('redactParams: %s', (_case, params, shown) => {
    expect(redactParams(new URLSearchParams(params))).toBe(shown);
  });

  it.each([
    [
      'token-answer',
      { access_token: OPAQUE, token_type: 'Bearer', expires_in: 604799, refresh_token: OPAQUE },
      `{"access_token":"hin${REDACTED}","token_type":"Bearer","expires_in":604799,"refresh_token":"hin${REDACTED}"}`,
    ],
    [
      'jwt-in-an-unknown-field',
      { sub: 'app', actor_token: JWT },
      `{"sub":"app","actor_token":"eyJ${REDACTED}"}`,
    ],
    [
      'opaque-in-a-nested-field',
      { sub: 'app', act: { token: OPAQUE, list: [OPAQUE] } },
      `{"sub":"app","act":{"token":"hin${REDACTED}","list":["hin${REDACTED}"]}}`,
    ],
    [
      'jwks',
      {
        keys: [
          { kty: 'EC', alg: 'ES256', kid: 'k1-thumbprint-long', x: 'x', y: 'y', crv: 'P-256' },
        ],
      },
      '{"keys":[{"kty":"EC","alg":"ES256","kid":"k1-thumb…"}]}',
    ],
    [
      'introspection-answer',
      {
        active: true,
        iss: 'http://id',
        iat: 1,
        exp: 2,
        sub: 'app',
        aud: 'app',
        scope: 'orders:read',
        client_id: 'app',
        token_type: 'Bearer',
      },
      '{"active":true,"sub":"app","client_id":"app","scope":"orders:read","exp":2} (+4 more fields)',
    ],
  ])('summarizeAnswer: %s', (_case, body, shown) => {
    expect(summarizeAnswer(JSON.stringify(body)).answer).toBe(shown);
  });

  it('summarizeAnswer: keeps the token answer fields, token redacted, for expires_in', () => {
    const { fields } = summarizeAnswer(JSON.stringify({ access_token: JWT, expires_in: 3600 }));

    expect(fields).toEqual({ access_token: `eyJ${REDACTED}`, expires_in: 3600 });
  });

  it.each([
    ['text', 'Unauthorized', '(12 bytes of text)'],
    ['empty', '', '(empty)'],
    ['json-string-token', JSON.stringify(OPAQUE), `hin${REDACTED}`],
  ])('summarizeAnswer: %s', (_case, text, shown) => {
    expect(summarizeAnswer(text).answer).toBe(shown);
  });
});

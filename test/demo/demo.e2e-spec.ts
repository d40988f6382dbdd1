import diagnosticsChannel from 'node:diagnostics_channel';
import { formatReport, runDemo, startDemo, type DemoStack } from '../../apps/demo/src/demo.js';
import { formatTrace, traceSteps, type DemoTrace } from '../../apps/demo/src/trace.js';

describe('demo: the seed flow on one machine (npm start)', () => {
  let stack: DemoStack;

  beforeAll(async () => {
    stack = await startDemo({ logger: false });
  });

  afterAll(() => stack?.close());

  it('gets every expected status, with the ID service calls the caches leave', async () => {
    const report = await runDemo(stack, 3);
    const failures = report.results.filter((r) => !r.ok);
    expect(failures).toEqual([]);
    expect(report.ok).toBe(true);

    const calls = (clientId: string, strategy: string, route = 'whoami') =>
      report.results.find(
        (r) => r.clientId === clientId && r.strategy === strategy && r.route === route,
      )!.idServiceCalls!;
    // The first check of a client fetches its one token; the JWT routes download the JWKS once.
    expect(calls('demo-client', 'jwt')).toMatchObject({ token: 1, jwks: 1 });
    // Three calls with one token: one introspection, one userinfo call, then cached results.
    expect(calls('demo-client', 'introspection')).toMatchObject({ token: 0, introspection: 1 });
    expect(calls('demo-client', 'userinfo')).toMatchObject({ token: 0, userinfo: 1 });
    expect(calls('demo-client', 'jwt', 'orders')).toEqual({
      discovery: 0,
      jwks: 0,
      token: 0,
      introspection: 0,
      userinfo: 0,
    });
    // The opaque token's result is cached too: the 403 route costs nothing more.
    expect(calls('demo-client-opaque', 'introspection', 'orders')).toMatchObject({
      token: 0,
      introspection: 0,
    });

    const text = formatReport(report);
    expect(text).toContain('All 8 checks passed.');
    expect(text).toMatch(/the caches saved \d+ calls/);
    expect(text).not.toContain('\x1b[');
    expect(formatReport(report, { color: true })).toContain('\x1b[');
  });
});

describe('demo: one traced example per step of the ID service article (npm start)', () => {
  let stack: DemoStack;
  let trace: DemoTrace;
  let text: string;
  /** Every access token the ID service issued while the trace ran. */
  const issued: string[] = [];

  beforeAll(async () => {
    stack = await startDemo({ logger: false });
    // Every token the ID service answers with, read where undici publishes each answer's bytes.
    const answers = new Map<object, Buffer[]>();
    const onChunk = (message: unknown) => {
      const { request, chunk } = message as { request: object; chunk: Uint8Array };
      answers.set(request, [...(answers.get(request) ?? []), Buffer.from(chunk)]);
    };
    diagnosticsChannel.subscribe('undici:request:bodyChunkReceived', onChunk);
    try {
      trace = await traceSteps(stack);
    } finally {
      diagnosticsChannel.unsubscribe('undici:request:bodyChunkReceived', onChunk);
    }
    for (const chunks of answers.values()) {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          access_token?: unknown;
        };
        if (typeof body?.access_token === 'string') issued.push(body.access_token);
      } catch {
        // not JSON: no token
      }
    }
    text = formatTrace(trace);
  });

  afterAll(() => stack?.close());

  it('runs every step and every check', () => {
    expect(trace.ok).toBe(true);
    expect(trace.token.expiresIn).toBeGreaterThan(0);
    expect(trace.checks.map((check) => [check.strategy, check.ok])).toEqual([
      ['jwt', true],
      ['introspection', true],
      ['userinfo', true],
      ['auto', true],
    ]);
  });

  it.each([
    [
      '1-token-request',
      /demo-client → ID service +POST \/openid\/token\n +Authorization: Basic demo-client:…\(redacted\)\n +grant_type=client_credentials\n/,
    ],
    [
      '1-answer-with-lifetime',
      /ID service → demo-client +200 \{"access_token":"eyJ…\(redacted\)","token_type":"Bearer","expires_in":(\d+)[^\n]*\n +expires_in \1: valid for /,
    ],
    [
      '2-call-with-bearer-token',
      /demo-client → demo-api +GET \/jwt\/whoami\n +Authorization: Bearer eyJ…\(redacted\)\n +demo-api → demo-client +200 \{"clientId":"demo-client","strategy":"jwt"\}/,
    ],
    [
      '3-by-jwks',
      /by JWKS, for GET \/jwt\/whoami \(step 2\)[^\n]*\n(?: {3}[^\n]*\n)*? +demo-api → ID service +GET \/openid\/jwks\.json\n +ID service → demo-api +200 \{"keys":\[\{"kty":/,
    ],
    [
      '3-by-introspection',
      /by introspection, for GET \/introspection\/whoami[^\n]*\n +demo-api → ID service +POST \/openid\/introspect\n +Authorization: Basic demo-api:…\(redacted\)\n +[^\n]*token=eyJ…\(redacted\)[^\n]*\n +ID service → demo-api +200 \{"active":true[^\n]*"sub":"demo-client"[^\n]*\n +demo-api → demo-client +200 \{"clientId":"demo-client","strategy":"introspection"\}/,
    ],
    [
      '3-by-userinfo',
      /by userinfo, for GET \/userinfo\/whoami[^\n]*\n +demo-api → ID service +GET \/openid\/userinfo\n +Authorization: Bearer eyJ…\(redacted\)\n +ID service → demo-api +200 \{"sub":"demo-client"\}\n +demo-api → demo-client +200 \{"clientId":"demo-client","strategy":"userinfo"\}/,
    ],
    [
      '3-by-auto',
      /by auto[^\n]*\n +no call to the ID service\n +demo-api +valid: client demo-client, scope orders:read, expires in \d+ s/,
    ],
  ])('shows step %s', (_step, shown) => {
    expect(text).toMatch(shown);
  });

  it('never shows a token whole, in the text or in the trace it returns', () => {
    const returned = JSON.stringify(trace);

    expect(issued.length).toBeGreaterThan(0);
    for (const token of issued) {
      expect(text).not.toContain(token);
      expect(returned).not.toContain(token);
      // At most the first few characters.
      expect(text).not.toContain(token.slice(0, 8));
    }
    expect(text).not.toMatch(/[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}/);
    for (const { clientSecret } of stack.clients) expect(text).not.toContain(clientSecret);
  });

  it('has no colour codes unless asked', () => {
    expect(text).not.toContain('\x1b[');
    expect(formatTrace(trace, { color: true })).toContain('\x1b[');
  });
});

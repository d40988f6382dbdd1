import { formatReport, runDemo, startDemo, type DemoStack } from '../../apps/demo/src/demo.js';

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
  });
});

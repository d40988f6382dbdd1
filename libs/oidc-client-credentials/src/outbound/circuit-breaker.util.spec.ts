import { CircuitBreaker } from './circuit-breaker.util.js';

describe('CircuitBreaker', () => {
  let time: number;
  let breaker: CircuitBreaker;

  beforeEach(() => {
    time = 1_000_000;
    breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 30_000 }, () => time);
  });

  const fail = (times: number) => {
    for (let i = 0; i < times; i += 1) {
      expect(breaker.permit()).toBe('pass');
      breaker.recordFailure();
    }
  };

  it('passes requests while closed and opens at the threshold of failures in a row', () => {
    fail(2);
    expect(breaker.state).toBe('closed');
    fail(1);
    expect(breaker.state).toBe('open');
    expect(breaker.permit()).toBe('refuse');
    expect(breaker.msUntilProbe).toBe(30_000);
  });

  it('a success resets the count', () => {
    fail(2);
    breaker.recordSuccess();
    fail(2);
    expect(breaker.state).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(2);
  });

  it('refuses everything during the cooldown, then permits exactly one probe', () => {
    fail(3);
    time += 29_999;
    expect(breaker.permit()).toBe('refuse');
    time += 1;
    expect(breaker.state).toBe('half-open');
    expect(breaker.permit()).toBe('probe');
    expect(breaker.permit()).toBe('refuse');
    expect(breaker.permit()).toBe('refuse');
  });

  it("the probe's success closes the circuit", () => {
    fail(3);
    time += 30_000;
    expect(breaker.permit()).toBe('probe');
    breaker.recordSuccess();
    expect(breaker.state).toBe('closed');
    expect(breaker.permit()).toBe('pass');
    expect(breaker.consecutiveFailures).toBe(0);
  });

  it("the probe's failure opens it for another full cooldown", () => {
    fail(3);
    time += 45_000;
    expect(breaker.permit()).toBe('probe');
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.msUntilProbe).toBe(30_000);
    time += 30_000;
    expect(breaker.permit()).toBe('probe');
  });

  it('an abandoned probe lets the next request probe', () => {
    fail(3);
    time += 30_000;
    expect(breaker.permit()).toBe('probe');
    breaker.recordAbandoned();
    expect(breaker.state).toBe('half-open');
    expect(breaker.permit()).toBe('probe');
  });

  it('a threshold of 1 opens at the first failure', () => {
    const single = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 10 }, () => time);
    single.recordFailure();
    expect(single.state).toBe('open');
  });
});

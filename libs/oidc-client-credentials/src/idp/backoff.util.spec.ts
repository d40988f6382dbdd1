import { fullJitterDelayMs, MAX_RETRY_AFTER_SECONDS, parseRetryAfter } from './backoff.util.js';

describe('backoff', () => {
  const policy = { initialDelayMs: 200, maxDelayMs: 5000 };

  it.each([
    [1, 200],
    [2, 400],
    [3, 800],
    [10, 5000],
  ])('full jitter after attempt %i stays within [0, %i]', (attempt, ceiling) => {
    expect(fullJitterDelayMs(attempt, policy, () => 0)).toBe(0);
    expect(fullJitterDelayMs(attempt, policy, () => 0.999999)).toBe(ceiling - 1);
  });

  it.each([
    ['delay-seconds', '60', 60],
    ['zero', '0', 0],
    ['padded', ' 7 ', 7],
    ['http-date', 'Thu, 01 Jan 2026 00:00:30 GMT', 30],
    ['past-date', 'Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['huge', '86400', MAX_RETRY_AFTER_SECONDS],
    ['negative', '-5', undefined],
    ['garbage', 'soon', undefined],
    ['absent', null, undefined],
  ])('parses Retry-After (%s)', (_case, header, expected) => {
    expect(parseRetryAfter(header, Date.parse('2026-01-01T00:00:00Z'))).toBe(expected);
  });
});

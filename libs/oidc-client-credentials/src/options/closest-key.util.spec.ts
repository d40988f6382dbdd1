import { closestKey } from './closest-key.util.js';

describe('closestKey', () => {
  it.each<[string, string, string[], string | undefined]>([
    ['one letter off', 'scopes', ['scope', 'clients'], 'scope'],
    ['a letter left out', 'tokenRenewl', ['tokenRenewal'], 'tokenRenewal'],
    ['two letters left out', 'timeout', ['timeoutMs'], 'timeoutMs'],
    ['neighbours swapped (one edit)', 'clinetId', ['clientId'], 'clientId'],
    ['another case only', 'ALLOWINSECUREHTTP', ['allowInsecureHttp'], 'allowInsecureHttp'],
    ['the nearest of two', 'audiences', ['audience', 'audiencesList'], 'audience'],
    ['three edits away', 'prefix', ['keyPrefix'], undefined],
    ['a short name one edit away', 'jwk', ['jwt', 'http'], 'jwt'],
    ['a short name two edits away (one at most)', 'xtp', ['http'], undefined],
  ])('%s', (_case, key, candidates, expected) => {
    expect(closestKey(key, candidates)).toBe(expected);
  });
});

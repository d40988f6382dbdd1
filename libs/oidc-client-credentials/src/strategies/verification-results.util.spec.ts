import { jest } from '@jest/globals';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import type { VerifiedToken } from './verified-token.interface.js';
import { LocalVerificationResults } from './verification-results.util.js';

const value: VerifiedToken = { clientId: 'c', scopes: [], claims: {} };
const refusal = () => TokenVerificationError.invalid('refused');

describe('LocalVerificationResults', () => {
  // Each step runs at its time (ms); a hit touches its entry once a second at most.
  type Step = ['store' | 'refuse' | 'hit' | 'clear', string, number];
  it.each<[string, number, Step[], string[], string[]]>([
    [
      'the oldest entry goes first',
      3,
      [
        ['store', 'a', 0],
        ['store', 'b', 0],
        ['store', 'c', 0],
        ['store', 'd', 0],
      ],
      ['b', 'c', 'd'],
      [],
    ],
    [
      'a hit moves its entry to the recent end, also after evictions',
      3,
      [
        ['store', 'a', 0],
        ['store', 'b', 0],
        ['store', 'c', 0],
        ['store', 'd', 0],
        ['hit', 'b', 2000],
        ['store', 'e', 2000],
        ['store', 'f', 2000],
        ['hit', 'b', 4000],
        ['store', 'g', 4000],
      ],
      ['b', 'f', 'g'],
      [],
    ],
    [
      'an entry stored again comes in turn once more',
      2,
      [
        ['store', 'a', 0],
        ['store', 'b', 0],
        ['store', 'c', 0],
        ['store', 'a', 0],
        ['store', 'd', 0],
      ],
      ['a', 'd'],
      [],
    ],
    [
      'refusals are bounded on their own: a flood of them evicts no result',
      2,
      [
        ['store', 'a', 0],
        ['refuse', 'x', 0],
        ['refuse', 'y', 0],
        ['refuse', 'z', 0],
        ['store', 'b', 0],
      ],
      ['a', 'b'],
      ['y', 'z'],
    ],
    [
      'after clear, eviction starts from the new entries',
      2,
      [
        ['store', 'a', 0],
        ['store', 'b', 0],
        ['store', 'c', 0],
        ['clear', '', 0],
        ['store', 'd', 0],
        ['store', 'e', 0],
        ['store', 'f', 0],
      ],
      ['e', 'f'],
      [],
    ],
  ])('%s', (_case, maxEntries, steps, positive, negative) => {
    let now = 0;
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      const results = new LocalVerificationResults(3_600_000, 3_600_000, maxEntries);
      for (const [step, key, at] of steps) {
        now = at;
        if (step === 'store') results.store(key, `digest-${key}`, value);
        else if (step === 'refuse') results.storeRefusal(key, refusal());
        else if (step === 'hit') expect(results.positiveHit(key, now)).toBeDefined();
        else results.clear();
      }
      const kept = (probe: (key: string) => unknown) =>
        'abcdefgxyz'.split('').filter((key) => probe(key) !== undefined);
      expect(kept((key) => results.positiveHit(key, now))).toEqual(positive);
      expect(kept((key) => results.negativeHit(key, now))).toEqual(negative);
    } finally {
      spy.mockRestore();
    }
  });
});

import type { Type } from '@nestjs/common';
import { securityAlternatives, type GuardedRoute } from './client-credentials-openapi.util.js';

const route = (scopes: string[], anyOfScopes?: string[][]): GuardedRoute => ({
  controller: class {} as Type,
  methodName: 'route',
  scopes,
  ...(anyOfScopes ? { anyOfScopes } : {}),
});

describe('securityAlternatives: one OpenAPI security requirement per scope set that grants the route', () => {
  it.each<[string, GuardedRoute, string[][]]>([
    ['no scopes', route([]), [[]]],
    ['scopes-all', route(['a', 'b']), [['a', 'b']]],
    ['scopes-any', route([], [['a', 'b']]), [['a'], ['b']]],
    [
      'scopes-all-and-any',
      route(['r'], [['eu', 'us']]),
      [
        ['r', 'eu'],
        ['r', 'us'],
      ],
    ],
    [
      'scopes-any-two-lists: one scope of each',
      route(
        [],
        [
          ['a', 'b'],
          ['c', 'd'],
        ],
      ),
      [
        ['a', 'c'],
        ['a', 'd'],
        ['b', 'c'],
        ['b', 'd'],
      ],
    ],
    ['scopes-any-already-required', route(['a'], [['a', 'b']]), [['a'], ['a', 'b']]],
    ['scopes-any-same-scope-twice', route([], [['a'], ['a']]), [['a']]],
    [
      'scopes-any-too-many-alternatives: the required scopes alone',
      route(
        ['r'],
        [
          ['1', '2', '3', '4', '5', '6'],
          ['a', 'b', 'c', 'd', 'e', 'f'],
        ],
      ),
      [['r']],
    ],
  ])('%s', (_case, guarded, expected) => {
    expect(securityAlternatives(guarded)).toEqual(expected);
  });
});

import {
  callParameters,
  canonicalParams,
  parameterSetKey,
  ParameterSets,
  RecentlyUsed,
  withCallParameters,
} from './token-parameters.util.js';
import type { TokenRequestParameters } from './client-credentials-token.interface.js';

const CONFIGURED: [string, string][] = [
  ['scope', 'orders:read'],
  ['audience', 'https://orders.example'],
  ['tenant', 'acme'],
];

/** The canonical parameters a call sends, from the configured ones above. */
const sent = (call: TokenRequestParameters) =>
  withCallParameters(CONFIGURED, callParameters(call)!);

describe('token parameters of one getToken() call', () => {
  it.each<[string, TokenRequestParameters | undefined]>([
    ['no options', undefined],
    ['options without parameters', {}],
    ['every parameter undefined', { scope: undefined, resource: undefined, audience: undefined }],
  ])('%s: the client own token', (_case, options) => {
    expect(callParameters(options)).toBeUndefined();
  });

  it.each<[string, TokenRequestParameters, [string, string][]]>([
    [
      'a scope replaces the configured one; audience and extra parameters stay',
      { scope: 'stock:read' },
      [
        ['scope', 'stock:read'],
        ['audience', 'https://orders.example'],
        ['tenant', 'acme'],
      ],
    ],
    [
      'scopes sorted, without duplicates, from a string or an array',
      { scope: ['b', 'a c', 'b'] },
      [
        ['scope', 'a b c'],
        ['audience', 'https://orders.example'],
        ['tenant', 'acme'],
      ],
    ],
    [
      'repeated spaces between scopes',
      { scope: '  b   a ' },
      [
        ['scope', 'a b'],
        ['audience', 'https://orders.example'],
        ['tenant', 'acme'],
      ],
    ],
    [
      'resources sorted, without duplicates, after the audience',
      { resource: ['https://b.example/', 'https://a.example/', 'https://b.example/'] },
      [
        ['scope', 'orders:read'],
        ['audience', 'https://orders.example'],
        ['resource', 'https://a.example/'],
        ['resource', 'https://b.example/'],
        ['tenant', 'acme'],
      ],
    ],
    [
      'an audience replaces the configured one',
      { audience: ['z-api', 'a-api'] },
      [
        ['scope', 'orders:read'],
        ['audience', 'a-api'],
        ['audience', 'z-api'],
        ['tenant', 'acme'],
      ],
    ],
  ])('%s', (_case, call, expected) => {
    expect(sent(call)).toEqual(expected);
  });

  it.each<[string, TokenRequestParameters, TokenRequestParameters]>([
    ['scope order', { scope: 'a b' }, { scope: 'b a' }],
    ['scope duplicates', { scope: ['a', 'b'] }, { scope: 'a b a' }],
    ['resource order', { resource: ['urn:x', 'urn:y'] }, { resource: ['urn:y', 'urn:x'] }],
    ['resource string or array', { resource: 'urn:x' }, { resource: ['urn:x'] }],
    ['parameter order', { resource: 'urn:x', scope: 'a' }, { scope: 'a', resource: 'urn:x' }],
  ])('one key for one set: %s', (_case, first, second) => {
    expect(parameterSetKey(sent(first))).toBe(parameterSetKey(sent(second)));
  });

  it.each<[string, TokenRequestParameters, TokenRequestParameters]>([
    ['different resources', { resource: 'urn:x' }, { resource: 'urn:y' }],
    ['a resource more', { resource: 'urn:x' }, { resource: ['urn:x', 'urn:y'] }],
    ['scope or audience with the same value', { scope: 'x' }, { audience: 'x' }],
    ['a scope and two scopes joined', { scope: ['a b'] }, { scope: ['a-b'] }],
  ])('two keys for two sets: %s', (_case, first, second) => {
    expect(parameterSetKey(sent(first))).not.toBe(parameterSetKey(sent(second)));
  });

  it('the configured parameters asked for again are the configured set', () => {
    const configured = parameterSetKey(canonicalParams(CONFIGURED));
    expect(parameterSetKey(sent({ scope: ['orders:read'] }))).toBe(configured);
  });
});

describe('RecentlyUsed', () => {
  it('keeps the most recently used entries and hands the evicted one over', () => {
    const evicted: string[] = [];
    const sets = new RecentlyUsed<string>(2, (value) => evicted.push(value));
    sets.set('a', 'A');
    sets.set('b', 'B');
    expect(sets.get('a')).toBe('A');
    sets.set('c', 'C');
    expect(evicted).toEqual(['B']);
    expect([sets.get('b'), sets.get('a'), sets.get('c')]).toEqual([undefined, 'A', 'C']);
    expect(sets.size).toBe(2);
  });

  it('never grows past its limit, whatever the number of keys', () => {
    let evictions = 0;
    const sets = new RecentlyUsed<number>(3, () => (evictions += 1));
    for (let i = 0; i < 10_000; i += 1) sets.set(`k${i}`, i);
    expect(sets.size).toBe(3);
    expect(evictions).toBe(9_997);
    expect([...sets.values()]).toEqual([9_997, 9_998, 9_999]);
  });
});

describe('ParameterSets', () => {
  it('remembers a checked call: the same values again give the same set without a new check', () => {
    const sets = new ParameterSets(CONFIGURED, 8);
    const first = sets.of({ resource: 'urn:x', scope: 'b a' });
    expect(first).toEqual({
      key: parameterSetKey(sent({ resource: 'urn:x', scope: 'a b' })),
      params: sent({ resource: 'urn:x', scope: 'a b' }),
    });
    expect(sets.of({ resource: 'urn:x', scope: 'b a' })).toBe(first);
    expect(sets.of({ scope: ['a', 'b'], resource: ['urn:x'] })?.key).toBe(first?.key);
  });

  it.each<[string, TokenRequestParameters]>([
    ['no parameter', { scope: undefined }],
    ['the configured scope', { scope: 'orders:read' }],
  ])('the client own set: %s', (_case, call) => {
    const sets = new ParameterSets(CONFIGURED, 8);
    expect(sets.of(call)).toBeUndefined();
    expect(sets.of(call)).toBeUndefined();
  });

  it('never remembers a refused call: it is refused each time', () => {
    const sets = new ParameterSets(CONFIGURED, 8);
    for (let i = 0; i < 2; i += 1) {
      expect(() => sets.of({ resource: 'not a uri' })).toThrow(
        expect.objectContaining({ code: 'OIDC_CC_TOKEN_PARAMETERS_INVALID' }),
      );
    }
  });
});

import fc from 'fast-check';
import { TokenVerificationError } from '../errors/token-verification.error.js';
import {
  decodeJsonObject,
  hasDuplicateMemberNames,
  isJwsShaped,
  parseCompactJws,
} from './jwt-shape.util.js';

// The JWT pre-parser sees every bearer token before any cryptography: whatever the input, it may
// only return a checked header or throw its own typed error.

const MAX = 8192;
const RUNS = { numRuns: 500 };

const b64 = (part: string | Uint8Array) => Buffer.from(part).toString('base64url');

/** Outcome of the pre-parser: a header, or the code of the typed error it threw. */
function outcome(token: string): { header: Record<string, unknown> } | { code: string } {
  try {
    return { header: parseCompactJws(token, MAX).header };
  } catch (error) {
    if (!(error instanceof TokenVerificationError)) throw error;
    return { code: error.code };
  }
}

const base64urlSegment = fc.stringMatching(/^[A-Za-z0-9_-]{0,60}$/);
/** Text that is, or is close to, a JSON object. */
const jsonishText = fc.oneof(
  fc.json(),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }))
    .map((o) => JSON.stringify(o)),
  fc.constantFrom('{"alg":"RS256"', '{"alg":"RS256",}', '{"alg":"RS256"}}', '{"alg":1e999}'),
);
/** Strings shaped like compact JWS, JWE and JSON serialisations, valid or nearly so. */
const tokenLike = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.array(base64urlSegment, { minLength: 0, maxLength: 6 }).map((s) => s.join('.')),
  fc
    .tuple(jsonishText, jsonishText, fc.uint8Array({ maxLength: 64 }))
    .map(([h, p, s]) => `${b64(h)}.${b64(p)}.${b64(s)}`),
  fc
    .tuple(fc.uint8Array({ maxLength: 60 }), fc.uint8Array({ maxLength: 60 }))
    .map(([h, p]) => `${b64(h)}.${b64(p)}.c2ln`),
  fc.json().map((j) => JSON.stringify({ payload: j, signatures: [{ protected: j }] })),
);

/** A JSON object tree whose members are listed explicitly, so it can repeat a name. */
interface Tree {
  members: [name: string, escaped: boolean, value: Tree | number | Tree[]][];
}
const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree; value: Tree | number | Tree[] }>(
  (tie) => ({
    tree: fc.record({
      members: fc.array(
        fc.tuple(
          fc.constantFrom('a', 'b', 'alg', 'kid', 'é', '"', '\\'),
          fc.boolean(),
          tie('value'),
        ),
        { maxLength: 4 },
      ),
    }),
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.integer(),
      tie('tree'),
      fc.array(tie('tree'), { maxLength: 2 }),
    ),
  }),
).tree;

/** JSON text of a tree; `escaped` names are written with \u escapes only. */
function serialise(node: Tree | number | Tree[]): string {
  if (typeof node === 'number') return String(node);
  if (Array.isArray(node)) return `[${node.map(serialise).join(', ')}]`;
  const members = node.members.map(([name, escaped, value]) => {
    const key = escaped
      ? `"${[...name].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`
      : JSON.stringify(name);
    return `${key} : ${serialise(value)}`;
  });
  return `{ ${members.join(' , ')} }`;
}

function repeatsName(node: Tree | number | Tree[]): boolean {
  if (typeof node === 'number') return false;
  if (Array.isArray(node)) return node.some(repeatsName);
  const names = node.members.map(([name]) => name);
  return new Set(names).size !== names.length || node.members.some(([, , v]) => repeatsName(v));
}

describe('JWT pre-parser properties', () => {
  it('never throws anything but OIDC_CC_TOKEN_MALFORMED, whatever the token', () => {
    fc.assert(
      fc.property(tokenLike, (token) => {
        const result = outcome(token);
        if ('code' in result) expect(result.code).toBe('OIDC_CC_TOKEN_MALFORMED');
      }),
      RUNS,
    );
  });

  it('accepts only three base64url segments whose header is an object with a string alg', () => {
    fc.assert(
      fc.property(tokenLike, (token) => {
        const result = outcome(token);
        if (!('header' in result)) return;
        const segments = token.split('.');
        expect(segments).toHaveLength(3);
        for (const segment of segments) expect(segment).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(Object.getPrototypeOf(result.header)).toBe(Object.prototype);
        expect(typeof result.header.alg).toBe('string');
        expect(['undefined', 'string']).toContain(typeof result.header.kid);
      }),
      RUNS,
    );
  });

  it('reads back any header object with an alg, as JSON.parse would', () => {
    const header = fc
      .tuple(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
        fc.dictionary(
          fc.string({ maxLength: 6 }).filter((k) => k !== 'alg' && k !== 'kid'),
          fc.jsonValue({ maxDepth: 2 }),
          { maxKeys: 4 },
        ),
      )
      .map(([alg, kid, rest]) => ({ ...rest, alg, ...(kid === undefined ? {} : { kid }) }));
    fc.assert(
      fc.property(header, fc.uint8Array({ minLength: 1, maxLength: 32 }), (h, signature) => {
        const text = JSON.stringify(h);
        const token = `${b64(text)}.${b64('{}')}.${b64(signature)}`;
        const parsed = parseCompactJws(token, MAX);
        expect(parsed.header).toEqual(JSON.parse(text));
        expect(parsed.encodedPayload).toBe(b64('{}'));
      }),
      RUNS,
    );
  });

  it('isJwsShaped never throws and agrees with parseCompactJws', () => {
    fc.assert(
      fc.property(tokenLike, (token) => {
        expect(isJwsShaped(token, MAX)).toBe('header' in outcome(token));
      }),
      RUNS,
    );
  });

  it('decodeJsonObject of any bytes is an object or OIDC_CC_TOKEN_MALFORMED', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }).map(b64),
          jsonishText.map(b64),
          fc.string({ maxLength: 40 }),
        ),
        (segment) => {
          try {
            const value = decodeJsonObject(segment, 'payload');
            expect(typeof value).toBe('object');
            expect(Array.isArray(value)).toBe(false);
          } catch (error) {
            expect(error).toBeInstanceOf(TokenVerificationError);
            expect((error as TokenVerificationError).code).toBe('OIDC_CC_TOKEN_MALFORMED');
          }
        },
      ),
      RUNS,
    );
  });

  it('finds no duplicate member name in anything JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(hasDuplicateMemberNames(JSON.stringify(value))).toBe(false);
        expect(hasDuplicateMemberNames(JSON.stringify(value, null, 2))).toBe(false);
      }),
      RUNS,
    );
  });

  it('finds a repeated member name at any depth, escaped or not, and only then', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const text = serialise(t);
        expect(() => JSON.parse(text)).not.toThrow();
        expect(hasDuplicateMemberNames(text)).toBe(repeatsName(t));
      }),
      RUNS,
    );
  });
});

import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { TokenVerificationError } from '../../errors/token-verification.error.js';
import { ValidatorUnavailableError } from '../../errors/validator-unavailable.error.js';
import { TokenVerificationStrategy } from '../token-verification.strategy.js';
import type { VerifiedToken } from '../verified-token.interface.js';
import { IssuerRoutingStrategy } from './issuer-routing.strategy.js';
import type { IssuerVerifier } from './issuer-verifier.util.js';
import { MAX_ISSUER_LENGTH } from './unverified-issuer.util.js';

const A = 'https://a.example';
const B = 'https://b.example';
const C = 'https://c.example';

type Answer = 'active' | 'inactive' | 'unavailable';

/** A strategy answering as told, recording the tokens it was asked about. */
class ScriptedStrategy extends TokenVerificationStrategy {
  readonly asked: string[] = [];
  constructor(
    private readonly answer: Answer,
    override readonly reportsScopes?: boolean,
  ) {
    super();
  }
  async verify(token: string): Promise<VerifiedToken> {
    this.asked.push(token);
    if (this.answer === 'inactive') throw TokenVerificationError.inactive();
    if (this.answer === 'unavailable') {
      throw ValidatorUnavailableError.of('OIDC_CC_INTROSPECTION_UNAVAILABLE', 'down');
    }
    return { clientId: 'billing', scopes: [], claims: {} };
  }
}

function verifier(issuer: string, answer: Answer, introspects = true, reportsScopes?: boolean) {
  const strategy = new ScriptedStrategy(answer, reportsScopes);
  return { issuer, strategy, introspectsOpaqueTokens: introspects } as unknown as IssuerVerifier & {
    strategy: ScriptedStrategy;
  };
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const jwt = (payload: Record<string, unknown>) =>
  `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ sub: 'billing', ...payload })}.c2lnbmF0dXJl`;

describe('IssuerRoutingStrategy', () => {
  const jwtRows: { case: string; token: string; to?: string; error?: string }[] = [
    { case: 'iss A goes to A only', token: jwt({ iss: A }), to: A },
    { case: 'iss B goes to B only', token: jwt({ iss: B }), to: B },
    { case: 'an iss not listed', token: jwt({ iss: C }), error: 'OIDC_CC_TOKEN_INVALID' },
    {
      case: 'a prefix of a listed iss',
      token: jwt({ iss: 'https://a.exampl' }),
      error: 'OIDC_CC_TOKEN_INVALID',
    },
    {
      case: 'a listed iss with a trailing slash',
      token: jwt({ iss: `${A}/` }),
      error: 'OIDC_CC_TOKEN_INVALID',
    },
    {
      case: 'an iss in another case',
      token: jwt({ iss: A.toUpperCase() }),
      error: 'OIDC_CC_TOKEN_INVALID',
    },
    {
      case: 'an iss over the bound',
      token: jwt({ iss: `${A}/${'x'.repeat(MAX_ISSUER_LENGTH)}` }),
      error: 'OIDC_CC_TOKEN_INVALID',
    },
    { case: 'an iss array', token: jwt({ iss: [A] }), error: 'OIDC_CC_TOKEN_INVALID' },
    { case: 'an empty iss', token: jwt({ iss: '' }), error: 'OIDC_CC_TOKEN_INVALID' },
    {
      // Routing reads the payload as JSON.parse does (the last one); A's strategy then refuses the
      // token whole (no member name twice), so no issuer is picked by one parser and trusted by another.
      case: 'a payload with iss twice goes to the issuer JSON.parse reads, which checks it whole',
      token: `${b64({ alg: 'RS256' })}.${Buffer.from(`{"iss":"${C}","iss":"${A}"}`).toString('base64url')}.c2ln`,
      to: A,
    },
    {
      case: 'a JWS whose payload is not JSON',
      token: `${b64({ alg: 'RS256' })}.bm90LWpzb24.c2ln`,
      error: 'OIDC_CC_TOKEN_MALFORMED',
    },
    {
      case: 'a JWS whose payload is a JSON array',
      token: `${b64({ alg: 'RS256' })}.${b64([A])}.c2ln`,
      error: 'OIDC_CC_TOKEN_MALFORMED',
    },
  ];

  it.each(jwtRows)('a JWT: $case', async (row) => {
    const a = verifier(A, 'active');
    const b = verifier(B, 'active');
    const router = new IssuerRoutingStrategy([a, b], 8192);
    const result = router.verify(row.token);
    if (row.error) {
      await expect(result).rejects.toMatchObject({ code: row.error });
    } else {
      await expect(result).resolves.toMatchObject({ issuer: row.to });
    }
    expect(a.strategy.asked.length).toBe(row.to === A ? 1 : 0);
    expect(b.strategy.asked.length).toBe(row.to === B ? 1 : 0);
  });

  const opaqueRows: {
    case: string;
    answers: [Answer, boolean][];
    asked: number[];
    issuer?: string;
    error?: string;
  }[] = [
    {
      case: 'the first active answer wins',
      answers: [
        ['active', true],
        ['active', true],
      ],
      asked: [1, 0],
      issuer: A,
    },
    {
      case: 'inactive at A, active at B',
      answers: [
        ['inactive', true],
        ['active', true],
      ],
      asked: [1, 1],
      issuer: B,
    },
    {
      case: 'A cannot answer, B says active',
      answers: [
        ['unavailable', true],
        ['active', true],
      ],
      asked: [1, 1],
      issuer: B,
    },
    {
      case: 'A cannot answer, B says inactive: 503, not 401',
      answers: [
        ['unavailable', true],
        ['inactive', true],
      ],
      asked: [1, 1],
      error: 'OIDC_CC_INTROSPECTION_UNAVAILABLE',
    },
    {
      case: 'inactive everywhere',
      answers: [
        ['inactive', true],
        ['inactive', true],
      ],
      asked: [1, 1],
      error: 'OIDC_CC_TOKEN_INACTIVE',
    },
    {
      case: 'an issuer that does not introspect is not asked',
      answers: [
        ['active', false],
        ['inactive', true],
      ],
      asked: [0, 1],
      error: 'OIDC_CC_TOKEN_INACTIVE',
    },
    {
      case: 'no issuer introspects',
      answers: [
        ['active', false],
        ['active', false],
      ],
      asked: [0, 0],
      error: 'OIDC_CC_TOKEN_INVALID',
    },
  ];

  it('a token of three segments that are not JSON is opaque: introspected, not refused as a JWT', async () => {
    const a = verifier(A, 'active');
    const router = new IssuerRoutingStrategy([a], 8192);
    await expect(router.verify('abc.def.ghi')).resolves.toMatchObject({ issuer: A });
    expect(a.strategy.asked).toEqual(['abc.def.ghi']);
  });

  it.each(opaqueRows)('an opaque token without a resolver: $case', async (row) => {
    const verifiers = row.answers.map(([answer, introspects], i) =>
      verifier([A, B][i], answer, introspects),
    );
    const result = new IssuerRoutingStrategy(verifiers, 8192).verify('opaque');
    if (row.error) await expect(result).rejects.toMatchObject({ code: row.error });
    else await expect(result).resolves.toMatchObject({ issuer: row.issuer });
    expect(verifiers.map((v) => v.strategy.asked.length)).toEqual(row.asked);
  });

  const resolverRows: { case: string; names: unknown; issuer?: string; warns?: boolean }[] = [
    { case: 'names B: only B is asked', names: B, issuer: B },
    { case: 'names nobody', names: undefined },
    { case: 'names an issuer not listed', names: C, warns: true },
    { case: 'answers something else than a string', names: 42, warns: true },
  ];

  it.each(resolverRows)('an opaque token with a resolver that $case', async (row) => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const a = verifier(A, 'active');
      const b = verifier(B, 'active');
      const router = new IssuerRoutingStrategy([a, b], 8192, async () => row.names as string);
      const result = router.verify('opaque');
      if (row.issuer) await expect(result).resolves.toMatchObject({ issuer: row.issuer });
      else await expect(result).rejects.toMatchObject({ code: 'OIDC_CC_TOKEN_INVALID' });
      expect(a.strategy.asked).toEqual([]);
      expect(b.strategy.asked).toEqual(row.issuer === B ? ['opaque'] : []);
      expect(warn).toHaveBeenCalledTimes(row.warns ? 1 : 0);
    } finally {
      warn.mockRestore();
    }
  });

  it('a resolver that throws: 503, nobody asked', async () => {
    const a = verifier(A, 'active');
    const router = new IssuerRoutingStrategy([a], 8192, () => {
      throw new Error('tenant store down');
    });
    await expect(router.verify('opaque')).rejects.toMatchObject({
      code: 'OIDC_CC_VALIDATOR_UNAVAILABLE',
    });
    expect(a.strategy.asked).toEqual([]);
  });

  it('reports scopes unless every issuer is checked by userinfo', () => {
    expect(
      new IssuerRoutingStrategy([verifier(A, 'active', true, false)], 8192).reportsScopes,
    ).toBe(false);
    expect(
      new IssuerRoutingStrategy([verifier(A, 'active', true, false), verifier(B, 'active')], 8192)
        .reportsScopes,
    ).toBe(true);
  });
});

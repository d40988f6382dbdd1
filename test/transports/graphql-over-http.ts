import type { Server } from 'node:http';
import { PATHS, type FakeIdService } from 'nest-oidc-client-credentials/testing';
import request from 'supertest';

/** A GraphQL response body. */
export interface GraphqlBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
}

/** A GraphQL answer over HTTP: status, headers and body. */
export interface GraphqlAnswer {
  status: number;
  headers: Record<string, string>;
  body: GraphqlBody;
}

/** `POST /graphql` of `text`, with `authorization` when given; no answer may quote a JWT. */
export async function graphqlQuery(
  server: Server,
  text: string,
  authorization?: string,
): Promise<GraphqlAnswer> {
  const call = request(server).post('/graphql').send({ query: text });
  if (authorization) call.set('Authorization', authorization);
  const response = await call;
  expect(response.text).not.toContain('eyJ');
  return {
    status: response.status,
    headers: response.headers as Record<string, string>,
    body: response.body as GraphqlBody,
  };
}

/** What {@link itAnswersGraphqlRefusals} runs its cases with. */
export interface GraphqlRun {
  idp: FakeIdService;
  query(text: string, authorization?: string): Promise<GraphqlAnswer>;
}

/**
 * The refusals a GraphQL server behind `ClientTokenGuard` answers alike over HTTP (Apollo,
 * Mercurius): a refused field is `null` with an UNAUTHENTICATED error, the challenge goes out as
 * `WWW-Authenticate` (not in `extensions.http`) and the status stays 200, as for every response
 * with `data`; an ID service that is down is SERVICE_UNAVAILABLE with `Retry-After`.
 */
export function itAnswersGraphqlRefusals(run: () => GraphqlRun): void {
  it.each<[string, (idp: FakeIdService) => Promise<string | undefined>, object, string]>([
    [
      'S11 no token',
      async () => undefined,
      { code: 'UNAUTHENTICATED', statusCode: 401, message: 'Bearer token required' },
      'Bearer realm="orders"',
    ],
    [
      'invalid-signature',
      async (idp) => `${await idp.bearer({ sub: 'billing' })}x`,
      { code: 'UNAUTHENTICATED', error: 'invalid_token' },
      'Bearer realm="orders", error="invalid_token", error_description="The access token is invalid"',
    ],
    [
      'malformed',
      async () => 'Bearer a,b',
      { code: 'UNAUTHENTICATED', error: 'invalid_token' },
      'Bearer realm="orders", error="invalid_token", error_description="The access token is malformed"',
    ],
  ])(
    '%s: an UNAUTHENTICATED error, the challenge as a header, status 200 with data',
    async (_name, authorization, expected, challenge) => {
      const { idp, query } = run();
      const { status, headers, body } = await query(
        '{ whoami { clientId } }',
        await authorization(idp),
      );
      expect(body.data).toEqual({ whoami: null });
      const { message, ...extensions } = expected as { message?: string };
      expect(body.errors).toEqual([
        expect.objectContaining({
          ...(message ? { message } : {}),
          path: ['whoami'],
          extensions: expect.objectContaining(extensions),
        }),
      ]);
      expect(body.errors![0].extensions).not.toHaveProperty('http');
      expect(headers['www-authenticate']).toBe(challenge);
      expect(status).toBe(200);
    },
  );

  it('ID service down: SERVICE_UNAVAILABLE with the retry delay, Retry-After as a header', async () => {
    const { idp, query } = run();
    idp.on(PATHS.introspection, () => ({ status: 503 }));
    const token = idp.mintOpaque('billing');
    const { headers, body } = await query('{ whoami { clientId } }', `Bearer ${token}`);
    expect(headers['retry-after']).toBe('7');
    expect(headers['www-authenticate']).toBeUndefined();
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: 'Token verification is temporarily unavailable',
        extensions: { code: 'SERVICE_UNAVAILABLE', statusCode: 503, retryAfterSeconds: 7 },
      }),
    ]);
  });
}

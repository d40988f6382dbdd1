import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { FakeIdService } from 'nest-oidc-client-credentials/testing';
import { CapturingLogger } from '../utils/nest-http-app.js';
import { graphqlAppModule, startTransportsIdService } from '../transports/app.module.js';
import { DpopKey } from './dpop-proofs.js';

interface GraphqlBody {
  data?: unknown;
  errors?: { extensions?: Record<string, unknown> }[];
}

/** GraphQL over HTTP carries a DPoP proof as any HTTP request does: the guard checks it there. */
describe('DPoP-bound tokens on GraphQL (Apollo over HTTP)', () => {
  let idp: FakeIdService;
  let app: INestApplication;
  let url: string;
  let key: DpopKey;
  const logger = new CapturingLogger();

  beforeAll(async () => {
    idp = await startTransportsIdService();
    key = await DpopKey.generate();
    const moduleRef = await Test.createTestingModule(graphqlAppModule(idp))
      .setLogger(logger)
      .compile();
    app = moduleRef.createNestApplication({ logger });
    await app.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/graphql`;
  });

  afterAll(async () => {
    await app?.close();
    await idp?.close();
  });

  async function query(headers: Record<string, string>) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: '{ whoami { clientId } }' }),
    });
    return {
      challenge: response.headers.get('www-authenticate'),
      body: (await response.json()) as GraphqlBody,
    };
  }

  it.each<
    [string, (token: string) => Promise<Record<string, string>>, GraphqlBody['data'], string | null]
  >([
    [
      'a valid proof of POST /graphql',
      async (token) => ({
        authorization: `DPoP ${token}`,
        dpop: await key.proof({ htm: 'POST', htu: url, token }),
      }),
      { whoami: { clientId: 'billing' } },
      null,
    ],
    [
      'no proof',
      async (token) => ({ authorization: `DPoP ${token}` }),
      { whoami: null },
      'invalid_dpop_proof',
    ],
    [
      'a proof of GET',
      async (token) => ({
        authorization: `DPoP ${token}`,
        dpop: await key.proof({ htm: 'GET', htu: url, token }),
      }),
      { whoami: null },
      'invalid_dpop_proof',
    ],
    [
      'the Bearer scheme',
      async (token) => ({ authorization: `Bearer ${token}` }),
      { whoami: null },
      'invalid_token',
    ],
  ])('%s', async (_name, headers, data, error) => {
    const token = await idp.mintJwt({ sub: 'billing', cnf: { jkt: key.jkt } });
    const { challenge, body } = await query(await headers(token));
    expect(body.data).toEqual(data);
    if (error === null) {
      expect(body.errors).toBeUndefined();
      return;
    }
    expect(body.errors?.[0].extensions).toEqual(
      expect.objectContaining({ code: 'UNAUTHENTICATED', error }),
    );
    expect(challenge).toContain(`DPoP realm="orders", algs="`);
    expect(challenge).toContain(`error="${error}"`);
  });
});

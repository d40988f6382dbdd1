import * as oauth from 'oauth4webapi';
import { isInvalidJsonObjectResponse } from './oauth-response.util.js';

const as: oauth.AuthorizationServer = {
  issuer: 'https://id.example.com',
  introspection_endpoint: 'https://id.example.com/introspect',
  userinfo_endpoint: 'https://id.example.com/userinfo',
};
const client: oauth.Client = { client_id: 'orders-api' };

function json(body: string, status = 200): Response {
  return new Response(body, { status, headers: { 'content-type': 'application/json' } });
}

/** What oauth4webapi throws for this answer. */
async function refusalOf(process: () => Promise<unknown>): Promise<unknown> {
  return process().then(
    () => {
      throw new Error('expected oauth4webapi to refuse the answer');
    },
    (error: unknown) => error,
  );
}

const introspection = (body: string, status?: number) => () =>
  oauth.processIntrospectionResponse(as, client, json(body, status));
const userinfo = (body: string) => () =>
  oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, json(body));

describe('isInvalidJsonObjectResponse', () => {
  it.each([
    ['introspection object without active', true, introspection('{"scope":"a"}')],
    ['introspection object with a string active', true, introspection('{"active":"true"}')],
    ['userinfo object without sub', true, userinfo('{"name":"x"}')],
    ['userinfo object with a numeric sub', true, userinfo('{"sub":7}')],
    ['introspection JSON array', false, introspection('[{"active":true}]')],
    ['userinfo JSON array', false, userinfo('[]')],
    ['introspection JSON null', false, introspection('null')],
    ['introspection body that is not JSON', false, introspection('{')],
    ['introspection HTTP 500', false, introspection('{"active":false}', 500)],
  ])('%s: %s', async (_case, expected, process) => {
    expect(isInvalidJsonObjectResponse(await refusalOf(process))).toBe(expected);
  });

  it.each([
    ['a TypeError', new TypeError('fetch failed')],
    ['a string', 'invalid'],
    ['undefined', undefined],
  ])('is false for %s', (_case, error) => {
    expect(isInvalidJsonObjectResponse(error)).toBe(false);
  });
});

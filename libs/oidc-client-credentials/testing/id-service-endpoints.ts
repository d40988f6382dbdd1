import type { JWK } from 'jose';
import { ClientAuthenticator } from './client-authenticator.js';
import { discoveryEndpoint, jwksEndpoint } from './discovery.endpoint.js';
import type { FakeResponse, RecordedRequest } from './http-exchange.js';
import { IdServiceContext, type IdServiceContextOptions } from './id-service-context.js';
import { introspectionEndpoint } from './introspection.endpoint.js';
import { IssuedTokens } from './issued-tokens.js';
import { PATHS } from './paths.js';
import { SigningKeys, type SigningAlgorithm } from './signing-keys.js';
import { tokenEndpoint } from './token.endpoint.js';
import { TokenEndpointDpop, type FakeDpopOptions } from './token-dpop.js';
import { userinfoEndpoint } from './userinfo.endpoint.js';

/** Options of {@link IdServiceEndpoints.create}. */
export interface IdServiceEndpointsOptions extends IdServiceContextOptions {
  /** Algorithm of generated signing keys. Default `'RS256'`. */
  alg?: SigningAlgorithm;
  /** Private JWKs (each with an `alg`) to sign with instead of a generated key; the last signs. */
  signingKeys?: JWK[];
  /** DPoP at the token endpoint (RFC 9449): proofs checked, valid ones bind the token. */
  dpop?: FakeDpopOptions;
}

/** The name of one of the endpoints. */
export type IdServiceEndpointName = keyof typeof PATHS;

/**
 * The endpoints of an ID service at {@link PATHS} (discovery, token, introspection, userinfo, JWKS)
 * as plain functions from a recorded request to a response, with the keys and tokens behind them.
 * An HTTP server of any kind hosts them: {@link FakeIdService} on `node:http`, a Nest app through
 * its controllers.
 *
 * @example
 * const endpoints = await IdServiceEndpoints.create({ clients: { app: { secret: 's3cret' } } });
 * endpoints.context.setIssuerIfUnset('http://127.0.0.1:4000');
 * const answer = await endpoints.handle(recordRequest({ url: PATHS.jwks, headers: {}, body: '' }));
 */
export class IdServiceEndpoints {
  private readonly authenticator: ClientAuthenticator;

  private constructor(
    /** Clients, clock, issuer and defaults. */
    readonly context: IdServiceContext,
    /** The signing keys: rotate, unpublish, revoke. */
    readonly keys: SigningKeys,
    /** The tokens issued: issue, mint, inspect, revoke. */
    readonly tokens: IssuedTokens,
    /** The token endpoint's DPoP checks and nonce, when the DPoP mode is on. */
    readonly dpop?: TokenEndpointDpop,
  ) {
    this.authenticator = new ClientAuthenticator(context);
  }

  /** The endpoints with their first signing key (loaded or generated). */
  static async create(options: IdServiceEndpointsOptions): Promise<IdServiceEndpoints> {
    const context = new IdServiceContext(options);
    const keys = await SigningKeys.create(options.alg ?? 'RS256', options.signingKeys);
    const dpop = options.dpop && new TokenEndpointDpop(options.dpop, () => context.nowSeconds());
    return new IdServiceEndpoints(context, keys, new IssuedTokens(context, keys), dpop);
  }

  /**
   * The endpoint a request is for, by path and method (`undefined` for none): GET discovery and
   * JWKS, POST token and introspection, GET or POST userinfo.
   */
  route(request: RecordedRequest): IdServiceEndpointName | undefined {
    const name = (Object.keys(PATHS) as IdServiceEndpointName[]).find(
      (endpoint) => PATHS[endpoint] === request.path,
    );
    const methods: Record<IdServiceEndpointName, string[]> = {
      discovery: ['GET', 'HEAD'],
      jwks: ['GET', 'HEAD'],
      token: ['POST'],
      introspection: ['POST'],
      userinfo: ['GET', 'HEAD', 'POST'],
    };
    return name && methods[name].includes(request.method) ? name : undefined;
  }

  /** Answers a request as the endpoint it is for; 404 for any other. */
  handle(request: RecordedRequest): Promise<FakeResponse> {
    const endpoint = this.route(request);
    return endpoint
      ? this.answer(endpoint, request)
      : Promise.resolve({ status: 404, body: { error: 'not_found' } });
  }

  /** Answers a request as one endpoint, whatever its path and method. */
  async answer(endpoint: IdServiceEndpointName, request: RecordedRequest): Promise<FakeResponse> {
    switch (endpoint) {
      case 'discovery':
        return discoveryEndpoint(this.context, this.keys);
      case 'jwks':
        return jwksEndpoint(this.keys);
      case 'token':
        return tokenEndpoint(request, this.parts());
      case 'introspection':
        return introspectionEndpoint(request, this.parts());
      case 'userinfo':
        return userinfoEndpoint(request, this.tokens);
    }
  }

  private parts() {
    return {
      context: this.context,
      authenticator: this.authenticator,
      tokens: this.tokens,
      ...(this.dpop === undefined ? {} : { dpop: this.dpop }),
    };
  }
}

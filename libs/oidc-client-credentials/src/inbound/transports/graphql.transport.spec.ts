import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { graphqlRequest } from './graphql.transport.js';

function host(type: string, args: unknown[]): ExecutionContextHost {
  const context = new ExecutionContextHost(args);
  context.setType(type);
  return context;
}

describe('graphqlRequest', () => {
  it.each([
    ['Apollo (req)', { req: { id: 'apollo' } }, 'apollo'],
    ['Mercurius (reply.request)', { reply: { request: { id: 'mercurius' } } }, 'mercurius'],
  ])('finds the HTTP request of %s', (_name, gqlContext, id) => {
    expect(graphqlRequest(host('graphql', [{}, {}, gqlContext, {}]))).toEqual({ id });
  });

  it.each([[undefined], [{}], [{ req: 'x' }]])('none in %p', (gqlContext) => {
    expect(graphqlRequest(host('graphql', [{}, {}, gqlContext, {}]))).toBeUndefined();
  });
});

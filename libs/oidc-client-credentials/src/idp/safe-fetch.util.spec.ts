import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as oauth from 'oauth4webapi';
import { Agent } from 'undici';
import { createSafeFetch, ResponseTooLargeError, type SafeFetch } from './safe-fetch.util.js';

// The ID-service client on a keep-alive undici Agent: answers as fetch gives them (a Response
// oauth4webapi accepts), failures shaped as fetch's, and the limits.

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

describe('createSafeFetch on a dispatcher', () => {
  let server: Server;
  let base: string;
  let handler: Handler;
  const sockets = new Set<Socket>();
  const agent = new Agent();
  // Generous for the answers (a busy host), short where the timeout itself is the case.
  const limits = { timeoutMs: 5000, maxResponseBytes: 1024 };
  let safeFetch: SafeFetch;
  let shortFetch: SafeFetch;

  beforeAll(async () => {
    server = createServer((request, response) => handler(request, response));
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    safeFetch = createSafeFetch(limits, { dispatcher: agent });
    shortFetch = createSafeFetch({ ...limits, timeoutMs: 300 }, { dispatcher: agent });
  });
  afterAll(async () => {
    await agent.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const json = (status: number, body: unknown, headers: Record<string, string | string[]> = {}) =>
    ((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    }) as Handler;

  it.each<[string, Handler, (response: Response) => Promise<void>]>([
    [
      'json() of the body, status and headers',
      json(200, { active: true }, { 'x-one': 'a' }),
      async (response) => {
        expect(response.status).toBe(200);
        expect(response.ok).toBe(true);
        expect(response.headers.get('x-one')).toBe('a');
        expect(await response.json()).toEqual({ active: true });
        expect(response.bodyUsed).toBe(true);
      },
    ],
    [
      'text() drops a UTF-8 BOM, as fetch does',
      (_request, response) => response.end('\ufeff{"a":"é"}'),
      async (response) => expect(await response.text()).toBe('{"a":"é"}'),
    ],
    [
      'a second read is refused, as fetch does',
      json(200, {}),
      async (response) => {
        await response.text();
        await expect(response.text()).rejects.toThrow(TypeError);
        expect(() => response.clone()).toThrow(TypeError);
      },
    ],
    [
      'clone() reads the same body twice',
      json(400, { error: 'invalid_client' }),
      async (response) => {
        expect(await response.clone().json()).toEqual({ error: 'invalid_client' });
        expect(await response.json()).toEqual({ error: 'invalid_client' });
      },
    ],
    [
      'body is a stream of the bytes, and cancel() works',
      json(200, { a: 1 }),
      async (response) => {
        expect(response.body).not.toBeNull();
        await response.body?.cancel();
      },
    ],
    [
      'a 204 has no body',
      (_request, response) => {
        response.statusCode = 204;
        response.end();
      },
      async (response) => {
        expect(response.status).toBe(204);
        expect(response.body).toBeNull();
        expect(await response.text()).toBe('');
      },
    ],
    [
      'repeated headers are all kept',
      json(401, {}, { 'www-authenticate': ['DPoP error="use_dpop_nonce"', 'Bearer'] }),
      async (response) =>
        expect(response.headers.get('www-authenticate')).toBe(
          'DPoP error="use_dpop_nonce", Bearer',
        ),
    ],
    [
      'a redirect is answered, not followed',
      (_request, response) => {
        response.writeHead(302, { location: 'https://elsewhere.example.com/' });
        response.end();
      },
      async (response) => {
        expect(response.status).toBe(302);
        expect(response.headers.get('location')).toBe('https://elsewhere.example.com/');
      },
    ],
  ])('%s', async (_case, serve, check) => {
    handler = serve;
    await check(await safeFetch(`${base}/x`));
  });

  it('oauth4webapi takes the answer as a Response', async () => {
    handler = json(200, { active: true, client_id: 'orders' });
    const as = { issuer: base, introspection_endpoint: `${base}/introspect` };
    const client = { client_id: 'orders' };
    const options = { [oauth.customFetch]: safeFetch, [oauth.allowInsecureRequests]: true };
    const response = await oauth.introspectionRequest(
      as,
      client,
      oauth.ClientSecretBasic('secret'),
      'token',
      options,
    );
    await expect(oauth.processIntrospectionResponse(as, client, response)).resolves.toMatchObject({
      active: true,
    });
  });

  it('sends the method, headers and a URLSearchParams body', async () => {
    let seen: { method?: string; type?: string; body: string } = { body: '' };
    handler = (request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen = { method: request.method, type: request.headers['content-type'], body };
        response.end('{}');
      });
    };
    await safeFetch(`${base}/token`, {
      method: 'POST',
      headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded' }),
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(seen).toEqual({
      method: 'POST',
      type: 'application/x-www-form-urlencoded',
      body: 'grant_type=client_credentials',
    });
  });

  it.each<[string, Handler, RequestInit, (error: unknown) => void]>([
    [
      'a declared body over the cap',
      (_request, response) => {
        response.writeHead(200, { 'content-length': '4096' });
        response.end('x'.repeat(4096));
      },
      {},
      (error) => expect(error).toBeInstanceOf(ResponseTooLargeError),
    ],
    [
      'a chunked body over the cap',
      (_request, response) => {
        response.write('x'.repeat(800));
        setImmediate(() => response.end('x'.repeat(800)));
      },
      {},
      (error) => expect(error).toBeInstanceOf(ResponseTooLargeError),
    ],
    [
      'no answer within timeoutMs: TimeoutError',
      () => undefined,
      {},
      (error) => expect(error).toMatchObject({ name: 'TimeoutError' }),
    ],
    [
      'a body that stops: TimeoutError',
      (_request, response) => response.write('{"partial":'),
      {},
      (error) => expect(error).toMatchObject({ name: 'TimeoutError' }),
    ],
    [
      "the caller's signal: its reason",
      () => undefined,
      { signal: AbortSignal.abort(new Error('caller gave up')) },
      (error) => expect(error).toMatchObject({ message: 'caller gave up' }),
    ],
    [
      'the connection reset: fetch failed with the code as cause',
      (request) => request.socket.destroy(),
      {},
      (error) => {
        expect(error).toBeInstanceOf(TypeError);
        expect(error).toMatchObject({ message: 'fetch failed' });
        expect((error as Error).cause).toMatchObject({
          code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET)$/),
        });
      },
    ],
  ])('%s', async (_case, serve, init, check) => {
    handler = serve;
    check(
      await shortFetch(`${base}/x`, init).then(
        () => undefined,
        (error: unknown) => error,
      ),
    );
  });

  it('nothing listening: fetch failed with ECONNREFUSED as cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await safeFetch(`http://127.0.0.1:${port}/`).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect((error as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });
});

import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { CertificateAndKey } from '../utils/tls-certificates.js';

/**
 * A minimal ID service over https for transport tests: discovery, a client credentials token
 * endpoint that answers any client a fixed bearer token, and an empty JWK Set. Its certificate is
 * whatever the test gives it (one issued by a private CA, say). Records each request's path.
 */
export class HttpsIdService {
  readonly paths: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(certificate: CertificateAndKey): Promise<HttpsIdService> {
    const server = createServer({ cert: certificate.cert, key: certificate.key });
    const service = new HttpsIdService(server);
    server.on('connection', (socket: Socket) => {
      service.sockets.add(socket);
      socket.on('close', () => service.sockets.delete(socket));
    });
    server.on('request', (request, response) => {
      const path = new URL(request.url ?? '/', service.issuer).pathname;
      service.paths.push(path);
      request.resume();
      request.on('end', () => {
        const json = (status: number, body: unknown) => {
          response.writeHead(status, { 'content-type': 'application/json' });
          response.end(JSON.stringify(body));
        };
        if (path === '/.well-known/openid-configuration') {
          json(200, {
            issuer: service.issuer,
            token_endpoint: `${service.issuer}/token`,
            jwks_uri: `${service.issuer}/jwks`,
          });
        } else if (path === '/token' && request.method === 'POST') {
          json(200, { access_token: 'private-ca-token', token_type: 'Bearer', expires_in: 600 });
        } else if (path === '/jwks') {
          json(200, { keys: [] });
        } else {
          json(404, { error: 'not_found' });
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return service;
  }

  /** `https://127.0.0.1:<port>`. */
  get issuer(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** `127.0.0.1:<port>`. */
  get host(): string {
    return new URL(this.issuer).host;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

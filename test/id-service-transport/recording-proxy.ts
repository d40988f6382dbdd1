import { createServer, request as forward, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/** How the proxy answers a CONNECT. */
export type ProxyMode = 'tunnel' | 'refuse' | 'garbage';

/**
 * An HTTP proxy on 127.0.0.1 for tests that records what goes through it: each CONNECT target
 * (`host:port`), each absolute-URI request (`GET http://…`), and the request line of each HTTP
 * request sent in clear inside a tunnel (`GET /path`). `mode` makes it refuse CONNECTs with 403
 * or answer them with bytes that are not HTTP.
 */
export class RecordingProxy {
  /** `host:port` of each CONNECT, in order. */
  readonly connects: string[] = [];
  /** `METHOD url` of each absolute-URI request, in order. */
  readonly forwarded: string[] = [];
  /** `METHOD /path` of each clear-text request seen inside a tunnel, in order. */
  readonly tunnelled: string[] = [];
  mode: ProxyMode = 'tunnel';
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<RecordingProxy> {
    const server = createServer();
    const proxy = new RecordingProxy(server);
    server.on('connection', (socket: Socket) => proxy.track(socket));
    server.on('connect', (request, socket: Socket, head: Buffer) =>
      proxy.connect(request.url ?? '', socket, head),
    );
    server.on('request', (request, response) => {
      proxy.forwarded.push(`${request.method} ${request.url}`);
      const upstream = forward(
        request.url ?? '',
        { method: request.method, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', () => response.destroy());
      request.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Forgets what was recorded and tunnels again. */
  reset(): void {
    this.connects.length = 0;
    this.forwarded.length = 0;
    this.tunnelled.length = 0;
    this.mode = 'tunnel';
  }

  /** Closes the proxy and every connection through it. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private connect(target: string, socket: Socket, head: Buffer): void {
    this.connects.push(target);
    if (this.mode === 'refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (this.mode === 'garbage') {
      socket.end('this is not HTTP at all\r\n\r\n');
      return;
    }
    const [host, port] = splitTarget(target);
    const upstream = connect(port, host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    this.track(upstream);
    socket.on('data', (chunk: Buffer) => this.sniff(chunk));
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  }

  /** Records the request line of clear-text HTTP (a TLS handshake has none). */
  private sniff(chunk: Buffer): void {
    const line = /^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) (\S+) HTTP\/1\.[01]\r\n/.exec(
      chunk.toString('latin1', 0, Math.min(chunk.length, 2048)),
    );
    if (line) this.tunnelled.push(`${line[1]} ${line[2]}`);
  }
}

function splitTarget(target: string): [string, number] {
  const at = target.lastIndexOf(':');
  return [target.slice(0, at).replace(/^\[|\]$/g, ''), Number(target.slice(at + 1))];
}

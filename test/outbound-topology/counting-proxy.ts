import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running {@link startCountingProxy}. */
export interface CountingProxy {
  /** e.g. `http://127.0.0.1:41234`, without a trailing slash. */
  readonly url: string;
  /** The form bodies of the POST requests forwarded so far, oldest first. */
  readonly posts: URLSearchParams[];
  close(): Promise<void>;
}

/**
 * A reverse proxy on loopback in front of `target` (an `http://127.0.0.1:<port>` origin) that
 * forwards every request as it is and records each POST's form body: how many token requests
 * reached a real ID service, and with which parameters.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const posts: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'POST') posts.push(new URLSearchParams(body.toString('utf8')));
      const forwarded = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

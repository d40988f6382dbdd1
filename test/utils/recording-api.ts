import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A JSON answer of the {@link startRecordingApi} server. */
export interface RecordingApiAnswer {
  status: number;
  body: unknown;
}

/** A running {@link startRecordingApi} server. */
export interface RecordingApi {
  /** e.g. `http://127.0.0.1:41234`, without a trailing slash. */
  url: string;
  close(): Promise<void>;
}

/**
 * The API an outbound client calls, on loopback: records each request's Authorization header in
 * `seen` (undefined when absent) and answers `answer(path)` as JSON.
 */
export async function startRecordingApi(
  seen: (string | undefined)[],
  answer: (path: string) => RecordingApiAnswer,
): Promise<RecordingApi> {
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    const { status, body } = answer(req.url ?? '/');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

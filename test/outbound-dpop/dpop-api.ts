import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeJwt,
  decodeProtectedHeader,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose';

/** One request as the API received it, its DPoP proof decoded. */
export interface ReceivedCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  proof?: { header: ProtectedHeaderParameters; payload: JWTPayload & Record<string, unknown> };
}

/** What the API answers a call: a status, and headers (a nonce challenge, say). */
export interface ApiAnswer {
  status: number;
  headers?: Record<string, string>;
}

/** A running {@link startDpopApi}. */
export interface DpopApi {
  url: string;
  calls: ReceivedCall[];
  /** How the next calls are answered; default 200. */
  answer: (call: ReceivedCall) => ApiAnswer;
  close(): Promise<void>;
}

/**
 * An API on loopback that records each call with its decoded DPoP proof (not verified: what a
 * client sends is what the tests look at) and answers as `answer` says.
 */
export async function startDpopApi(): Promise<DpopApi> {
  const api: DpopApi = {
    url: '',
    calls: [],
    answer: () => ({ status: 200 }),
    close: async () => undefined,
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const dpop = req.headers.dpop;
      const call: ReceivedCall = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        ...(typeof dpop === 'string'
          ? {
              proof: {
                header: decodeProtectedHeader(dpop),
                payload: decodeJwt(dpop) as JWTPayload & Record<string, unknown>,
              },
            }
          : {}),
      };
      api.calls.push(call);
      const { status, headers } = api.answer(call);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ status }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  api.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return api;
}

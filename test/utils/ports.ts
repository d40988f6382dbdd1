import { createServer, type AddressInfo } from 'node:net';

/** A loopback port free right now (bound and released at once): nothing listens on it until bound. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TokenProvider } from 'nest-oidc-client-credentials';
import { corporateNetworkClient } from '../../docs/examples/credentials/corporate-network.js';
import { createCertificateAuthority } from '../utils/tls-certificates.js';
import { HttpsIdService } from './https-id-service.js';
import { RecordingProxy } from './recording-proxy.js';

// The "Proxies and private CAs" example of docs/credentials.md is the file it shows, and it gets a
// token from an https ID service with a private CA through the proxy of HTTPS_PROXY — and directly
// for a host in NO_PROXY.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}/${path}`, 'utf8');
const EXAMPLE = 'docs/examples/credentials/corporate-network.ts';

describe('docs/credentials.md: proxies and private CAs', () => {
  it('the section shows the example file as it is', () => {
    const lines = read('docs/credentials.md').split('\n');
    const start = lines.indexOf('## Proxies and private CAs');
    expect(start).toBeGreaterThan(-1);
    const rest = lines.slice(start + 1);
    const end = rest.findIndex((line) => line.startsWith('## '));
    const section = (end === -1 ? rest : rest.slice(0, end)).join('\n');
    const blocks = [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.trimEnd()).toBe(read(EXAMPLE).trimEnd());
  });

  describe('the example (e2e)', () => {
    let secure: HttpsIdService;
    let proxy: RecordingProxy;
    let dir: string;
    let app: INestApplicationContext | undefined;

    beforeAll(async () => {
      Logger.overrideLogger(false);
      const ca = createCertificateAuthority('Corporate CA');
      secure = await HttpsIdService.start(ca.issue({ commonName: '127.0.0.1' }));
      proxy = await RecordingProxy.start();
      dir = await mkdtemp(join(tmpdir(), 'oidc-cc-corporate-'));
      await writeFile(join(dir, 'corporate-ca.pem'), ca.cert);
    });
    afterAll(async () => {
      Logger.overrideLogger(new Logger());
      await proxy.close();
      await secure.close();
      await rm(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      proxy.reset();
      secure.paths.length = 0;
    });

    it.each<[string, (host: string) => Record<string, string>, boolean]>([
      ['through the proxy of HTTPS_PROXY', () => ({}), true],
      ['directly for a host in NO_PROXY', (host) => ({ NO_PROXY: host }), false],
    ])('gets a token %s, trusting the corporate CA', async (_case, extra, proxied) => {
      const env = {
        OIDC_ISSUER: secure.issuer,
        OIDC_CLIENT_ID: 'orders',
        OIDC_CLIENT_SECRET: 'orders-secret',
        CORPORATE_CA_FILE: join(dir, 'corporate-ca.pem'),
        HTTPS_PROXY: proxy.url,
        ...extra(secure.host),
      };
      // EnvHttpProxyAgent reads HTTPS_PROXY when it is made, and NO_PROXY at each request.
      const saved = { ...process.env };
      Object.assign(process.env, env);
      try {
        app = await NestFactory.createApplicationContext(corporateNetworkClient(env), {
          logger: false,
        });
        await expect(app.get(TokenProvider).getToken()).resolves.toBe('private-ca-token');
      } finally {
        for (const name of Object.keys(env)) {
          if (saved[name] === undefined) delete process.env[name];
          else process.env[name] = saved[name];
        }
      }
      expect(secure.paths).toEqual(['/.well-known/openid-configuration', '/token']);
      expect(proxy.connects.length > 0).toBe(proxied);
      expect(new Set(proxy.connects)).toEqual(new Set(proxied ? [secure.host] : []));
    });
  });
});

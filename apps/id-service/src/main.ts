import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import {
  DEFAULT_CLIENTS_FILE,
  loadClientsFile,
  type IdServiceAlgorithm,
} from './id-service.config.js';
import { createIdService } from './id-service.js';

/**
 * Standalone development ID service. Environment:
 * ID_SERVICE_PORT (default 0: a free port), ID_SERVICE_HOST (default 127.0.0.1),
 * ID_SERVICE_ISSUER (default http://HOST:PORT), ID_SERVICE_CLIENTS_FILE (default
 * apps/id-service/clients.dev.json), ID_SERVICE_ALG (RS256, PS256, ES256, EdDSA),
 * ID_SERVICE_SIGNING_KEYS_FILE (a JSON list of private JWKs), ID_SERVICE_DEV_API (default on,
 * off when NODE_ENV=production).
 */
async function main(): Promise<void> {
  const env = process.env;
  const clientsFile = resolve(env.ID_SERVICE_CLIENTS_FILE ?? DEFAULT_CLIENTS_FILE);
  const signingKeys = env.ID_SERVICE_SIGNING_KEYS_FILE
    ? (JSON.parse(readFileSync(env.ID_SERVICE_SIGNING_KEYS_FILE, 'utf8')) as JWK[])
    : undefined;
  const production = env.NODE_ENV === 'production';
  const clients = loadClientsFile(clientsFile);
  const idService = await createIdService({
    clients,
    port: Number(env.ID_SERVICE_PORT ?? env.PORT ?? 0),
    host: env.ID_SERVICE_HOST ?? '127.0.0.1',
    issuer: env.ID_SERVICE_ISSUER,
    alg: (env.ID_SERVICE_ALG as IdServiceAlgorithm | undefined) ?? 'RS256',
    signingKeys,
    devApi: !production && env.ID_SERVICE_DEV_API !== 'false',
    logger: ['error', 'warn'],
  });
  console.log(`ID service listening on ${idService.issuer} (clients from ${clientsFile})`);
  const example = Object.keys(clients).find((id) => clients[id].secret !== undefined);
  if (example !== undefined) {
    console.log(
      `Try: curl -X POST '${idService.issuer}/openid/token?grant_type=client_credentials` +
        `&client_id=${encodeURIComponent(example)}&client_secret=<its secret in ${clientsFile}>'`,
    );
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void idService.close().then(() => process.exit(0)));
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

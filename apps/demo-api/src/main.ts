import { NestFactory } from '@nestjs/core';
import { DemoApiModule } from './demo-api.module.js';

/**
 * The demo API. Environment: OIDC_ISSUER (or ID_SERVICE_URL), CLIENT_ID and CLIENT_SECRET (this
 * API's own client, for introspection), PORT (default 0: a free port), HOST (default 127.0.0.1).
 */
async function main(): Promise<void> {
  const app = await NestFactory.create(DemoApiModule.register(process.env), {
    logger: ['error', 'warn'],
    forceCloseConnections: true,
  });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  console.log(`demo-api listening on ${url}: GET /{jwt,introspection,userinfo}/{whoami,orders}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

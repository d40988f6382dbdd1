import { NestFactory } from '@nestjs/core';
import { DemoClientModule } from './demo-client.module.js';

/**
 * The demo client. Environment: OIDC_ISSUER (or ID_SERVICE_URL), CLIENT_ID, CLIENT_SECRET,
 * DEMO_API_URL, optionally CLIENT_AUTH_METHOD and CLIENT_SCOPE, PORT (default 0), HOST
 * (default 127.0.0.1).
 */
async function main(): Promise<void> {
  const app = await NestFactory.create(DemoClientModule.register(process.env), {
    logger: ['error', 'warn'],
    forceCloseConnections: true,
  });
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  const url = await app.getUrl();
  console.log(
    `demo-client listening on ${url}: GET /call/{jwt,introspection,userinfo}/{whoami,orders}, GET /token`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

import { ConsoleLogger } from '@nestjs/common';
import { formatReport, runDemo, startDemo, type DemoStack } from './demo.js';
import { useColor } from './output.js';
import { formatTrace, traceSteps } from './trace.js';

/**
 * `npm start`: starts the ID service, demo-api and the demo clients on free loopback ports, traces
 * one example of each step of the ID service article, runs every check, prints both and exits (0
 * when every check passed, and with the development ID service every traced step too). `npm run
 * dev` (`--dev`) keeps them running and prints curl examples. Colours only on a terminal, never
 * with `NO_COLOR`. See apps/README.md for the environment.
 */
async function main(): Promise<void> {
  const env = process.env;
  const dev = process.argv.includes('--dev');
  const color = useColor(process.stdout, env);
  const port = (name: string) => Number(env[name] ?? 0);
  const stack = await startDemo({
    ports: {
      idService: port('ID_SERVICE_PORT'),
      demoApi: port('DEMO_API_PORT'),
      demoClient: port('DEMO_CLIENT_PORT'),
    },
    logger: new ConsoleLogger({ logLevels: ['error', 'warn'], colors: color }),
  });
  const trace = await traceSteps(stack);
  const report = await runDemo(stack, Number(env.DEMO_CALLS ?? 5));
  console.log(`\n${formatTrace(trace, { color })}\n\n${formatReport(report, { color })}\n`);
  if (!dev) {
    await stack.close();
    // Against a real ID service a step may fail for want of a feature (userinfo for client tokens).
    const traceOk = trace.ok || !report.developmentIdService;
    process.exitCode = report.ok && traceOk ? 0 : 1;
    return;
  }
  console.log(curlExamples(stack));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stack.close().then(() => process.exit(0)));
  }
}

function curlExamples(stack: DemoStack): string {
  const client = stack.clients[0];
  const api = stack.demoApiUrl;
  const lines = ['Running. Try it by hand (Ctrl-C stops everything):', ''];
  if (stack.idService) {
    const tokenUrl =
      `${stack.issuer}/openid/token?grant_type=client_credentials` +
      `&client_id=${client.clientId}&client_secret=${client.clientSecret}`;
    lines.push(
      '  # 1. The application gets a token from the ID service (the seed curl):',
      `  curl -s -X POST '${tokenUrl}'`,
      `  TOKEN=$(curl -s -X POST '${tokenUrl}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')`,
      '',
      '  # 2. It calls the 3rd party service (demo-api) with the token, one route per strategy:',
      `  curl -i -H "Authorization: Bearer $TOKEN" ${api}/jwt/whoami`,
      `  curl -i -H "Authorization: Bearer $TOKEN" ${api}/introspection/orders`,
      `  curl -i -H "Authorization: Bearer $TOKEN" ${api}/userinfo/whoami`,
      `  curl -i ${api}/jwt/whoami   # no token: 401 with a WWW-Authenticate challenge`,
      '',
      '  # 3. The 3rd party service checks the token at the ID service, e.g. by introspection:',
      `  curl -s -u demo-api:demo-api-secret --data-urlencode "token=$TOKEN" ${stack.issuer}/openid/introspect`,
      '',
    );
  }
  lines.push(
    '  # Or let a demo client (TokenProvider + ClientCredentialsHttpService) do steps 1 and 2:',
    ...stack.clients.map(
      (c) => `  curl -s ${c.url}/call/introspection/whoami   # as ${c.clientId}`,
    ),
    `  curl -s ${client.url}/token   # the token it holds: type, expiry and scope, never the token`,
  );
  if (stack.idService) {
    lines.push(
      '',
      '  # ID service calls so far, per endpoint:',
      `  curl -s ${stack.issuer}/_dev/stats`,
    );
  }
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

import { readFileSync } from 'node:fs';
import { OidcClientCredentialsModule } from 'nest-oidc-client-credentials';
import { EnvHttpProxyAgent } from 'undici';

/**
 * A service on a corporate network: the ID service is reached through the proxy of HTTPS_PROXY
 * (hosts in NO_PROXY directly), and its certificate is issued by the company's own CA, trusted for
 * these calls only — inside the proxy's tunnel (`requestTls`) and on direct connections (`connect`).
 */
export function corporateNetworkClient(env: NodeJS.ProcessEnv = process.env) {
  const ca = readFileSync(env.CORPORATE_CA_FILE ?? '/etc/ssl/corporate-ca.pem', 'utf8');
  return OidcClientCredentialsModule.forRoot({
    issuer: env.OIDC_ISSUER!,
    clientId: env.OIDC_CLIENT_ID!,
    clientSecret: env.OIDC_CLIENT_SECRET!,
    http: { dispatcher: new EnvHttpProxyAgent({ connect: { ca }, requestTls: { ca } }) },
  });
}

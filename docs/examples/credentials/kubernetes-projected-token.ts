import { OidcClientCredentialsModule } from 'nest-oidc-client-credentials';

/**
 * Workload identity: the platform writes a short-lived JWT for this pod into a file and replaces
 * it before it expires (a Kubernetes projected service account token, here). The ID service trusts
 * the platform's issuer and takes the JWT as the client's assertion (RFC 7523): no secret to
 * store, rotate or leak. The file is read again whenever it changes.
 */
export function workloadIdentityClient(env: NodeJS.ProcessEnv = process.env) {
  return OidcClientCredentialsModule.forRoot({
    issuer: env.OIDC_ISSUER!,
    clientId: env.OIDC_CLIENT_ID!,
    clientAssertion: { file: env.OIDC_TOKEN_FILE ?? '/var/run/secrets/tokens/oidc-token' },
    scope: env.OIDC_SCOPE,
  });
}

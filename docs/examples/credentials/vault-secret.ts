import { OidcClientCredentialsModule } from 'nest-oidc-client-credentials';

/**
 * The client secret, read from HashiCorp Vault's KV v2 engine when a token is requested: once per
 * token lifetime, and once more if the ID service refuses it (the secret was rotated meanwhile).
 * Nothing is kept in memory between token requests, so a rotated secret is picked up at once.
 */
export class VaultSecret {
  constructor(
    private readonly address: string,
    private readonly vaultToken: string,
    /** e.g. `secret/data/orders-service` (KV v2: the mount, `data/`, then the path). */
    private readonly path: string,
    private readonly field: string,
  ) {}

  /** `signal` aborts at the token request's deadline: the call to Vault ends with it. */
  async read(signal: AbortSignal): Promise<string> {
    const response = await fetch(`${this.address}/v1/${this.path}`, {
      headers: { 'x-vault-token': this.vaultToken },
      signal,
    });
    if (!response.ok) throw new Error(`Vault answered HTTP ${response.status}`);
    const body = (await response.json()) as { data?: { data?: Record<string, unknown> } };
    const value = body.data?.data?.[this.field];
    if (typeof value !== 'string') throw new Error(`Vault has no "${this.field}" at ${this.path}`);
    return value;
  }
}

export function vaultBackedClient(env: NodeJS.ProcessEnv = process.env) {
  const vault = new VaultSecret(
    env.VAULT_ADDR!,
    env.VAULT_TOKEN!,
    env.VAULT_SECRET_PATH ?? 'secret/data/orders-service',
    'client_secret',
  );
  return OidcClientCredentialsModule.forRoot({
    issuer: env.OIDC_ISSUER!,
    clientId: env.OIDC_CLIENT_ID!,
    clientSecret: ({ signal }) => vault.read(signal),
  });
}

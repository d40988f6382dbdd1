import type { Provider } from '@nestjs/common';

/** Inbound providers: the verification strategy (built-in or the user's), caches, JWKS. */
export const VERIFICATION_PROVIDERS: Provider[] = [];

/** Inbound providers visible to importers (the guard's dependencies). */
export const VERIFICATION_EXPORTS: Provider[] = [];

import type { Provider } from '@nestjs/common';

/** Outbound providers: the token provider and the token-attaching HttpService. */
export const TOKEN_PROVIDERS: Provider[] = [];

/** Outbound providers visible to importers. */
export const TOKEN_EXPORTS: Provider[] = [];

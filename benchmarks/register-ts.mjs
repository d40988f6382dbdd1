// Lets plain `node` run the TypeScript benchmarks without a build step:
//   node --import ./benchmarks/register-ts.mjs benchmarks/token-provider.bench.ts
// TypeScript is compiled with @swc/core (already used by jest), with the repository's decorator settings.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);

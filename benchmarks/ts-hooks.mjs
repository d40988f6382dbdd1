// Module hooks for register-ts.mjs: maps the package name to the library sources, lets `./x.js` imports
// find `./x.ts`, and compiles `.ts` files with @swc/core using the same options as jest (.swcrc).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from '@swc/core';

const LIBRARY = new URL('../libs/oidc-client-credentials/src/index.ts', import.meta.url).href;
const TESTING = new URL('../libs/oidc-client-credentials/testing/index.ts', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'nest-oidc-client-credentials') {
    return { url: LIBRARY, shortCircuit: true };
  }
  if (specifier === 'nest-oidc-client-credentials/testing') {
    return { url: TESTING, shortCircuit: true };
  }
  const fromTypeScript = context.parentURL?.endsWith('.ts');
  if (fromTypeScript && specifier.startsWith('.') && specifier.endsWith('.js')) {
    const candidate = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    try {
      await readFile(candidate);
      return { url: candidate.href, shortCircuit: true };
    } catch {
      // not a TypeScript source: resolve as written
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  const filename = fileURLToPath(url);
  const { code } = await transform(await readFile(filename, 'utf8'), {
    filename,
    swcrc: false,
    sourceMaps: 'inline',
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'es6' },
  });
  return { format: 'module', source: code, shortCircuit: true };
}

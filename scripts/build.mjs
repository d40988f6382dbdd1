// Builds the publishable package and the apps.
//
//   node scripts/build.mjs [--out-dir dist] [--lib-only]
//
// <out>/libs/oidc-client-credentials   the npm package: compiled JS + .d.ts of libs/oidc-client-credentials/src,
//                                      its package.json (from libs/oidc-client-credentials/package.json plus
//                                      main/types/exports), its README.md (libs/oidc-client-credentials/README.md,
//                                      written for npm: the repository's README links into docs/ and apps/,
//                                      which the package does not ship) and the repository's LICENSE.
//                                      `npm pack` it as is.
//   .../testing                        the `nest-oidc-client-credentials/testing` entry, when
//                                      libs/oidc-client-credentials/testing/index.ts exists. It must import the
//                                      main entry by the package name (Node resolves that to the same files
//                                      through the package's own `exports`).
// <out>/apps/<app>/...                 every app under apps/, compiled against the built package's .d.ts.
// <out>/node_modules/nest-oidc-client-credentials -> ../libs/oidc-client-credentials
//                                      so the built apps' `import 'nest-oidc-client-credentials'` resolves at
//                                      runtime to the package exactly as published, with no extra step.
//
// The build fails when the compiled package imports a package its manifest does not declare, or declares
// a dependency it never imports, so the published dependency lists stay truthful.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIB_NAME = 'nest-oidc-client-credentials';
const LIB_DIR = join(ROOT, 'libs/oidc-client-credentials');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** Files the package ships besides the compiled code, by their name in the package. */
const PACKAGE_FILES = {
  'README.md': join(LIB_DIR, 'README.md'),
  LICENSE: join(ROOT, 'LICENSE'),
};
/** Peers that every Nest library needs at runtime (Nest itself runs on them) without importing them. */
const PEERS_WITHOUT_IMPORT = new Set(['reflect-metadata', 'rxjs']);

const { values: args } = parseArgs({
  options: {
    'out-dir': { type: 'string', default: 'dist' },
    'lib-only': { type: 'boolean', default: false },
  },
});
const OUT = resolve(ROOT, args['out-dir']);
const LIB_OUT = join(OUT, 'libs/oidc-client-credentials');

function log(message) {
  console.log(`build: ${message}`);
}

/**
 * Runs tsc on `base` with overridden compiler options, through a throwaway config that extends it. The
 * config lives inside the repository so that type packages (@types/node) resolve from it as usual.
 */
function tsc(base, compilerOptions, extra = {}) {
  const cache = join(ROOT, 'node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'nocc-build-'));
  try {
    const config = join(dir, 'tsconfig.json');
    writeFileSync(config, JSON.stringify({ extends: base, compilerOptions, ...extra }, null, 2));
    execFileSync(process.execPath, [TSC, '-p', config], { cwd: ROOT, stdio: 'inherit' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function walk(dir, accept) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && accept(entry.name))
    .map((entry) => join(entry.parentPath, entry.name));
}

const isSource = (name) =>
  name.endsWith('.ts') && !name.endsWith('.d.ts') && !/\.(e2e-)?spec\.ts$/.test(name);

async function buildLibrary() {
  rmSync(LIB_OUT, { recursive: true, force: true });
  tsc(join(LIB_DIR, 'tsconfig.lib.json'), { outDir: LIB_OUT });
  const hasTesting = existsSync(join(LIB_DIR, 'testing/index.ts'));
  if (hasTesting) {
    tsc(
      join(LIB_DIR, 'tsconfig.lib.json'),
      {
        rootDir: join(LIB_DIR, 'testing'),
        outDir: join(LIB_OUT, 'testing'),
        paths: { [LIB_NAME]: [join(LIB_OUT, 'index.d.ts')] },
      },
      {
        include: [join(LIB_DIR, 'testing/**/*.ts')],
        exclude: [join(LIB_DIR, 'testing/**/*.spec.ts')],
      },
    );
  }
  writeManifest(hasTesting);
  for (const [file, source] of Object.entries(PACKAGE_FILES)) {
    if (existsSync(source)) copyFileSync(source, join(LIB_OUT, file));
    else
      console.warn(`build: ${relative(ROOT, source)} missing; the package ships without ${file}`);
  }
  await checkDependencies();
  log(`package ${relative(ROOT, LIB_OUT)}`);
}

function writeManifest(hasTesting) {
  const source = JSON.parse(readFileSync(join(LIB_DIR, 'package.json'), 'utf8'));
  const entry = (path) => ({ types: `./${path}.d.ts`, default: `./${path}.js` });
  const manifest = {
    ...source,
    main: './index.js',
    types: './index.d.ts',
    exports: {
      '.': entry('index'),
      ...(hasTesting ? { './testing': entry('testing/index') } : {}),
      './package.json': './package.json',
    },
  };
  writeFileSync(join(LIB_OUT, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Package names that the emitted JS and declarations import (static, dynamic and type-only imports). */
async function importedPackages() {
  const { default: ts } = await import('typescript');
  const names = new Set();
  for (const file of walk(LIB_OUT, (name) => name.endsWith('.js') || name.endsWith('.d.ts'))) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, false);
    for (const { fileName: spec } of importedFiles) {
      if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec))
        continue;
      const name = spec.startsWith('@')
        ? spec.split('/').slice(0, 2).join('/')
        : spec.split('/')[0];
      if (name !== LIB_NAME) names.add(name);
    }
  }
  return names;
}

async function checkDependencies() {
  const manifest = JSON.parse(readFileSync(join(LIB_OUT, 'package.json'), 'utf8'));
  const dependencies = Object.keys(manifest.dependencies ?? {});
  const peers = Object.keys(manifest.peerDependencies ?? {});
  const declared = new Set([...dependencies, ...peers]);
  const imported = await importedPackages();
  const problems = [
    ...[...imported]
      .filter((name) => !declared.has(name))
      .map((name) => `imports undeclared "${name}"`),
    ...[...dependencies, ...peers]
      .filter((name) => !imported.has(name) && !PEERS_WITHOUT_IMPORT.has(name))
      .map((name) => `declares "${name}" but never imports it`),
  ];
  if (problems.length > 0) {
    throw new Error(
      `libs/oidc-client-credentials/package.json is out of date: the package ${problems.join(', ')}`,
    );
  }
}

function buildApps() {
  const appsOut = join(OUT, 'apps');
  rmSync(appsOut, { recursive: true, force: true });
  if (walk(join(ROOT, 'apps'), isSource).length === 0) {
    log('no apps to build');
  } else {
    tsc(join(ROOT, 'tsconfig.apps.json'), {
      outDir: appsOut,
      paths: {
        [LIB_NAME]: [join(LIB_OUT, 'index.d.ts')],
        [`${LIB_NAME}/testing`]: [join(LIB_OUT, 'testing/index.d.ts')],
      },
    });
    log(`apps ${relative(ROOT, appsOut)}`);
  }
  const link = join(OUT, 'node_modules', LIB_NAME);
  rmSync(link, { recursive: true, force: true });
  mkdirSync(dirname(link), { recursive: true });
  // A junction needs no privileges on Windows; elsewhere the type is ignored and the link stays relative.
  const target = process.platform === 'win32' ? LIB_OUT : relative(dirname(link), LIB_OUT);
  symlinkSync(target, link, 'junction');
}

try {
  await buildLibrary();
  if (!args['lib-only']) buildApps();
} catch (error) {
  console.error(`build failed: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';
import { importTimeEffects, readmeLinkProblems, REPOSITORY_URL } from './package-checks.js';

const execFileAsync = promisify(execFile);

/** Runs a command; a failure carries the command's stderr so a broken package is easy to diagnose. */
async function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; shell?: boolean },
): Promise<{ stdout: string }> {
  try {
    return await execFileAsync(file, args, options);
  } catch (error) {
    const { stderr = '', stdout = '' } = error as { stderr?: string; stdout?: string };
    throw new Error(
      `${file} ${args.join(' ')} failed:\n${stderr.slice(-4000)}${stdout.slice(-2000)}`,
      { cause: error },
    );
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const onWindows = process.platform === 'win32';

/** The peers a user's Nest app already has, pinned to the versions this repository is tested with. */
const PEERS = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/axios',
  '@nestjs/platform-express',
  'axios',
  'rxjs',
  'reflect-metadata',
];

/** Public names a user must be able to import from the published package. */
const EXPECTED_EXPORTS = [
  'OidcClientCredentialsModule',
  'TokenProvider',
  'ClientCredentialsHttpService',
  'ClientTokenGuard',
  'TokenVerificationStrategy',
  'OidcClientCredentialsError',
  'TokenRequestError',
];

// Plain JS without decorator syntax, so the same app runs untranspiled as ESM and as CommonJS.
const APP_BODY = `
const issuer = process.env.ISSUER;
class AppModule {}
Module({
  imports: [
    OidcClientCredentialsModule.forRoot({ issuer, clientId: 'pack-app', clientSecret: 'pack secret' }),
  ],
})(AppModule);

const app = await NestFactory.create(AppModule, { logger: ['error'], abortOnError: false });
await app.listen(0, '127.0.0.1');
const token = await app.get(TokenProvider).getToken();
await app.close();
const sub = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
console.log(JSON.stringify({ exports: Object.keys(library), sub }));
`;

const ESM_APP = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import * as library from 'nest-oidc-client-credentials';
import { OidcClientCredentialsModule, TokenProvider } from 'nest-oidc-client-credentials';
${APP_BODY}`;

const CJS_APP = `require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const library = require('nest-oidc-client-credentials');
const { OidcClientCredentialsModule, TokenProvider } = library;
(async () => {
${APP_BODY}
})().catch((error) => { console.error(error); process.exit(1); });`;

// The testing kit as a user's e2e test uses it: the fake ID service gives a Nest app its token.
const TESTING_APP = `import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OidcClientCredentialsModule, TokenProvider } from 'nest-oidc-client-credentials';
import { createTestingOptions, FakeIdService, PATHS } from 'nest-oidc-client-credentials/testing';

const idp = await FakeIdService.start({ clients: { 'kit-app': { secret: 'kit secret' } }, alg: 'ES256' });
class AppModule {}
Module({ imports: [OidcClientCredentialsModule.forRoot(createTestingOptions(idp))] })(AppModule);
const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error'], abortOnError: false });
const claims = await idp.introspect(await app.get(TokenProvider).getToken());
const tokenRequests = idp.requestCount(PATHS.token);
await app.close();
await idp.close();
console.log(JSON.stringify({ sub: claims?.sub, tokenRequests }));
`;

async function installedVersion(name: string): Promise<string> {
  const manifest = await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}

describe('the packed npm package', () => {
  let workDir: string;
  let appDir: string;
  let manifest: Record<string, unknown>;
  /** The package as npm installed it from the tarball. */
  let installedDir: string;
  let idService: FakeIdService;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'nocc-pack-'));
    const buildDir = join(workDir, 'build');
    const packageDir = join(buildDir, 'libs/oidc-client-credentials');
    await run(process.execPath, ['scripts/build.mjs', '--lib-only', '--out-dir', buildDir], {
      cwd: ROOT,
    });
    manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const { stdout } = await run('npm', ['pack', packageDir, '--pack-destination', workDir], {
      cwd: workDir,
      shell: onWindows,
    });
    const tarball = join(workDir, stdout.trim().split('\n').pop() as string);

    appDir = join(workDir, 'app');
    const peers = await Promise.all(
      PEERS.map(async (name) => `${name}@${await installedVersion(name)}`),
    );
    await mkdir(appDir);
    await writeFile(
      join(appDir, 'package.json'),
      JSON.stringify({ name: 'throwaway-app', private: true, type: 'module' }),
    );
    // --prefer-offline: served from npm's cache (filled by `npm ci`) when it can, so it stays fast.
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        tarball,
        ...peers,
      ],
      { cwd: appDir, shell: onWindows },
    );
    installedDir = join(appDir, 'node_modules', 'nest-oidc-client-credentials');
    await writeFile(join(appDir, 'main.mjs'), ESM_APP);
    await writeFile(join(appDir, 'main.cjs'), CJS_APP);
    await writeFile(join(appDir, 'testing.mjs'), TESTING_APP);

    idService = await FakeIdService.start({ clients: { 'pack-app': { secret: 'pack secret' } } });
    // A build, a pack and an install: over a minute on a busy machine. The limit only catches a
    // hang, so it is far beyond that.
  }, 300_000);

  afterAll(async () => {
    await idService?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('declares its entry points, engines and dependencies', () => {
    expect(manifest).toMatchObject({
      name: 'nest-oidc-client-credentials',
      type: 'module',
      main: './index.js',
      types: './index.d.ts',
      license: 'MIT',
      engines: { node: '>=20.19.0' },
      exports: {
        '.': { types: './index.d.ts', default: './index.js' },
        './testing': { types: './testing/index.d.ts', default: './testing/index.js' },
      },
    });
    expect(Object.keys(manifest.peerDependencies as object)).toEqual(
      expect.arrayContaining(['@nestjs/common', '@nestjs/core', 'rxjs', 'reflect-metadata']),
    );
    expect(Object.keys(manifest.dependencies as object)).toEqual(
      expect.arrayContaining(['jose', 'oauth4webapi']),
    );
  });

  it.each([
    [
      'repository',
      { type: 'git', url: `git+${REPOSITORY_URL}.git`, directory: 'libs/oidc-client-credentials' },
    ],
    ['homepage', `${REPOSITORY_URL}#readme`],
    ['bugs', { url: `${REPOSITORY_URL}/issues` }],
    ['sideEffects', false],
  ])('declares %s (one repository URL throughout)', (field, value) => {
    expect(manifest).toHaveProperty([field], value);
  });

  it('ships its own README, with the install line and every peer dependency', async () => {
    const readme = await readFile(join(installedDir, 'README.md'), 'utf8');

    expect(readme).toBe(
      await readFile(join(ROOT, 'libs/oidc-client-credentials/README.md'), 'utf8'),
    );
    expect(readme).toContain('npm install nest-oidc-client-credentials');
    const peers = Object.keys(manifest.peerDependencies as object);
    expect(peers.filter((peer) => !readme.includes(`\`${peer}\``))).toEqual([]);
  });

  it('has a README whose links work on npm: none relative, none to a missing file here', async () => {
    const readme = await readFile(join(installedDir, 'README.md'), 'utf8');

    expect(readmeLinkProblems(readme, { root: ROOT })).toEqual([]);
  });

  it('does nothing when a module is imported, as sideEffects: false tells bundlers', async () => {
    const files = (await readdir(installedDir, { recursive: true })).filter(
      (file) => file.endsWith('.js') && !file.includes('node_modules'),
    );
    const effects = await Promise.all(
      files.map(async (file) =>
        importTimeEffects(await readFile(join(installedDir, file), 'utf8'), file).map(
          (effect) => `${file}: ${effect}`,
        ),
      ),
    );

    expect(files).toContain('index.js');
    expect(effects.flat()).toEqual([]);
  });

  it.each([
    ['ESM', 'main.mjs'],
    ['CommonJS (require of ESM)', 'main.cjs'],
  ])('boots a %s Nest app that imports it by name and gets a token', async (_kind, entry) => {
    const before = idService.requestsTo(PATHS.token).length;
    const { stdout } = await run(process.execPath, [entry], {
      cwd: appDir,
      env: { ...process.env, ISSUER: idService.issuer },
    });
    const result = JSON.parse(stdout.trim().split('\n').pop() as string) as {
      exports: string[];
      sub: string;
    };
    expect(result.exports).toEqual(expect.arrayContaining(EXPECTED_EXPORTS));
    expect(result.sub).toBe('pack-app');
    expect(idService.requestsTo(PATHS.token)).toHaveLength(before + 1);
  });

  it('ships the testing kit: its fake ID service gives an app a token', async () => {
    const { stdout } = await run(process.execPath, ['testing.mjs'], { cwd: appDir });

    expect(JSON.parse(stdout.trim().split('\n').pop() as string)).toEqual({
      sub: 'kit-app',
      tokenRequests: 1,
    });
  });
});

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * Every TypeScript sample of the README, the package README and docs/ that imports the package (or
 * its /testing entry) is a whole module and compiles against the package as a user imports it,
 * next to an app module of the user's (`./app.module.js`, `../src/app.module.js`). Fragments that
 * import nothing of the package (an options object, one call) are prose and are not compiled.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGES = [
  'README.md',
  'libs/oidc-client-credentials/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

interface Sample {
  /** `docs/health.md#2`: the page and the sample's place among its TypeScript blocks. */
  name: string;
  code: string;
}

function samplesOf(page: string): Sample[] {
  const text = readFileSync(join(ROOT, page), 'utf8');
  const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  return blocks
    .map((code, index) => ({ name: `${page}#${index + 1}`, code }))
    .filter(({ code }) => /^import [^;]*'nest-oidc-client-credentials(\/testing)?';$/m.test(code));
}

const SAMPLES = PAGES.flatMap(samplesOf);
// Inside the repository, so the samples resolve the package and node_modules as the project does.
const DIR = join(ROOT, 'test/docs', `.samples-${process.pid}`);
let diagnostics: Map<string, string[]>;

beforeAll(() => {
  // The user's own app module, which samples of a test or a main.ts import.
  const appModule =
    "import { Module } from '@nestjs/common';\n@Module({})\nexport class AppModule {}\n";
  for (const dir of ['samples', 'src']) {
    mkdirSync(join(DIR, dir), { recursive: true });
    writeFileSync(join(DIR, dir, 'app.module.ts'), appModule);
  }
  const files = SAMPLES.map(({ name, code }, index) => {
    const file = join(DIR, 'samples', `sample-${index}.ts`);
    writeFileSync(file, `// ${name}\n${code}\nexport {};\n`);
    return { name, file };
  });
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error('tsconfig.json could not be read');
  // Samples show one thing each: an import they do not use is not a mistake in a doc.
  const options = {
    ...config.options,
    noEmit: true,
    noUnusedLocals: false,
    noUnusedParameters: false,
  };
  const program = ts.createProgram(
    files.map(({ file }) => file),
    options,
  );
  diagnostics = new Map(
    files.map(({ name, file }) => {
      const source = program.getSourceFile(file);
      const found = source
        ? [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]
        : [];
      return [
        name,
        found.map((d) => {
          const line =
            d.start === undefined ? 0 : source!.getLineAndCharacterOfPosition(d.start).line;
          return `line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
        }),
      ];
    }),
  );
  // Type-checking every sample takes half a minute on a busy machine; the limit only catches a hang.
}, 300_000);

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe('documentation code samples', () => {
  it('finds the samples of the README and of every docs page with code', () => {
    const pages = new Set(SAMPLES.map(({ name }) => name.split('#')[0]));
    expect(pages).toContain('README.md');
    expect(pages).toContain('libs/oidc-client-credentials/README.md');
    expect(SAMPLES.length).toBeGreaterThanOrEqual(15);
  });

  it.each(SAMPLES.map(({ name }) => [name]))('%s compiles against the package', (name) => {
    expect({ sample: name, errors: diagnostics.get(name) }).toEqual({ sample: name, errors: [] });
  });
});

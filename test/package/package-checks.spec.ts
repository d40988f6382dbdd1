import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importTimeEffects, readmeLinkProblems, REPOSITORY_URL } from './package-checks.js';

const REPO = REPOSITORY_URL;

describe('readmeLinkProblems: the links of the README npm shows', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'nocc-readme-links-'));
    await mkdir(join(root, 'docs'));
    await mkdir(join(root, 'apps'));
    await writeFile(join(root, 'docs/options.md'), '# Options\n\n## Inbound verification\n');
    await writeFile(join(root, 'apps/README.md'), '# Apps\n');
  });

  afterAll(() => rm(root, { recursive: true, force: true }));

  it.each([
    ['relative-doc-link', '[Options](docs/options.md)', 'docs/options.md: relative link'],
    ['relative-dot-link', '[Demo](./apps/README.md "the demo")', './apps/README.md: relative link'],
    ['relative-image', '![logo](logo.png)', 'logo.png: relative link'],
    ['relative-reference-definition', '[opts]: docs/options.md', 'docs/options.md: relative link'],
    ['relative-html-href', '<a href="apps/README.md">demo</a>', 'apps/README.md: relative link'],
    ['unknown-own-anchor', '## Install\n\n[up](#instal)', '#instal: no heading has this anchor'],
    [
      'missing-repository-file',
      `[gone](${REPO}/blob/main/docs/gone.md)`,
      'docs/gone.md does not exist in this repository',
    ],
    [
      'missing-repository-folder',
      `see ${REPO}/tree/main/examples.`,
      'examples does not exist in this repository',
    ],
    [
      'missing-repository-section',
      `[x](${REPO}/blob/main/docs/options.md#outbound)`,
      'docs/options.md has no heading #outbound',
    ],
    [
      'other-branch',
      `[x](${REPO}/blob/v1/docs/options.md)`,
      'points into the repository, but not at blob/main/ or tree/main/',
    ],
    ['unknown-repository-anchor', `[x](${REPO}#install)`, 'unknown anchor'],
  ])('%s is reported', (_case, markdown, problem) => {
    const problems = readmeLinkProblems(markdown, { root });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(problem);
  });

  it.each([
    ['repository-file', `[Options](${REPO}/blob/main/docs/options.md)`],
    ['repository-section', `<${REPO}/blob/main/docs/options.md#inbound-verification>`],
    ['repository-folder', `[apps](${REPO}/tree/main/apps)`],
    ['repository-home-and-issues', `[home](${REPO}#readme), [bugs](${REPO}/issues)`],
    ['elsewhere', '[RFC 6749](https://www.rfc-editor.org/rfc/rfc6749#section-4.4)'],
    ['own-anchor', '## Install\n\n[up](#install)'],
    ['code-block', '```ts\nconst x = list[0](docs);\n[a]: docs/a.md\n```'],
    ['code-span', 'call `handlers[0](./local.md)` first'],
  ])('%s passes', (_case, markdown) => {
    expect(readmeLinkProblems(markdown, { root })).toEqual([]);
  });
});

describe('importTimeEffects: what a compiled module does when imported', () => {
  it.each([
    ['bare-import', `import 'reflect-metadata';`, 'bare import'],
    ['top-level-call', `import { register } from 'x';\nregister('a');`, 'top-level statement'],
    ['global-assignment', 'globalThis.flag = true;', 'top-level statement'],
    ['prototype-patch', 'Array.prototype.last = function () {};', 'top-level statement'],
    ['top-level-if', 'if (process.env.X) setUp();', 'top-level statement'],
    [
      'decorating-a-foreign-class',
      `import { Foo } from './foo.js';\n__decorate([Inject(X)], Foo.prototype, 'x', void 0);`,
      'top-level statement',
    ],
    ['static-block', 'export class A { static { register(A); } }', 'static block'],
  ])('%s is reported', (_case, source, effect) => {
    const effects = importTimeEffects(source);

    expect(effects).toHaveLength(1);
    expect(effects[0]).toMatch(new RegExp(`^${effect}: `));
  });

  it.each([
    ['decorated-class', 'let A = class A {};\nA = __decorate([Injectable()], A);\nexport { A };'],
    [
      'decorated-class-with-alias',
      'var A_1;\nlet A = A_1 = class A {};\nA = A_1 = __decorate([Injectable()], A);',
    ],
    [
      'decorated-member',
      `class A {}\n__decorate([Inject(X), __metadata('design:type', X)], A.prototype, 'x', void 0);`,
    ],
    [
      'module-values',
      `import { x } from 'y';\nconst S = new Set(['a']);\nexport const T = Symbol('t');\nexport function f() { g(); }`,
    ],
    ['static-block-in-a-function', 'export function f() { return class { static { g(); } }; }'],
  ])('%s passes', (_case, source) => {
    expect(importTimeEffects(source)).toEqual([]);
  });
});

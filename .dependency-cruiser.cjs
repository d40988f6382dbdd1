// The library's part boundaries (docs/architecture.md), checked by `npm run lint:deps` in CI.
const LIB = '^libs/oidc-client-credentials/src/';
const SPEC = '\\.spec\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles anywhere: a cycle means two files are one idea, or a part is upside down.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'library-not-to-apps-or-tests',
      severity: 'error',
      comment: 'The published library never imports the apps, the e2e tests or the benchmarks.',
      from: { path: '^libs/', pathNot: SPEC },
      to: { path: '^(apps|test|benchmarks|scripts)/' },
    },
    {
      name: 'testing-kit-through-the-package-name',
      severity: 'error',
      comment:
        'The /testing entry uses the library as a user does: by its package name, not its files.',
      from: { path: '^libs/oidc-client-credentials/testing/' },
      to: { path: LIB, pathNot: `${LIB}index\\.ts$` },
    },
    {
      name: 'apps-and-tests-through-the-package-name',
      severity: 'error',
      comment: 'Apps, e2e tests and benchmarks import the library by its package name only.',
      from: { path: '^(apps|test|benchmarks)/' },
      to: {
        path: '^libs/oidc-client-credentials/(src|testing)/',
        pathNot: '^libs/oidc-client-credentials/(src|testing)/index\\.ts$',
      },
    },
    {
      name: 'strategies-not-to-inbound',
      severity: 'error',
      comment:
        'A strategy verifies a token; it knows nothing of the guard, transports or decorators.',
      from: { path: `${LIB}strategies/` },
      to: { path: `${LIB}inbound/` },
    },
    {
      name: 'outbound-not-to-inbound',
      severity: 'error',
      comment:
        'Outbound and inbound meet only in idp/, cache/, options/, errors/ and observability/.',
      from: { path: `${LIB}outbound/` },
      to: { path: `${LIB}(inbound|strategies)/` },
    },
    {
      name: 'inbound-not-to-outbound',
      severity: 'error',
      comment:
        'Outbound and inbound meet only in idp/, cache/, options/, errors/ and observability/.',
      from: { path: `${LIB}(inbound|strategies)/` },
      to: { path: `${LIB}outbound/` },
    },
    {
      name: 'shared-parts-not-to-a-side',
      severity: 'error',
      comment:
        'The shared parts sit below both sides. Only the health indicator, which reports on both, reads them.',
      from: {
        path: `${LIB}(idp|cache|errors|observability|proof-of-possession)/`,
        pathNot: `${LIB}observability/[^/]+\\.health\\.ts$|${SPEC}`,
      },
      to: { path: `${LIB}(inbound|outbound|strategies)/` },
    },
    {
      name: 'options-not-to-a-side',
      severity: 'error',
      comment: 'The options sit below both sides.',
      from: { path: `${LIB}options/`, pathNot: SPEC },
      to: { path: `${LIB}(inbound|outbound)/` },
    },
    {
      name: 'options-name-a-strategy-by-type-only',
      severity: 'error',
      comment:
        'verification.strategy takes a TokenVerificationStrategy: the options may name its type, never run its code.',
      from: { path: `${LIB}options/`, pathNot: SPEC },
      to: { path: `${LIB}strategies/`, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'parts-not-to-the-module',
      severity: 'error',
      comment:
        'The module and the barrel at the root assemble the parts; no part imports them back (the module definition, which only declares the options token, excepted).',
      from: { path: `${LIB}[^/]+/`, pathNot: SPEC },
      to: { path: `${LIB}(index|oidc-client-credentials\\.module)\\.ts$` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs'],
    },
  },
};

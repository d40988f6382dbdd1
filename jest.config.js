/** Jest runs natively as ESM (NestJS 12, jose 6 and oauth4webapi are ESM-only); swc compiles TypeScript. */
export default {
  rootDir: '.',
  testEnvironment: 'node',
  roots: ['<rootDir>/libs', '<rootDir>/apps', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  moduleNameMapper: {
    '^nest-oidc-client-credentials$': '<rootDir>/libs/oidc-client-credentials/src/index.ts',
    '^nest-oidc-client-credentials/testing$':
      '<rootDir>/libs/oidc-client-credentials/testing/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testTimeout: 20000,
  maxWorkers: 2,
};

// Jest runs in native ESM mode because @nestjs/* 12 ship as ES modules.
const tsJest = [
  'ts-jest',
  { useESM: true, tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } },
];
const aliases = {
  '^@app/(common|config|database|tenancy|scanning|file-storage|fhir|audit)$': '<rootDir>/libs/$1/src/index.ts',
  '^(\\.{1,2}/.*)\\.js$': '$1',
};
const common = {
  rootDir: '.',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': tsJest },
  moduleNameMapper: aliases,
  testEnvironment: 'node',
};
export default {
  // Global in Jest 29: e2e tests start real servers (clamd, the app) per file.
  testTimeout: 30_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.int-spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'], testPathIgnorePatterns: ['/scanning\\.'] },
    {
      // The file, FHIR, attachment-redirect and refusal suites again, on S3 (Ceph RGW) with every upload scanned by a real clamd.
      ...common,
      displayName: 'e2e-s3-clamav',
      globals: { E2E_PROFILE: 's3-clamav' },
      testMatch: ['<rootDir>/test/e2e/{files,scanning,fhir,fhir-attachments,fhir-binary,fhir-bundles,fhir-writes,refusals,crash,audit}.e2e-spec.ts'],
    },
    {
      // Three replicas of the built service behind haproxy, restarted one by one under traffic.
      ...common,
      displayName: 'cluster',
      testMatch: ['<rootDir>/test/cluster/**/*.cluster-spec.ts'],
    },
  ],
};

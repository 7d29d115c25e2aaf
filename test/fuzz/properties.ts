/**
 * Every fuzz property, shared by the quick run inside `npm test` (test/integration/fuzz-*.test.ts) and the
 * long run (`npm run fuzz`, test/fuzz/run.ts). A property starts what it needs (an in-process
 * pipeline, the real binary…), hands fast-check a property, counts outcomes, and stops.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { CONFIG, GRPC_STATUS_NAME, checkConfig, sidecarDir, startBinaryUnderFuzz } from './binary.js';
import { CONFIG_SEEDS, POLICY_SEEDS, documentArbitrary, loadConfigText, loadPolicy, renderDocument } from './documents.js';
import { encodeEnvoyRequest } from './envoy-codec.js';
import {
  applyByteEdits,
  byteEdits,
  checkAllowIsJustified,
  cleanCase,
  cleanRequest,
  envoyCheckRequest,
  materialize,
  nestedBytes,
  requestFacts,
  startPipeline,
  type Pipeline,
} from './requests.js';
import { applyByteMutation, byteMutation, expectedForSigned, jsonEdit, resign, startTokenWorld, type TokenWorld } from './tokens.js';
import { decodeCheckRequest } from '../../src/grpc/wire/index.js';

export type Stats = Map<string, number>;
const isJsonObject = (line: string) => {
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
};
const bump = (stats: Stats, key: string) => stats.set(key, (stats.get(key) ?? 0) + 1);

export interface StartedProperty {
  readonly property: fc.IRawProperty<any, boolean>;
  readonly stats: Stats;
  /** Runs after the cases (e.g. "the process is still serving"); throws on failure. */
  readonly afterAll?: () => Promise<void>;
  close(): Promise<void> | void;
}

export interface FuzzProperty {
  readonly name: string;
  /** Cases in the quick run. */
  readonly quick: number;
  /** Cases per million in the long run (FUZZ_CASES scales them). */
  readonly perMillion: number;
  start(): Promise<StartedProperty>;
}

// Shared, lazily started fixtures: one pipeline and one token world per process.
let pipeline: Promise<Pipeline> | undefined;
let world: Promise<TokenWorld> | undefined;
const sharedPipeline = () => (pipeline ??= startPipeline());
const sharedWorld = () => (world ??= startTokenWorld());
export function closeShared(): void {
  void pipeline?.then((p) => p.close());
  void world?.then((w) => w.close());
  pipeline = world = undefined;
}

/** A document outcome as a small set of buckets: loaded, a YAML syntax error, or the top-level field refused. */
const documentOutcome = (outcome: ReturnType<typeof loadPolicy>) =>
  outcome.loaded
    ? 'loaded'
    : outcome.syntax
      ? 'refused:syntax'
      : `refused:${/^[A-Za-z]+$/.test(outcome.field.split(/[.[]/)[0]) ? outcome.field.split(/[.[]/)[0] : outcome.field === '' ? '(document)' : '(other key)'}`;
const outcomeKey = (result: Awaited<ReturnType<Pipeline['run']>>) =>
  'undecodable' in result ? `undecodable:${result.undecodable.code}` : `${result.judged.allow ? 'allow' : 'deny'}:${result.judged.reason}`;

export const PROPERTIES: readonly FuzzProperty[] = [
  {
    name: 'check-request/structured',
    quick: 1000,
    perMillion: 170_000,
    async start() {
      const p = await sharedPipeline();
      const stats: Stats = new Map();
      const property = fc.asyncProperty(envoyCheckRequest, async (generated) => {
        const request = materialize(generated, p.validToken);
        const bytes = encodeEnvoyRequest(request);
        const result = await p.run(bytes);
        // Bytes Envoy's own encoder produced must always decode.
        if ('undecodable' in result) throw new Error(`the sidecar's decoder refused bytes Envoy's encoder produced: ${result.undecodable.message}`);
        checkAllowIsJustified(result.judged, request, p.validToken);
        bump(stats, outcomeKey(result));
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'check-request/exact-decisions',
    quick: 500,
    perMillion: 60_000,
    async start() {
      const p = await sharedPipeline();
      const stats: Stats = new Map();
      const property = fc.asyncProperty(cleanCase, async (c) => {
        const { request, expect } = cleanRequest(c, p.validToken);
        const result = await p.run(encodeEnvoyRequest(request));
        if ('undecodable' in result) throw new Error('a clean request did not decode');
        const { judged } = result;
        const reasonOk = expect.reason.endsWith('*') ? judged.reason.startsWith(expect.reason.slice(0, -1)) : judged.reason === expect.reason;
        if (judged.allow !== expect.allow || !reasonOk || (expect.rule !== undefined && judged.rule !== expect.rule))
          throw new Error(
            `expected ${expect.allow ? 'allow' : 'deny'} ${expect.reason} ${expect.rule ?? ''}, got ${judged.allow ? 'allow' : 'deny'} ${judged.reason} ${judged.rule ?? ''}`,
          );
        bump(stats, `${judged.allow ? 'allow' : 'deny'}:${judged.reason}`);
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'check-request/mutated-bytes',
    quick: 1500,
    perMillion: 230_000,
    async start() {
      const p = await sharedPipeline();
      const stats: Stats = new Map();
      const base = fc.oneof(
        envoyCheckRequest.map((r) => materialize(r, p.validToken)),
        cleanCase.map((c) => cleanRequest(c, p.validToken).request),
      );
      const property = fc.asyncProperty(base, byteEdits, async (request, edits) => {
        const bytes = applyByteEdits(encodeEnvoyRequest(request), edits);
        const result = await p.run(bytes);
        if (!('undecodable' in result)) checkAllowIsJustified(result.judged, decodeCheckRequest(bytes), p.validToken);
        bump(stats, outcomeKey(result));
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'check-request/random-bytes',
    quick: 1500,
    perMillion: 330_000,
    async start() {
      const p = await sharedPipeline();
      const stats: Stats = new Map();
      const bytes = fc.oneof(
        { weight: 6, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)) },
        // A plausible start (attributes, request, http) followed by noise.
        {
          weight: 3,
          arbitrary: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.concat([Buffer.from([0x0a, b.length + 4, 0x22, b.length + 2, 0x12, b.length]), b])),
        },
        {
          weight: 1,
          arbitrary: fc.tuple(fc.integer({ min: 1, max: 400 }), fc.constantFrom(0x0a, 0x22, 0x12, 0x6a)).map(([depth, tag]) => nestedBytes(depth, tag)),
        },
      );
      const property = fc.asyncProperty(bytes, async (input) => {
        const result = await p.run(input);
        if (!('undecodable' in result)) checkAllowIsJustified(result.judged, decodeCheckRequest(input), p.validToken);
        bump(stats, outcomeKey(result));
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'tokens/forged',
    quick: 1500,
    perMillion: 120_000,
    async start() {
      const w = await sharedWorld();
      const stats: Stats = new Map();
      const others = w.issuers.map((i) => i.token);
      const property = fc.asyncProperty(fc.nat(w.issuers.length - 1), fc.array(byteMutation, { minLength: 1, maxLength: 3 }), async (which, mutations) => {
        const issuer = w.issuers[which];
        const token = mutations.reduce((t, m) => applyByteMutation(t, m, others), issuer.token);
        const outcome = await w.authenticate(token);
        // The same token, once OWS around the header value (HTTP, not the token) is trimmed.
        const same = token.replace(/^[ \t]+|[ \t]+$/g, '') === issuer.token;
        if (outcome === 'accepted' && !same) throw new Error(`a mutated ${issuer.alg} token was accepted: ${JSON.stringify(token).slice(0, 400)}`);
        if (outcome === 'anonymous' && !same && token.trim() !== '') throw new Error('a mutated token was read as no token at all');
        if ((await w.authenticate(issuer.token)) !== 'accepted') throw new Error(`the valid ${issuer.alg} token is no longer accepted`);
        bump(stats, same ? 'unchanged' : outcome);
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'tokens/resigned-json',
    quick: 800,
    perMillion: 50_000,
    async start() {
      const w = await sharedWorld();
      const stats: Stats = new Map();
      const property = fc.asyncProperty(fc.nat(w.issuers.length - 1), fc.nat(1), jsonEdit, async (which, segment, edit) => {
        const issuer = w.issuers[which];
        const { token, edited } = resign(issuer, segment, edit);
        const header = segment === 0 ? edited.text : issuer.headerJson;
        const payload = segment === 1 ? edited.text : issuer.payloadJson;
        const expected = expectedForSigned(issuer, header, payload, edited.structural, w.nowSeconds);
        const outcome = await w.authenticate(token);
        const accepted = outcome === 'accepted';
        if (expected === 'refuse' && accepted)
          throw new Error(`accepted a ${issuer.alg} token that must be refused: header ${header.slice(0, 200)} payload ${payload.slice(0, 300)}`);
        if (expected === 'accept' && !accepted)
          throw new Error(`refused (${outcome}) a ${issuer.alg} token that must be accepted: header ${header.slice(0, 200)} payload ${payload.slice(0, 300)}`);
        bump(stats, `${expected}:${outcome}`);
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'documents/policy',
    quick: 300,
    perMillion: 12_000,
    async start() {
      const stats: Stats = new Map();
      const property = fc.property(documentArbitrary(POLICY_SEEDS), (spec) => {
        const outcome = loadPolicy(renderDocument(POLICY_SEEDS, spec, (t) => parse(t)));
        bump(stats, documentOutcome(outcome));
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'documents/config',
    quick: 400,
    perMillion: 25_000,
    async start() {
      const stats: Stats = new Map();
      const property = fc.property(documentArbitrary(CONFIG_SEEDS), (spec) => {
        const outcome = loadConfigText(renderDocument(CONFIG_SEEDS, spec, (t) => parse(t)));
        bump(stats, documentOutcome(outcome));
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
  {
    name: 'binary/grpc-raw',
    quick: 200,
    perMillion: 3_000,
    async start() {
      const b = await startBinaryUnderFuzz();
      const stats: Stats = new Map();
      const structured = envoyCheckRequest.map((r) => encodeEnvoyRequest(materialize(r, b.validToken)));
      const bytes = fc.oneof(
        { weight: 4, arbitrary: structured },
        { weight: 3, arbitrary: fc.tuple(structured, byteEdits).map(([r, e]) => applyByteEdits(r, e)) },
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 1024 }).map((u) => Buffer.from(u)) },
        { weight: 1, arbitrary: fc.integer({ min: 40, max: 200 }).map((depth) => nestedBytes(depth, 0x0a)) },
        // Around and over grpc.maxMessageBytes: one big header value, or plain noise.
        {
          weight: 1,
          arbitrary: fc.integer({ min: -200, max: 150_000 }).map((extra) =>
            encodeEnvoyRequest({
              attributes: { request: { http: { method: 'GET', path: '/public', headers: { 'x-big': 'b'.repeat(Math.max(0, 65_000 + extra)) } } } },
            }),
          ),
        },
        { weight: 1, arbitrary: fc.integer({ min: 65_537, max: 300_000 }).map((n) => Buffer.alloc(n, 0x0a)) },
      );
      const property = fc.asyncProperty(bytes, async (input) => {
        const expected = b.expected(input);
        const outcome = await b.send(input);
        const got = 'response' in outcome ? 'response' : (GRPC_STATUS_NAME[outcome.grpcStatus] ?? String(outcome.grpcStatus));
        if (got !== expected)
          throw new Error(`expected ${expected}, got ${got}${'details' in outcome ? ` (${outcome.details})` : ''} for ${input.length} bytes`);
        if ('response' in outcome) {
          checkAllowIsJustified(outcome.response, decodeCheckRequest(input), b.validToken);
          bump(stats, `response:${outcome.response.allow ? 'allow' : 'deny'}`);
        } else {
          bump(stats, `status:${got}`);
        }
        return true;
      });
      return { property, stats, afterAll: () => b.checkStillServing(), close: () => b.close() };
    },
  },
  {
    name: 'binary/check-config',
    quick: 4,
    perMillion: 40,
    async start() {
      const stats: Stats = new Map();
      const { dir } = sidecarDir();
      const seeds = [CONFIG, ...CONFIG_SEEDS];
      let n = 0;
      const property = fc.asyncProperty(documentArbitrary(seeds), fc.boolean(), async (spec, policyToo) => {
        const file = join(dir, `fuzz-${n++}.yaml`);
        let text = renderDocument(seeds, spec, (t) => parse(t));
        if (policyToo) {
          // The config stays the known-good one; the policy it names is the fuzzed document.
          const policy = renderDocument(POLICY_SEEDS, { ...spec, seed: spec.seed % POLICY_SEEDS.length }, (t) => parse(t));
          writeFileSync(join(dir, `fuzz-${n}.policy.yaml`), policy);
          text = CONFIG.replace('policy: { file: policy.yaml }', `policy: { file: fuzz-${n}.policy.yaml }`);
        }
        // Only loopback is ever contacted: any URL a mutation produced points at a closed local port.
        writeFileSync(
          file,
          text.replace(/(https?:\/\/)[^/\s"',}\]]*/g, (_, scheme: string) => `${scheme}127.0.0.1:9`),
        );
        const { code, stdout, stderr } = await checkConfig(file);
        if (code === 0) {
          if (!stdout.endsWith(`\n${file}: ok\n`) || stderr !== '')
            throw new Error(`exit 0 but stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)}`);
          bump(stats, 'ok');
          return true;
        }
        if (code !== 2) throw new Error(`exit code ${code}; stderr ${JSON.stringify(stderr).slice(0, 300)}`);
        const lines = stderr.split('\n');
        if (lines.length !== 2 || lines[1] !== '' || !lines[0].startsWith('authz-sidecar: ') || /[\r\u000b\u000c\u0085\u2028\u2029]/.test(lines[0]))
          throw new Error(`stderr is not one line: ${JSON.stringify(stderr).slice(0, 300)}`);
        // Start-up log lines (keys loaded before the policy failed) may precede; nothing else.
        const notLog = stdout.split('\n').filter((line) => line !== '' && !isJsonObject(line));
        if (notLog.length > 0) throw new Error(`exit 2 with stdout that is not log lines: ${JSON.stringify(notLog).slice(0, 200)}`);
        bump(stats, 'exit 2, one line');
        return true;
      });
      return { property, stats, close: () => {} };
    },
  },
];

/** Quick-run seed: fixed so `npm test` is reproducible; FUZZ_SEED overrides it. */
const QUICK_SEED = 20_240_601;

/** The quick run of one property, as a node:test body: throws fast-check's report (seed, path, counterexample) on failure. */
export async function runQuick(name: string, diagnostic: (message: string) => void): Promise<void> {
  const definition = PROPERTIES.find((p) => p.name === name);
  if (definition === undefined) throw new Error(`no property ${name}`);
  const started = await definition.start();
  try {
    const numRuns = Number(process.env.FUZZ_QUICK_CASES ?? definition.quick);
    const seed = Number(process.env.FUZZ_SEED ?? QUICK_SEED);
    await fc.assert(started.property, { numRuns, seed, includeErrorInReport: true });
    await started.afterAll?.();
    diagnostic(
      `${name}: ${numRuns} cases, seed ${seed}; ${[...started.stats]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
  } finally {
    await started.close();
  }
}

export { requestFacts };

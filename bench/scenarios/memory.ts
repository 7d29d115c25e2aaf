/**
 * Memory with a full token cache: a sidecar with tokenCache.maxEntries = N is fed N distinct
 * tokens (each verified and cached), then N/2 more. RSS is read from /proc after each feed.
 * The bound is shown by probing afterwards: the most recent tokens must be cache hits and
 * the ones just past the N most recent must be misses (evicted), and the
 * `authz_token_cache_entries` gauge must not exceed N.
 */
import { metricValue, readMetrics, rssBytes, startSidecar, type Target } from '../processes.js';
import { ALLOWED_BY_RULE } from '../checks.js';
import { runRotating } from '../load/rotating.js';
import { IDLE_MS, SETTLE_MS } from '../../src/runtime/idle-gc.js';
import { policyText } from '../policies/generate.js';
import { checkRequestBody } from '../request.js';
import { minterFor } from '../../testkit/tokens.js';
import { fmt, table, type Context, type ScenarioOutput } from './context.js';
import { setTimeout as sleep } from 'node:timers/promises';

const MiB = 1024 * 1024;

export async function memory(ctx: Context): Promise<ScenarioOutput> {
  const { options: o, ledger } = ctx;
  const capacity = o.cachedTokens;
  const extra = capacity / 2;
  const probe = Math.max(10, capacity / 100);
  // Long enough for both of the sidecar's idle collections (the second SETTLE_MS after the
  // first, which comes 1–2 idle intervals after the feed). The smoke run proves the harness,
  // not the figure: no need to wait for them.
  const settleMs = o.smoke ? 1_000 : 2 * IDLE_MS + SETTLE_MS + 3_000;
  const wait = `${Math.round(settleMs / 1000)} s`;
  // Calls complete out of order by up to the number in flight: keep the probes clear of the boundary.
  const gap = 2 * o.connections * o.streams;
  const sidecar = await startSidecar('sidecar-memory', { policy: policyText({ rules: 50 }), tokenCacheEntries: capacity });
  try {
    const minter = minterFor();
    ctx.progress(`minting ${(capacity + extra).toLocaleString('en')} tokens`);
    const tokens = Array.from({ length: capacity + extra }, () => minter.mint());
    await ledger.precheck(sidecar, checkRequestBody({ token: minter.mint() }), ALLOWED_BY_RULE, 'memory warm-up token');
    await sleep(500);
    const idle = rssBytes(sidecar.pid);

    const feed = async (from: number, to: number) => {
      const result = await runRotating({
        port: sidecar.port,
        connections: o.connections,
        streams: o.streams,
        requests: to - from,
        body: (i) => checkRequestBody({ token: tokens[from + i] }),
      });
      if (result.failed > 0) throw new Error(`sidecar-memory: ${result.failed} calls failed, first: ${result.firstFailure}`);
    };
    const cache = async () => {
      const m = await readMetrics(sidecar.adminUrl!);
      return {
        hits: metricValue(m, 'authz_token_cache_total', { result: 'hit' }),
        misses: metricValue(m, 'authz_token_cache_total', { result: 'miss' }),
        entries: metricValue(m, 'authz_token_cache_entries', { issuer: 'idp' }),
        heap: metricValue(m, 'authz_nodejs_heap_size_used_bytes'),
        heapCommitted: metricValue(m, 'authz_nodejs_heap_size_total_bytes'),
      };
    };

    ctx.progress(`memory: feeding ${capacity.toLocaleString('en')} distinct tokens`);
    const start = await cache();
    await feed(0, capacity);
    const full = await settle(sidecar, cache, settleMs);
    if (full.counts.misses - start.misses < capacity)
      throw new Error(`sidecar-memory: ${full.counts.misses - start.misses} cache misses for ${capacity} new tokens`);
    ledger.note(
      `sidecar-memory: ${capacity.toLocaleString('en')} distinct tokens → ${(full.counts.misses - start.misses).toLocaleString('en')} token-cache misses (each verified once, then cached)`,
    );

    ctx.progress(`memory: feeding ${extra.toLocaleString('en')} more`);
    await feed(capacity, capacity + extra);
    const after = await settle(sidecar, cache, settleMs);

    // Now cached, if the bound holds: tokens[extra …] (the newest `capacity`). Probe recent ones
    // first (a hit evicts nothing), then ones just older than the bound.
    const recent = await probeRange(sidecar, tokens, extra + gap, extra + gap + probe, cache);
    const evicted = await probeRange(sidecar, tokens, extra - gap - probe, extra - gap, cache);
    const bounded = recent.hits === probe && evicted.misses === probe && after.counts.entries <= capacity;
    ledger.note(
      `sidecar-memory: after ${(capacity + extra).toLocaleString('en')} tokens, ${probe} tokens among the newest ${capacity.toLocaleString('en')} → ${recent.hits} cache hits; ` +
        `${probe} tokens ${gap}–${gap + probe} places older than that → ${evicted.misses} misses (evicted)`,
    );

    return {
      rows: {
        'memory-rss': {
          text: `${fmt.mib(full.rss)} ${wait} after the feed (${fmt.mib(full.peak)} after 1 s; idle ${fmt.mib(idle)})`,
          met: full.rss <= 150 * MiB,
        },
        'memory-bound': {
          text: `${bounded ? 'bounded' : 'NOT bounded'}: ${fmt.int(after.counts.entries)} entries; newest ${recent.hits}/${probe} hits, next-older ${evicted.misses}/${probe} evicted; RSS ${fmt.mib(after.rss)} (${after.rss >= full.rss ? '+' : ''}${fmt.mib(after.rss - full.rss)})`,
          met: bounded,
        },
      },
      raw: [
        `### Memory (sidecar with tokenCache.maxEntries ${capacity.toLocaleString('en')}; VmRSS from /proc, heap from /metrics)\n\n` +
          table(
            [
              'point',
              'RSS 1 s after',
              `RSS ${wait} after`,
              `JS heap used (${wait})`,
              `JS heap committed (${wait})`,
              'cache entries',
              'cache hits',
              'cache misses',
            ],
            [
              ['idle, after one Check', fmt.mib(idle), '', '', '', '', '', ''],
              [
                `after ${capacity.toLocaleString('en')} distinct tokens`,
                fmt.mib(full.peak),
                fmt.mib(full.rss),
                fmt.mib(full.counts.heap),
                fmt.mib(full.counts.heapCommitted),
                fmt.int(full.counts.entries),
                fmt.int(full.counts.hits),
                fmt.int(full.counts.misses),
              ],
              [
                `after ${extra.toLocaleString('en')} more`,
                fmt.mib(after.peak),
                fmt.mib(after.rss),
                fmt.mib(after.counts.heap),
                fmt.mib(after.counts.heapCommitted),
                fmt.int(after.counts.entries),
                fmt.int(after.counts.hits),
                fmt.int(after.counts.misses),
              ],
            ],
          ) +
          '\n\nThe bound is read from `authz_token_cache_entries` and shown by probing: hits among the newest tokens, misses just past them.',
      ],
      commands: [],
    };
  } finally {
    await sidecar.stop();
  }
}

/**
 * RSS 1 s after a feed (`peak`: the feed's garbage is still in the heap) and `settleMs` after
 * it (`rss`): by then the sidecar's idle collections have run, so RSS is that of a sidecar
 * holding the tokens, not of one still digesting a flood of verifications. The target is
 * judged on the later figure; both are reported.
 */
async function settle<T>(sidecar: Target, counts: () => Promise<T>, settleMs: number): Promise<{ peak: number; rss: number; counts: T }> {
  await sleep(1_000);
  const peak = rssBytes(sidecar.pid);
  await sleep(Math.max(0, settleMs - 1_000));
  return { peak, rss: rssBytes(sidecar.pid), counts: await counts() };
}

/** Re-sends tokens[from, to) one at a time; how many were cache hits and misses. */
async function probeRange(
  sidecar: Target,
  tokens: string[],
  from: number,
  to: number,
  cache: () => Promise<{ hits: number; misses: number }>,
): Promise<{ hits: number; misses: number }> {
  const before = await cache();
  const result = await runRotating({
    port: sidecar.port,
    connections: 1,
    streams: 1,
    requests: to - from,
    body: (i) => checkRequestBody({ token: tokens[from + i] }),
  });
  if (result.failed > 0) throw new Error(`sidecar-memory probe: ${result.failed} calls failed, first: ${result.firstFailure}`);
  const after = await cache();
  return { hits: after.hits - before.hits, misses: after.misses - before.misses };
}

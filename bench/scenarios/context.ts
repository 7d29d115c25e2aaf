/** What every scenario gets and gives back. */
import type { Ledger } from '../checks.js';
import type { BenchOptions } from '../options.js';
import type { RowId } from '../report.js';
import type { Targets } from '../targets.js';

export interface Context {
  readonly options: BenchOptions;
  readonly ledger: Ledger;
  readonly targets: Targets;
  /** Scratch space: request bodies, h2load logs, sidecar dirs. */
  readonly workDir: string;
  /** Progress lines go to stderr, so stdout stays the table. */
  progress(line: string): void;
}

/** One table cell pair: what was measured (text) and whether it met the target (null: the row has none). */
export interface Measured {
  readonly text: string;
  readonly met: boolean | null;
}

export interface ScenarioOutput {
  readonly rows: Partial<Record<RowId, Measured>>;
  /** Markdown blocks for the raw-figures section. */
  readonly raw: readonly string[];
  /** Commands as run, for the report (h2load command lines). */
  readonly commands: readonly string[];
}

export const fmt = {
  ratio: (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)} ×` : 'n/a'),
  int: (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : 'n/a'),
  us: (x: number) => (Number.isFinite(x) ? (x >= 100 ? `${Math.round(x).toLocaleString('en')} µs` : `${x.toFixed(1)} µs`) : 'n/a'),
  ms: (x: number) => (Number.isFinite(x) ? `${x >= 100 ? Math.round(x) : x.toFixed(1)} ms` : 'n/a'),
  mib: (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`,
};

/** A markdown table from a header row and data rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

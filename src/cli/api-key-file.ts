/**
 * An API key set file (`{ "keys": [entry, …] }`) as the `apikey` commands edit it: read and
 * validated exactly as the sidecar reads it, changed entry by entry (fields they do not know
 * are kept as written), and replaced atomically (write aside, then rename), so a sidecar
 * polling the file never reads half of it.
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { parseApiKeys, type ApiKeySet } from '../keys/index.js';
import { UsageError } from './command.js';

export interface ApiKeyFile {
  readonly file: string;
  /** The entries as written in the file, in order. */
  readonly entries: ReadonlyArray<Record<string, unknown>>;
  /** The same, parsed as the sidecar parses them. */
  readonly set: ApiKeySet;
}

/** Reads and validates a key set file; a missing one is empty when `missingIsEmpty`. */
export function readApiKeyFile(file: string, options: { missingIsEmpty?: boolean } = {}): ApiKeyFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.missingIsEmpty) return { file, entries: [], set: parseApiKeys({ keys: [] }) };
    throw new UsageError(`${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`}`);
  }
  let set: ApiKeySet;
  try {
    set = parseApiKeys(text);
  } catch (error) {
    throw new UsageError(`${file}: ${(error as Error).message}`);
  }
  return { file, entries: (JSON.parse(text) as { keys: Array<Record<string, unknown>> }).keys, set };
}

/**
 * Writes `entries` as the file's new content, after validating them as the sidecar will. The
 * file keeps its mode (a new one gets 0644: it holds hashes, not keys).
 */
export function writeApiKeyFile(file: string, entries: ReadonlyArray<Record<string, unknown>>): void {
  const body = { keys: entries };
  try {
    parseApiKeys(body);
  } catch (error) {
    throw new UsageError(`${file}: the result would be refused: ${(error as Error).message}`);
  }
  let mode = 0o644;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    // A new file.
  }
  const aside = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(aside, JSON.stringify(body, null, 2) + '\n', { mode, flag: 'wx' });
    renameSync(aside, file);
  } catch (error) {
    throw new UsageError(`${file}: cannot write (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** `a,b c` → ["a", "b", "c"]: commas or spaces separate. */
export function listOption(text: string | undefined): string[] {
  return text === undefined ? [] : text.split(/[\s,]+/).filter((s) => s !== '');
}

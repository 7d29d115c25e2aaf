/**
 * The requests file of `authzctl policy replay`: JSON lines, each a recorded Check. A line is
 * either an Envoy CheckRequest in the proto3 JSON mapping (`{"attributes": {...}}`) or a
 * decision-log record as the sidecar publishes it (it has `decision_id`). Blank lines are
 * skipped; anything else is an error naming the file and line.
 */
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { CheckRequest__Output } from '../generated/envoy/service/auth/v3/CheckRequest.js';
import type { DecisionRecord } from '../grpc/index.js';
import { parseStrictJson, readFailure, StrictJsonError, validateDocument } from '../shared/index.js';
import { checkRequestReader, type CheckRequestReader } from './check-request-json.js';
import { UsageError } from './command.js';

/** What a decision-log record holds about the request and the caller: all a replay gets of it. */
export type DecisionLogRequest = Pick<DecisionRecord, 'request_id' | 'reason' | 'method' | 'host' | 'path' | 'subject' | 'issuer' | 'principal'>;

export type RecordedCheck =
  { readonly kind: 'check-request'; readonly request: CheckRequest__Output } | { readonly kind: 'decision-log'; readonly record: DecisionLogRequest };

// Other fields of a record (decision, rule, at, …) are not needed and not checked.
const decisionRecordSchema = z.object({
  decision_id: z.string(),
  request_id: z.string(),
  reason: z.string().min(1),
  method: z.string(),
  host: z.string(),
  path: z.string(),
  subject: z.string().nullable(),
  issuer: z.string().nullable(),
  principal: z.string().nullable(),
}) satisfies z.ZodType<DecisionLogRequest>;

/** Claims and headers nest a little; nothing a CheckRequest or a record holds is deeper than this. */
const MAX_JSON_DEPTH = 32;

/** `file` ("-" for stdin) → its recorded Checks, one at a time, in order; nothing is kept once yielded. */
export async function* readRecordedChecks(file: string, stdin: Readable = process.stdin): AsyncGenerator<RecordedCheck> {
  const name = file === '-' ? 'stdin' : file;
  const input = file === '-' ? stdin : await openFile(file);
  const checkRequest = checkRequestReader();
  let line = 0;
  try {
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      line++;
      if (text.trim() === '') continue;
      yield recordedCheck(text, `${name}:${line}`, checkRequest);
    }
  } catch (error) {
    // A read that fails midway (a directory, an I/O error); the line errors above pass through.
    if (isSystemError(error)) throw new UsageError(`${name}: cannot read: ${readFailure(error)}`);
    throw error;
  } finally {
    if (input !== stdin) input.destroy();
  }
}

async function openFile(file: string): Promise<Readable> {
  try {
    return (await open(file)).createReadStream({ encoding: 'utf8' });
  } catch (error) {
    throw new UsageError(`${file}: cannot read: ${readFailure(error)}`);
  }
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

function recordedCheck(text: string, where: string, checkRequest: CheckRequestReader): RecordedCheck {
  let json: unknown;
  try {
    json = parseStrictJson(text, MAX_JSON_DEPTH);
  } catch (error) {
    const problem = error instanceof StrictJsonError ? error.problem : 'syntax';
    throw new UsageError(
      `${where}: ${problem === 'duplicate_key' ? 'has duplicate member names' : problem === 'too_deep' ? 'is nested too deeply' : 'not valid JSON'}`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`${where}: not a JSON object`);
  if (Object.hasOwn(json, 'decision_id')) return { kind: 'decision-log', record: validateDocument(decisionRecordSchema, json, where) };
  if (Object.hasOwn(json, 'attributes')) return { kind: 'check-request', request: checkRequest(json as Record<string, unknown>, where) };
  throw new UsageError(`${where}: neither a CheckRequest (no "attributes") nor a decision-log record (no "decision_id")`);
}

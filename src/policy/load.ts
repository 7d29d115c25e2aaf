/** Policy documents from text (YAML or JSON) and from files. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { DocumentError, oneLine } from '../config/document-error.js';
import { compilePolicy, type CompileOptions } from './compile.js';
import { validatePolicyDocument, type PolicyDocument } from './schema.js';
import type { CompiledPolicy } from './types.js';

/**
 * Parses and validates a policy document. `file` names it in errors. YAML 1.2 is a
 * superset of JSON, so one parser reads both; duplicate keys are errors.
 */
export function parsePolicy(text: string, file: string): PolicyDocument {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const problem = doc.errors[0];
  if (problem !== undefined) {
    const at = problem.linePos?.[0];
    const where = at ? `line ${at.line}, column ${at.col}` : '';
    throw new DocumentError(file, where, oneLine(problem.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '')));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new DocumentError(file, '', oneLine(error instanceof Error ? error.message : String(error)));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DocumentError(file, '', 'must be a mapping (apiVersion, kind, metadata, spec)');
  }
  return validatePolicyDocument(value, file);
}

/**
 * Reads, validates and compiles a policy file; errors name the file by `path` as given. The revision defaults to the first 12 hex
 * digits of the content's SHA-256. Every failure, including I/O, is a DocumentError.
 */
export function loadPolicyFile(
  path: string,
  revision?: string,
  options: Omit<CompileOptions, 'revision' | 'file'> = {},
): CompiledPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DocumentError(path, '', code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`);
  }
  const doc = parsePolicy(text, path);
  const label = revision ?? createHash('sha256').update(text).digest('hex').slice(0, 12);
  return compilePolicy(doc, { ...options, revision: label, file: path });
}

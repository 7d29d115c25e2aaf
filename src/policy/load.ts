/** Policy documents from text (YAML or JSON) and from files. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DocumentError, locateField, parseYamlOrJson } from '../shared/index.js';
import { compilePolicy, type CompileOptions } from './compile.js';
import { validatePolicyDocument, type PolicyDocument } from './schema.js';
import type { CompiledPolicy } from './types.js';

/** The largest policy text read (the same cap as a signed control-plane document). */
export const MAX_POLICY_BYTES = 4 * 1024 * 1024;

/**
 * Parses and validates a policy document. `file` names it in errors. YAML 1.2 is a
 * superset of JSON, so one parser reads both; duplicate keys are errors.
 */
export function parsePolicy(text: string, file: string): PolicyDocument {
  return readPolicy(text, file);
}

/**
 * parsePolicy, and with `service` a WrongServiceError for another service's policy, placed
 * where metadata.service is written. The parsed text (and with it, for YAML, the syntax tree
 * that says where fields are) is let go before the caller compiles the document.
 */
function readPolicy(text: string, file: string, service?: string): PolicyDocument {
  if (text.length > MAX_POLICY_BYTES) throw new DocumentError(file, '', `is ${text.length} characters (at most ${MAX_POLICY_BYTES})`);
  const raw = parseYamlOrJson(text, file);
  const doc = validatePolicyDocument(raw, file);
  if (service !== undefined && doc.metadata.service !== service)
    throw new WrongServiceError(
      file,
      'metadata.service',
      `is "${doc.metadata.service}" but this sidecar serves "${service}"`,
      locateField(raw, ['metadata', 'service']),
    );
  return doc;
}

/** A valid policy for another service than this sidecar's. */
export class WrongServiceError extends DocumentError {}

/**
 * Reads, validates and compiles a policy file; errors name the file by `path` as given. The revision defaults to the first 12 hex
 * digits of the content's SHA-256. With `service`, another service's policy is a WrongServiceError. Every failure, including I/O,
 * is a DocumentError.
 */
export function loadPolicyFile(
  path: string,
  revision?: string,
  options: Omit<CompileOptions, 'revision' | 'file'> & { service?: string } = {},
): CompiledPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DocumentError(path, '', code === 'ENOENT' ? 'file not found' : `cannot read (${code ?? 'error'})`);
  }
  return compilePolicyText(text, path, { ...options, revision });
}

/** Parses, validates and compiles policy text; the revision defaults to a content hash. */
export function compilePolicyText(
  text: string,
  file: string,
  options: Omit<CompileOptions, 'revision' | 'file'> & { revision?: string | undefined; service?: string } = {},
): CompiledPolicy {
  const { revision, service, ...compileOptions } = options;
  const doc = readPolicy(text, file, service);
  const label = revision ?? createHash('sha256').update(text).digest('hex').slice(0, 12);
  return compilePolicy(doc, { ...compileOptions, revision: label, file });
}

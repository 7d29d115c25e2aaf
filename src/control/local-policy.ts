import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DocumentError } from '../config/document-error.js';
import { compilePolicy, parsePolicy } from '../policy/index.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { PolicyStore } from '../policy/store.js';
import { watchFile, type FileWatcher } from './file-watcher.js';

export type PolicyEvent =
  | { type: 'policy-loaded'; name: string; revision: string; rules: number; file: string }
  | { type: 'policy-rejected'; file: string; code: 'policy_invalid' | 'policy_unreadable' | 'policy_wrong_service'; message: string };

/** Revision of a local policy: a short content hash, so identical files have identical revisions. */
export function contentRevision(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

function compileFile(bytes: Buffer, file: string, service: string): CompiledPolicy {
  const doc = parsePolicy(bytes.toString('utf8'), file);
  if (doc.metadata.service !== service)
    throw new DocumentError(file, 'metadata.service', `is "${doc.metadata.service}" but this sidecar serves "${service}"`);
  return compilePolicy(doc, { revision: contentRevision(bytes) });
}

/**
 * Loads the policy file into the store (throwing a DocumentError if the first load fails,
 * so start-up stops with a message naming the file and field), then polls it: a valid
 * change is compiled off the request path and swapped in whole; an invalid one leaves
 * the policy in force and is reported.
 */
export function startLocalPolicy(options: {
  file: string;
  service: string;
  intervalMs: number;
  store: PolicyStore;
  onEvent: (event: PolicyEvent) => void;
}): FileWatcher {
  const { file, service, store, onEvent } = options;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new DocumentError(file, '', `cannot read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const apply = (policy: CompiledPolicy) => {
    store.swap(policy);
    onEvent({ type: 'policy-loaded', name: policy.name, revision: policy.revision, rules: policy.ruleCount, file });
  };
  apply(compileFile(bytes, file, service));
  return watchFile(
    file,
    options.intervalMs,
    bytes,
    (next) => {
      try {
        apply(compileFile(next, file, service));
      } catch (error) {
        const wrongService = error instanceof DocumentError && error.field === 'metadata.service';
        onEvent({ type: 'policy-rejected', file, code: wrongService ? 'policy_wrong_service' : 'policy_invalid', message: (error as Error).message });
      }
    },
    (error) => onEvent({ type: 'policy-rejected', file, code: 'policy_unreadable', message: `${file}: cannot read: ${error.code ?? error.message}` }),
  );
}

import { DocumentError, errorCode, FilePoller } from '../shared/index.js';
import { compilePolicyText, WrongServiceError } from './load.js';
import type { CompiledPolicy } from './types.js';

export type PolicyEvent =
  | { type: 'policy-loaded'; name: string; revision: string; rules: number; file: string }
  | { type: 'policy-rejected'; file: string; code: 'policy_invalid' | 'policy_unreadable' | 'policy_wrong_service'; message: string };

/**
 * Loads the policy file into the store (throwing a DocumentError if the first load fails,
 * so start-up stops with a message naming the file and field; when the file cannot be read,
 * its `cause` is the read's error), then polls it: a valid
 * change is compiled off the request path and swapped in whole; an invalid one leaves
 * the policy in force and is reported.
 */
export async function startLocalPolicy(options: {
  file: string;
  /** How messages name the file (e.g. the path as the config wrote it); `file` unless told. */
  shownAs?: string;
  service: string;
  intervalMs: number;
  /** The enforced policy's PolicyStore, or the ShadowPolicy. */
  store: { swap(policy: CompiledPolicy): void };
  onEvent: (event: PolicyEvent) => void;
  /** Told about every `when` of the loaded policy that fails at run time. */
  onConditionError?: (rule: string, error: Error) => void;
}): Promise<{ stop(): void }> {
  const { file, service, store, onEvent, onConditionError } = options;
  const shown = options.shownAs ?? file;
  const apply = (policy: CompiledPolicy) => {
    store.swap(policy);
    onEvent({ type: 'policy-loaded', name: policy.name, revision: policy.revision, rules: policy.ruleCount, file });
  };
  const poller = new FilePoller(
    file,
    options.intervalMs,
    async (bytes) => {
      try {
        apply(compilePolicyText(bytes.toString('utf8'), shown, { service, onConditionError }));
      } catch (error) {
        const wrongService = error instanceof WrongServiceError;
        onEvent({ type: 'policy-rejected', file, code: wrongService ? 'policy_wrong_service' : 'policy_invalid', message: (error as Error).message });
      }
    },
    (code) => onEvent({ type: 'policy-rejected', file, code: 'policy_unreadable', message: `${shown}: cannot read: ${code}` }),
  );
  let bytes: Buffer;
  try {
    bytes = await poller.readNow();
  } catch (error) {
    throw new DocumentError(shown, '', `cannot read: ${errorCode(error)}`, { cause: error });
  }
  apply(compilePolicyText(bytes.toString('utf8'), shown, { service, onConditionError }));
  poller.start();
  return poller;
}

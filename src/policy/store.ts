import type { CompiledPolicy } from './types.js';

/**
 * Holds the policy in force. A Check reads `current()` once and uses that snapshot to the
 * end, so a swap mid-Check is invisible to it: every Check sees the old or the new policy.
 */
export class PolicyStore {
  private policy: CompiledPolicy | null = null;
  private readonly listeners: Array<(policy: CompiledPolicy) => void> = [];

  current(): CompiledPolicy | null {
    return this.policy;
  }

  swap(policy: CompiledPolicy): void {
    this.policy = policy;
    for (const listener of this.listeners) listener(policy);
  }

  onChange(listener: (policy: CompiledPolicy) => void): void {
    this.listeners.push(listener);
  }
}

/**
 * The servers the HTTP scenarios share, started on first use and kept for the whole run so
 * each is measured warm: the three comparison servers and the sidecar with each policy.
 */
import type { BenchOptions } from './options.js';
import { policyText, TENANT_CONDITION } from './policies/generate.js';
import { startServer, startSidecar, type Target } from './processes.js';

export type TargetName =
  | 'floor'
  | 'limit'
  | 'floor-verify'
  | 'http-floor'
  | 'sidecar-50'
  | 'sidecar-large'
  | 'sidecar-50-cel'
  | 'sidecar-50-shadow'
  | 'sidecar-50-http'
  | 'gateway-50x50';

/** The gateway's services: orders (the one the benchmark's requests name) among 49 others. */
export const GATEWAY_SERVICES: readonly string[] = Array.from({ length: 50 }, (_, i) => (i === 25 ? 'orders' : `service-${String(i).padStart(2, '0')}`));

export class Targets {
  private readonly started = new Map<TargetName, Promise<Target>>();

  constructor(private readonly options: BenchOptions) {}

  /** "sidecar-10k" for the large policy (its size depends on the options). */
  label(name: TargetName): string {
    return name === 'sidecar-large' ? `sidecar-${Math.round(this.options.largeRules / 1000)}k` : name;
  }

  get(name: TargetName): Promise<Target> {
    let target = this.started.get(name);
    if (target === undefined) this.started.set(name, (target = this.start(name)));
    return target;
  }

  async stopAll(): Promise<void> {
    const all = [...this.started.values()];
    this.started.clear();
    for (const target of await Promise.allSettled(all)) if (target.status === 'fulfilled') await target.value.stop();
  }

  private start(name: TargetName): Promise<Target> {
    switch (name) {
      case 'floor':
      case 'limit':
      case 'floor-verify':
      case 'http-floor':
        return startServer(name);
      case 'sidecar-50':
        return startSidecar(name, { policy: policyText({ rules: 50 }) });
      case 'sidecar-large':
        return startSidecar(this.label(name), { policy: policyText({ rules: this.options.largeRules, json: true }) });
      case 'sidecar-50-cel':
        return startSidecar(name, { policy: policyText({ rules: 50, when: TENANT_CONDITION }) });
      case 'sidecar-50-shadow':
        // The same 50 rules as the shadow: every Check evaluates the policy twice.
        return startSidecar(name, { policy: policyText({ rules: 50 }), shadowPolicy: policyText({ rules: 50 }) });
      case 'gateway-50x50':
        return startSidecar(name, {
          policy: policyText({ rules: 50 }),
          gatewayPolicies: Object.fromEntries(GATEWAY_SERVICES.map((service) => [service, policyText({ rules: 50, service })])),
        });
      case 'sidecar-50-http':
        // The 50-rule sidecar with HTTP mode on, measured on its HTTP listener.
        return startSidecar(name, { policy: policyText({ rules: 50 }), http: true });
    }
  }
}

import { contextExtension, type RequestView } from '../request/index.js';
import { stripPort } from './patterns.js';
import { ShadowPolicy } from './shadow.js';
import { PolicyStore } from './store.js';
import { PolicyUsage } from './usage.js';

/** A service the sidecar decides for: its enforced policy, its shadow, and what its policy was used for. */
export class ProtectedService {
  readonly policies = new PolicyStore();
  readonly shadow = new ShadowPolicy();
  readonly usage = new PolicyUsage();

  constructor(readonly name: string) {}
}

/** The context extension an Envoy route sets to name its service (`context_extensions: { service: orders }`). */
export const SERVICE_EXTENSION = 'service';

/**
 * The services of one sidecar and how a Check finds its own: the only one; the one a route
 * names in `context_extensions.service`; or the one owning the request's host (exact name
 * first, then the longest `*.suffix`). A Check whose service is not here gets null, and is
 * denied: nothing falls back to another service's policy.
 */
export class ServiceTable {
  readonly all: readonly ProtectedService[];
  private readonly byName = new Map<string, ProtectedService>();
  private readonly exactHosts = new Map<string, ProtectedService>();
  /** `*.example.com` is kept as ".example.com". */
  private readonly hostSuffixes = new Map<string, ProtectedService>();
  readonly select: (view: RequestView) => ProtectedService | null;

  constructor(services: ReadonlyArray<{ readonly name: string; readonly hosts?: readonly string[] }>, by: 'single' | 'contextExtension' | 'host') {
    if (services.length === 0) throw new TypeError('a ServiceTable needs at least one service');
    if (by === 'single' && services.length !== 1) throw new TypeError('selection "single" needs exactly one service');
    this.all = services.map(({ name, hosts = [] }) => {
      if (this.byName.has(name)) throw new TypeError(`duplicate service "${name}"`);
      const service = new ProtectedService(name);
      this.byName.set(name, service);
      for (const host of hosts) {
        const [table, key] = host.startsWith('*.') ? [this.hostSuffixes, host.slice(1)] : [this.exactHosts, host];
        if (table.has(key)) throw new TypeError(`host "${host}" belongs to two services`);
        table.set(key, service);
      }
      return service;
    });
    const only = this.all[0];
    this.select =
      by === 'single'
        ? () => only
        : by === 'contextExtension'
          ? (view) => this.named(contextExtension(view, SERVICE_EXTENSION))
          : (view) => this.owning(view.host);
  }

  get(name: string): ProtectedService | undefined {
    return this.byName.get(name);
  }

  private named(name: string | undefined): ProtectedService | null {
    return (name !== undefined && this.byName.get(name)) || null;
  }

  /** The service owning `authority` (lower-case, as the view holds it), port and a final dot ignored. */
  private owning(authority: string): ProtectedService | null {
    const host = hostName(authority);
    const exact = this.exactHosts.get(host);
    if (exact !== undefined) return exact;
    // Leftmost dot first: the longest suffix wins. A wildcard needs at least one label before it.
    for (let dot = host.indexOf('.', 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
      const service = this.hostSuffixes.get(host.slice(dot));
      if (service !== undefined) return service;
    }
    return null;
  }
}

/** `Orders.Example.com:8443` → `orders.example.com`; an IPv6 literal keeps its brackets. */
export function hostName(authority: string): string {
  const host = stripPort(authority).toLowerCase();
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

import type { Config } from '../config/index.js';

/**
 * What the sidecar's runtime tuning amounts to in this process: the `runtime:` config
 * section, checked against how node was started. The V8 flags themselves (the fixed new
 * space, the heap growing factor, --expose-gc) are node's command line, written in the
 * Dockerfile's ENTRYPOINT and `npm start`; nothing here sets them, it only reads them.
 */
export interface RuntimeInEffect {
  /**
   * on: configured on and node exposes `gc`; off: configured off; missing-expose-gc:
   * configured on, but node was started without --expose-gc, so the sidecar runs without it.
   */
  readonly idleCollection: 'on' | 'off' | 'missing-expose-gc';
  /** node's options from its command line (process.execArgv), as given. */
  readonly nodeFlags: readonly string[];
}

export interface NodeStart {
  readonly execArgv: readonly string[];
  /** V8's `gc` when exposed (see exposedGc in idle-gc.ts). */
  readonly gc: (() => void) | undefined;
}

export function runtimeInEffect(options: Config['runtime'], node: NodeStart): RuntimeInEffect {
  const idleCollection = !options.idleCollection ? 'off' : node.gc === undefined ? 'missing-expose-gc' : 'on';
  return { idleCollection, nodeFlags: [...node.execArgv] };
}

/** One line for `--check-config`: the runtime options in force and node's flags. */
export function describeRuntime(runtime: RuntimeInEffect): string {
  const idle = runtime.idleCollection === 'missing-expose-gc' ? 'off (configured on; node was started without --expose-gc)' : runtime.idleCollection;
  const flags = runtime.nodeFlags.length > 0 ? runtime.nodeFlags.join(' ') : '(none)';
  return `runtime: idleCollection ${idle}; node flags: ${flags}`;
}

import { connect } from 'nats';
import { jetStreamProblem, restartablePort, startNatsServer, type NatsServer } from './nats-server.js';
import { sleep } from './wait.js';

/** One node of a local cluster: its server name and the server itself (restart keeps port, routes and store). */
export interface ClusterNode {
  readonly name: string;
  readonly server: NatsServer;
}

export interface NatsCluster {
  readonly nodes: ClusterNode[];
  /** Every node's client URL: what a client's `servers` should list. */
  readonly urls: string[];
  /** Resolves once JetStream has a meta leader again (after a node restart, say). */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** The server name leading the bucket's stream, or null while it has none. */
  streamLeader(bucket: string): Promise<string | null>;
  /** The JetStream meta leader's server name, or null while there is none. */
  metaLeader(): Promise<string | null>;
  /**
   * Resolves once the bucket's stream has a leader and every replica is online and current: a
   * node restarted a moment ago may still be catching up, and freezing the leader then would
   * leave no quorum of current replicas, whatever the code under test does.
   */
  waitForStreamCurrent(bucket: string, timeoutMs?: number): Promise<void>;
  /** The node holding a client connection whose name contains `connectionName`, or null. */
  nodeServing(connectionName: string): Promise<ClusterNode | null>;
  stop(): Promise<void>;
}

async function json(url: string): Promise<any> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/**
 * `size` nats-server processes on free ports, one cluster (routes to every node, a server name
 * each, a JetStream store dir each, a monitoring port each). Resolves once JetStream has a
 * meta leader, i.e. once replicated streams can be created.
 */
/** The route ports are chosen before any node starts, so another process may take one first: try again with fresh ones. */
async function startNodes(size: number, name: string, attempts = 3): Promise<ClusterNode[]> {
  for (let attempt = 1; ; attempt++) {
    const clusterPorts = await Promise.all(Array.from({ length: size }, () => restartablePort()));
    const routes = clusterPorts.map((port) => `nats://127.0.0.1:${port}`);
    const nodes: ClusterNode[] = [];
    try {
      for (let i = 0; i < size; i++) {
        const serverName = `n${i + 1}`;
        const server = await startNatsServer({ cluster: { name, port: clusterPorts[i], routes, serverName }, monitorPort: await restartablePort() });
        nodes.push({ name: serverName, server });
      }
      return nodes;
    } catch (error) {
      await Promise.all(nodes.map((n) => n.server.kill9()));
      if (attempt >= attempts || !/address already in use/.test(String((error as Error).message))) throw error;
    }
  }
}

export async function startNatsCluster(size = 3, name = 'authz-chaos'): Promise<NatsCluster> {
  const nodes = await startNodes(size, name);
  const urls = nodes.map((n) => n.server.url);

  async function anyMonitor(path: string): Promise<any> {
    let lastError: unknown;
    for (const node of nodes) {
      try {
        return await json(`${node.server.monitorUrl}${path}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('no node answers', { cause: lastError });
  }

  const cluster: NatsCluster = {
    nodes,
    urls,
    async waitForJetStream(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let lastError = '';
      while (Date.now() < deadline) {
        const problem = await jetStreamProblem(urls, { connectMs: 1_000, requestMs: 2_000 });
        if (problem === null) return;
        lastError = problem;
        await sleep(100);
      }
      throw new Error(`JetStream cluster has no meta leader after ${timeoutMs} ms (${lastError})`);
    },
    async streamLeader(bucket) {
      const nc = await connect({ servers: urls, timeout: 1_000 });
      try {
        const info = await (await nc.jetstreamManager({ timeout: 2_000 })).streams.info(`KV_${bucket}`);
        return info.cluster?.leader ?? null;
      } catch {
        return null;
      } finally {
        await nc.close();
      }
    },
    async waitForStreamCurrent(bucket, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const nc = await connect({ servers: urls, timeout: 1_000 }).catch(() => null);
        try {
          const info = nc && (await (await nc.jetstreamManager({ timeout: 2_000 })).streams.info(`KV_${bucket}`));
          const replicas = info?.cluster?.replicas ?? [];
          if (info?.cluster?.leader && replicas.length === nodes.length - 1 && replicas.every((r) => r.current && !r.offline)) return;
        } catch {
          // No leader yet, or the request timed out: ask again.
        } finally {
          await nc?.close();
        }
        await sleep(200);
      }
      throw new Error(`stream KV_${bucket} not led with every replica current after ${timeoutMs} ms`);
    },
    async metaLeader() {
      try {
        return ((await anyMonitor('/jsz')).meta_cluster?.leader as string | undefined) ?? null;
      } catch {
        return null;
      }
    },
    async nodeServing(connectionName) {
      for (const node of nodes) {
        try {
          const connz = await json(`${node.server.monitorUrl}/connz?limit=1024`);
          if ((connz.connections ?? []).some((c: { name?: string }) => c.name?.includes(connectionName))) return node;
        } catch {
          // A node that is down or stopped serves nobody.
        }
      }
      return null;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.server.stop()));
    },
  };
  await cluster.waitForJetStream();
  return cluster;
}

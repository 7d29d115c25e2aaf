/**
 * How much of the machine the suite did NOT have: CPU time used by processes other than the
 * harness and its children, and time stolen by the hypervisor, over the suite's span. The
 * machine is shared (other sessions may run tests on it), and on two cores any such work
 * skews figures, so the report states it. Linux only (/proc).
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux ABI Node supports

interface Reading {
  /** Busy ticks of the whole machine (user, nice, system, irq, softirq), all cores. */
  readonly busy: number;
  readonly steal: number;
  /** Ticks of this process plus its reaped children (utime, stime, cutime, cstime). */
  readonly own: number;
}

export interface CpuShare {
  /** CPU seconds used by other processes while the suite ran. */
  readonly otherSeconds: number;
  readonly stealSeconds: number;
  /** CPU seconds the machine had over the span (cores × wall time). */
  readonly availableSeconds: number;
}

function read(): Reading {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  // The command name in /proc/self/stat is parenthesised and may hold spaces: count fields after it.
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return { busy: user + nice + system + irq + softirq, steal, own: utime + stime + cutime + cstime };
}

/** Starts measuring; call the result once every child has exited (so its CPU time is counted). */
export function startCpuMeter(cores: number): () => CpuShare {
  const start = read();
  const started = performance.now();
  return () => {
    const end = read();
    return {
      otherSeconds: Math.max(0, end.busy - start.busy - (end.own - start.own)) / TICKS_PER_SECOND,
      stealSeconds: (end.steal - start.steal) / TICKS_PER_SECOND,
      availableSeconds: (cores * (performance.now() - started)) / 1000,
    };
  };
}

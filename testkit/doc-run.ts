/**
 * Running a docs `sh` block as the docs tests do: each step of the block (testkit/doc-blocks.ts)
 * in one bash, its output and exit status between markers, so every step can be checked
 * against the `#` lines under it. The conventions are in CONTRIBUTING.md ("Commands in the
 * docs are tested"); test/integration/docs-commands.test.ts and
 * test/integration/control-plane-quickstart.test.ts run blocks through this file.
 */
import { spawn } from 'node:child_process';
import type { Step } from './doc-blocks.js';

/**
 * Prepended to every block: `authzctl` as the docs mean it (`$AUTHZ_DOCS_CLI`), with a
 * `check` that names no address pointed at `$AUTHZ_DOCS_GRPC`; the repository root
 * (`$AUTHZ_DOCS_ROOT`) as the working directory and its bin/ on the PATH.
 */
export const DOCS_PRELUDE = `
authzctl() {
  if [ "\${1-}" = check ]; then
    case " $* " in
      *" --address "*|*" --address="*) ;;
      *) shift; set -- check --address "$AUTHZ_DOCS_GRPC" "$@" ;;
    esac
  fi
  "$AUTHZ_DOCS_CLI" "$@"
}
cd "$AUTHZ_DOCS_ROOT" || exit 97
export PATH="$AUTHZ_DOCS_ROOT/bin:$PATH"
`;

export interface StepRun {
  /** The step's exit status; null when it never reported one (the shell died or timed out in it). */
  readonly code: number | null;
  readonly output: string;
}

/** The script for one block: each step's output (stderr included) and exit status between markers. */
export function blockScript(steps: readonly Step[], rewrite: (command: string) => string = (c) => c): string {
  const parts = [DOCS_PRELUDE];
  steps.forEach((step, i) => {
    parts.push(`printf '\\n@@step ${i}@@\\n'`, `{\n${rewrite(step.command)}\n} </dev/null 2>&1`, `printf '\\n@@exit ${i} %s@@\\n' "$?"`);
  });
  return parts.join('\n');
}

export interface BashRun {
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The shell's pid, also its process group's id: what the block started in the background is in that group. */
  readonly pgid: number;
}

export interface RunBashOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** Then the whole process group is killed. */
  readonly timeoutMs: number;
  /**
   * Stop reading this long after the shell exits, even if a process it left in the background
   * still holds its output (see groupAlive); by default, wait until the output is closed.
   */
  readonly afterExitMs?: number;
}

/**
 * Runs `text` in `bash --noprofile --norc` as the leader of a new process group. After
 * `timeoutMs` the whole group is killed (SIGKILL), so a command that hangs, or one left running
 * in the background, does not outlive the test. Resolves once stdout and stderr are closed.
 */
export function runBash(text: string, options: RunBashOptions): Promise<BashRun> {
  return new Promise((resolvePromise) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-c', text], {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      if (!killGroup(child.pid!)) child.kill('SIGKILL');
    }, options.timeoutMs);
    if (options.afterExitMs !== undefined) {
      const stopReading = () => {
        child.stdout.destroy();
        child.stderr.destroy();
      };
      child.once('exit', () => setTimeout(stopReading, options.afterExitMs).unref());
    }
    child.once('close', () => {
      clearTimeout(timer);
      resolvePromise({ stdout, stderr, timedOut, pgid: child.pid! });
    });
  });
}

/** True while any process of the group is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILLs every process of the group; false when there was none left. */
export function killGroup(pgid: number): boolean {
  try {
    process.kill(-pgid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Each step's output and exit status, from the markers blockScript wrote around it. */
export function splitSteps(stdout: string, count: number): StepRun[] {
  const runs: StepRun[] = [];
  let current: string[] | null = null;
  for (const line of stdout.split('\n')) {
    if (/^@@step \d+@@$/.test(line)) {
      current = [];
      continue;
    }
    const exit = /^@@exit (\d+) (\d+)@@$/.exec(line);
    if (exit !== null && current !== null) {
      runs[Number(exit[1])] = { code: Number(exit[2]), output: current.join('\n') };
      current = null;
      continue;
    }
    current?.push(line);
  }
  // A step that never reported (the shell died or timed out in it) keeps what it printed.
  for (let i = 0; i < count; i++) runs[i] ??= { code: null, output: current?.join('\n') ?? '' };
  return runs;
}

/** What a step's exit status must be: authzctl check exits 1 for a deny, everything else 0. */
export function expectedExit(step: Step): number {
  const first = step.expected.find((line) => line.trim() !== '');
  return first !== undefined && /^DENY\b/.test(first.trim()) ? 1 : 0;
}

/** The first 25 non-blank lines, for an assertion message. */
export function excerpt(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return (lines.length > 25 ? [...lines.slice(0, 25), `… (${lines.length - 25} more lines)`] : lines).join('\n');
}

/**
 * A small Dockerfile reader for the deploy tests: stages and their instructions, with
 * line continuations, comments and JSON (exec) forms handled as BuildKit reads them.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** Everything after the keyword, continuations joined. */
  readonly args: string;
  /** 1-based line of the keyword. */
  readonly line: number;
}

export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    // Comments (and parser directives) are whole lines; inside a continuation they are skipped.
    if (line.startsWith('#') || (line === '' && pending === undefined)) return;
    const continued = line.endsWith('\\');
    const part = continued ? line.slice(0, -1).trim() : line;
    if (pending) pending.parts.push(part);
    else pending = { parts: [part], line: i + 1 };
    if (continued) return;
    const joined = pending.parts.filter((p) => p !== '').join(' ');
    const match = /^(\S+)\s*(.*)$/s.exec(joined);
    if (match) instructions.push({ keyword: match[1].toUpperCase(), args: match[2], line: pending.line });
    pending = undefined;
  });

  const stages: Array<{ image: string; name: string | undefined; instructions: Instruction[] }> = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ image: words[0], name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** The exec (JSON array) form of ENTRYPOINT/CMD/RUN, or undefined for the shell form. */
export function execForm(instruction: Instruction): string[] | undefined {
  if (!instruction.args.startsWith('[')) return undefined;
  const value = JSON.parse(instruction.args) as unknown;
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : undefined;
}

export interface CopyInstruction {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly destination: string;
  readonly line: number;
}

/** COPY/ADD flags and paths (`--from=build`, `--chown=…`; JSON form too). */
export function copyArgs(instruction: Instruction): CopyInstruction {
  const json = execForm(instruction);
  const words = json ?? instruction.args.split(/\s+/).filter((w) => w !== '');
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)!, line: instruction.line };
}

/** The stage's working directory just before `index` (absolute; "/" when never set). */
export function workdirAt(stage: Stage, index = stage.instructions.length): string {
  let dir = '/';
  for (const instruction of stage.instructions.slice(0, index)) {
    if (instruction.keyword !== 'WORKDIR') continue;
    dir = instruction.args.startsWith('/') ? instruction.args : `${dir.replace(/\/$/, '')}/${instruction.args}`;
  }
  return dir;
}

/** ENV in both forms: `ENV A=1 B=2` and `ENV A 1`. */
export function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const instruction of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    const pairs = [...instruction.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)];
    if (pairs.length > 0) for (const [, key, value] of pairs) env.set(key, value.replace(/^"(.*)"$/, '$1'));
    else {
      const [key, ...rest] = instruction.args.split(/\s+/);
      env.set(key, rest.join(' '));
    }
  }
  return env;
}

/** Whether a .dockerignore pattern list excludes a context path. */
export function dockerIgnored(patterns: readonly string[], path: string): boolean {
  const segments = path.replace(/^\.?\//, '').split('/');
  // As Docker reads them: the last pattern that matches decides, and `!pattern` lets back in.
  let ignored = false;
  for (const line of patterns) {
    const negated = line.startsWith('!');
    const pattern = negated ? line.slice(1) : line;
    const glob = new RegExp(
      `^${pattern
        .replace(/^\//, '')
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')}$`,
    );
    // A pattern matches the path itself or any folder above it.
    if (segments.some((_, i) => glob.test(segments.slice(0, i + 1).join('/')))) ignored = !negated;
  }
  return ignored;
}

export function dockerignorePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

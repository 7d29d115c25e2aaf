/**
 * Reading the docs as the docs-commands test does: fenced code blocks out of Markdown, the
 * commands and expected output out of a `sh` block, and the links and heading anchors a page
 * offers. The conventions are written down in CONTRIBUTING.md ("Commands in the docs are
 * tested"); this file is their single implementation.
 */

export interface FencedBlock {
  /** The info string's first word, lower-cased ("" for a bare fence). */
  readonly lang: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The lines between the fences, with the fence's indentation removed. */
  readonly body: readonly string[];
}

export interface Step {
  /** The command as written; continuation lines joined with their backslash-newlines kept. */
  readonly command: string;
  /** 1-based line in the file where the command starts. */
  readonly line: number;
  /** Expected output lines (the `#` lines right under the command), without the `#`. */
  readonly expected: readonly string[];
}

export interface ShellBlock {
  /** The reason given on a first line `# illustrative: <reason>`; null when the block runs. */
  readonly illustrative: string | null;
  readonly steps: readonly Step[];
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`\s]*)/;

/** Every fenced code block of a Markdown text (indented fences, e.g. in lists, included). */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]);
    if (open === null) continue;
    const [, indent, fence] = open as unknown as [string, string, string];
    const lang = (open[3] ?? '').toLowerCase();
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const text = lines[j];
      const close = /^\s*(`{3,}|~{3,})\s*$/.exec(text);
      if (close !== null && close[1][0] === fence[0] && close[1].length >= fence.length) break;
      body.push(text.startsWith(indent) ? text.slice(indent.length) : text.trimStart());
    }
    blocks.push({ lang, line: i + 1, body });
    i = j;
  }
  return blocks;
}

const ILLUSTRATIVE = /^#\s*illustrative\b:?\s*(.*)$/i;
/** A here-document operator (`<<EOF`, `<<-EOF`, `<< 'EOF'`), not a here-string (`<<<`). */
const HEREDOC = /(?<!<)<<(?!<)(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

/**
 * Splits a `sh` block into steps. A command is a line that is neither blank nor a comment,
 * continued while it ends with a backslash, and through the body of a here-document it
 * opens (up to its delimiter line). `#` lines directly under a command (no blank line
 * between) are its expected output; other comments are prose. Throws on a misplaced or
 * reason-less illustrative marker, or an unterminated here-document, so the convention
 * cannot be half-followed.
 */
export function shellBlock(block: FencedBlock): ShellBlock {
  const lines = block.body;
  const first = lines.findIndex((l) => l.trim() !== '');
  let illustrative: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const marker = ILLUSTRATIVE.exec(lines[i].trim());
    if (marker === null) continue;
    if (i !== first) throw new Error(`line ${block.line + 1 + i}: "# illustrative:" must be the block's first line`);
    if (marker[1].trim() === '') throw new Error(`line ${block.line + 1 + i}: "# illustrative:" needs a reason (what the block needs that the test lacks)`);
    illustrative = marker[1].trim();
  }
  const steps: Array<{ command: string; line: number; expected: string[] }> = [];
  let attached: { expected: string[] } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i];
    const trimmed = text.trim();
    if (trimmed === '') {
      attached = null;
    } else if (trimmed.startsWith('#')) {
      if (attached !== null) attached.expected.push(trimmed.replace(/^#\s?/, ''));
    } else {
      const start = i;
      let command = text;
      while (command.endsWith('\\') && i + 1 < lines.length) command += `\n${lines[++i]}`;
      // A here-document's lines belong to the command, up to its delimiter (`#` lines included).
      for (const [, dash, , word] of command.matchAll(HEREDOC)) {
        const end = lines.findIndex((l, j) => j > i && (dash === '-' ? l.replace(/^\t+/, '') : l) === word);
        if (end < 0) throw new Error(`line ${block.line + 1 + start}: here-document without its closing "${word}" line`);
        command += `\n${lines.slice(i + 1, end + 1).join('\n')}`;
        i = end;
      }
      const step = { command, line: block.line + 1 + start, expected: [] as string[] };
      steps.push(step);
      attached = step;
    }
  }
  return { illustrative, steps };
}

/** Whitespace runs as one space, ends trimmed: output columns may shift without meaning. */
function squeeze(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** An expected line as a whole-line pattern: `…` (or `...`) stands for anything. */
function linePattern(expected: string): RegExp {
  const parts = squeeze(expected)
    .split(/…|\.\.\./)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

/** An expected line that is only an ellipsis: "more output here", nothing to match. */
export function isElision(expected: string): boolean {
  return /^(…|\.\.\.)$/.test(squeeze(expected));
}

/**
 * Null when every expected line matches a line of `output`, in order (other output lines may
 * come between); else what was not found.
 */
export function unmatchedExpectation(output: string, expected: readonly string[]): string | null {
  const lines = output
    .split('\n')
    .map(squeeze)
    .filter((l) => l !== '');
  let at = 0;
  for (const want of expected) {
    if (isElision(want)) continue;
    const pattern = linePattern(want);
    const found = lines.findIndex((line, index) => index >= at && pattern.test(line));
    if (found < 0) return `expected a line ${JSON.stringify(squeeze(want))}${at > 0 ? ' after the lines already matched' : ''}`;
    at = found + 1;
  }
  return null;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors a page offers (duplicates numbered as GitHub does), ignoring code blocks. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence: string | null = null;
  for (const line of markdown.split('\n')) {
    const fence = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence !== null) {
      if (inFence === null) inFence = fence[1][0]!;
      else if (fence[1][0] === inFence) inFence = null;
      continue;
    }
    if (inFence !== null) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = headingAnchor(heading[1]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

export interface Link {
  readonly target: string;
  readonly line: number;
}

/** Inline Markdown links `[text](target)` outside code blocks and code spans. */
export function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  let inFence: string | null = null;
  markdown.split('\n').forEach((line, index) => {
    const fence = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence !== null) {
      if (inFence === null) inFence = fence[1][0]!;
      else if (fence[1][0] === inFence) inFence = null;
      return;
    }
    if (inFence !== null) return;
    const prose = line.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) links.push({ target: match[1], line: index + 1 });
  });
  return links;
}

/**
 * How the demo talks: section headings, `$ authzctl …` lines a reader can copy, indented
 * command output, and ✔/✘ expectation rows that are also tallied for the final summary.
 * Colour only on a terminal, and never with NO_COLOR.
 */
const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code) => (text) => (colour ? `\x1b[${code}m${text}\x1b[0m` : String(text));
export const bold = paint('1');
export const dim = paint('2');
export const green = paint('32');
export const red = paint('31');
export const cyan = paint('36');

const say = (text = '') => process.stdout.write(`${text}\n`);

/**
 * A command argument shown one way and passed another: `shown('"$CUSTOMER"', token)` prints
 * the shell variable and runs with the token itself.
 */
export function shown(display, value) {
  return { display, value };
}

const plain = /^[\w@%+=:,./-]+$/;
const quote = (arg) => (plain.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

/** argv (strings and `shown` pairs) → { display, argv }. */
export function commandLine(parts) {
  return {
    display: parts.map((p) => (typeof p === 'string' ? quote(p) : p.display)).join(' '),
    argv: parts.map((p) => (typeof p === 'string' ? p : p.value)),
  };
}

export function heading(title) {
  say();
  say(bold(cyan(`━━ ${title} `.padEnd(72, '━'))));
}

export function note(text) {
  say(`  ${text}`);
}

export function command(display) {
  say(`  ${bold('$')} ${display}`);
}

/** A command's output, indented under it (dimmed, so the commands stand out). */
export function output(text) {
  if (!text) return;
  for (const line of text.split('\n')) say(line.trim() === '' ? '' : dim(`    ${line}`));
}

const failures = [];
let held = 0;

/** Records and prints one expectation; returns whether it held. */
export function expect(ok, text) {
  if (ok) held++;
  else failures.push(text);
  say(`  ${ok ? green('✔') : red('✘')} ${text}`);
  return ok;
}

/** A failure that is not a row of its own (a step that could not run at all). */
export function fail(text) {
  failures.push(text);
  say(`  ${red('✘')} ${text}`);
}

export function tally() {
  return { held, failures: [...failures] };
}

/** One request row: `✔ orders  GET /api/orders as customer: expected …, got …`. */
export function checkRow(ok, { service, request, caller, expected, actual }) {
  const got = ok ? actual : red(actual);
  return expect(ok, `${bold(service.padEnd(7))} ${request} as ${caller}: expected ${expected}, got ${got}`);
}

export { say };

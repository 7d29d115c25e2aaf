/**
 * The demo's request table: each row is one `authzctl check` against a sidecar, with the
 * answer it should get. Rows of a table run concurrently and are printed in order.
 */
import { checkRow, command, commandLine, shown } from './narrate.mjs';

/**
 * `authzctl check` output → a short verdict: "ALLOW by read-orders", "403 default_deny",
 * "401 token_expired (invalid_token)" — the parenthesis is the WWW-Authenticate `error`.
 */
export function verdictOf({ code, stdout, stderr }) {
  const lines = stdout.split('\n');
  if (code === 0 && lines[0] === 'ALLOW') {
    const rule = /\brule=(\S+)/.exec(lines.find((l) => /^\s+meta\s/.test(l)) ?? '')?.[1] ?? '?';
    return `ALLOW by ${rule}`;
  }
  const deny = /^DENY (\d+) \(([^)]*)\)/.exec(lines[0] ?? '');
  if (code === 1 && deny) {
    const challenge = lines.find((l) => /^\s+header\s+www-authenticate:/i.test(l)) ?? '';
    const error = /error="([^"]+)"/.exec(challenge)?.[1];
    return `${deny[1]} ${deny[2]}${error ? ` (${error})` : ''}`;
  }
  return `exit ${code}: ${(stderr || stdout).split('\n')[0]}`;
}

/** The argv of one row; `sidecars` maps a service to { variable, address }, `tokens` a variable to a token. */
function argvOf(row, sidecars, tokens) {
  const { variable, address } = sidecars[row.service];
  const parts = ['check', '--address', shown(`$${variable}`, address)];
  if (row.method && row.method !== 'GET') parts.push('--method', row.method);
  parts.push('--path', row.path);
  if (row.token) parts.push('--token', shown(`"$${row.token}"`, tokens[row.token]));
  if (row.principal) parts.push('--principal', row.principal);
  return commandLine(parts);
}

/**
 * Runs every row (concurrently), then prints each command and its ✔/✘ row in order.
 * `run(argv)` runs authzctl. Returns whether every row held.
 */
export async function runTable(rows, { sidecars, tokens, run }) {
  const lines = rows.map((row) => argvOf(row, sidecars, tokens));
  const results = await Promise.all(lines.map((line) => run(line.argv)));
  let allHeld = true;
  rows.forEach((row, i) => {
    const actual = verdictOf(results[i]);
    command(`authzctl ${lines[i].display}`);
    const request = `${row.method ?? 'GET'} ${row.path}`;
    allHeld = checkRow(actual === row.expected, { service: row.service, request, caller: row.caller, expected: row.expected, actual }) && allHeld;
  });
  return allHeld;
}

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, REDACT_PATHS } from '../../src/telemetry/logger.js';

function capture(level: Parameters<typeof createLogger>[0] = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      raw.push(String(chunk));
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: createLogger(level, sink), lines, raw };
}

const SECRET = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln';

describe('createLogger', () => {
  it('writes JSON lines with the service, level, ISO time and message', () => {
    const { log, lines } = capture();
    log.info({ decision_id: 'd-1' }, 'deny');
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.equal(line.service, 'authz-sidecar');
    assert.equal(line.level, 30);
    assert.equal(line.msg, 'deny');
    assert.equal(line.decision_id, 'd-1');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('honours the level', () => {
    const { log, lines } = capture('warn');
    log.info('hidden');
    log.debug('hidden');
    log.warn('shown');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['shown'],
    );
    const silent = capture('silent');
    silent.log.fatal('nothing');
    assert.equal(silent.lines.length, 0);
  });

  it('redacts a top-level token, key and secret', () => {
    const { log, lines, raw } = capture();
    log.info({ token: SECRET, key: 'k-material', secret: 's-material', keep: 'visible' }, 'm');
    assert.equal(lines[0].token, '[redacted]');
    assert.equal(lines[0].key, '[redacted]');
    assert.equal(lines[0].secret, '[redacted]');
    assert.equal(lines[0].keep, 'visible');
    assert.ok(!raw.join('').includes(SECRET));
    assert.ok(!raw.join('').includes('material'));
  });

  it('redacts headers.authorization, cookie and x-service-token, at the top and one level down', () => {
    const { log, lines, raw } = capture();
    const headers = { authorization: `Bearer ${SECRET}`, cookie: `access_token=${SECRET}`, 'x-service-token': SECRET, 'x-request-id': 'r-1' };
    log.info({ headers }, 'top');
    log.info({ req: { headers } }, 'nested');
    for (const line of lines) {
      const h = (line.headers ?? (line.req as Record<string, unknown>).headers) as Record<string, unknown>;
      assert.deepEqual(h, { authorization: '[redacted]', cookie: '[redacted]', 'x-service-token': '[redacted]', 'x-request-id': 'r-1' }, String(line.msg));
    }
    assert.ok(!raw.join('').includes(SECRET));
    assert.equal(headers.authorization, `Bearer ${SECRET}`, "the caller's object is not modified");
  });

  it('redacts the API key header x-api-key, and a configured API key header given as redactHeaders', () => {
    const key = 'ak_0123456789abcdef_' + 'k'.repeat(43);
    const sink: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        sink.push(String(chunk));
        done();
      },
    });
    const log = createLogger('info', stream, { redactHeaders: ['x-partner-key'] });
    log.info({ headers: { 'x-api-key': key, 'x-partner-key': key, 'x-request-id': 'r-1' } }, 'top');
    log.info({ req: { headers: { 'x-partner-key': key } } }, 'nested');
    const lines = sink.map((text) => JSON.parse(text) as Record<string, Record<string, unknown>>);
    assert.deepEqual(lines[0].headers, { 'x-api-key': '[redacted]', 'x-partner-key': '[redacted]', 'x-request-id': 'r-1' });
    assert.deepEqual(lines[1].req, { headers: { 'x-partner-key': '[redacted]' } });
    assert.ok(!sink.join('').includes(key));
    const plain = capture();
    plain.log.info({ headers: { 'x-api-key': key } }, 'default');
    assert.ok(!plain.raw.join('').includes(key), 'x-api-key without any option');
  });

  it('redacts a nested *.token', () => {
    const { log, lines, raw } = capture();
    log.info({ credential: { token: SECRET, source: 'authorization' } }, 'm');
    assert.deepEqual(lines[0].credential, { token: '[redacted]', source: 'authorization' });
    assert.ok(!raw.join('').includes(SECRET));
  });

  it('lists the credential paths it redacts', () => {
    for (const path of ['token', '*.token', 'headers.authorization', '*.headers.authorization', 'headers.cookie', 'key', 'secret'])
      assert.ok(REDACT_PATHS.includes(path), path);
  });
});

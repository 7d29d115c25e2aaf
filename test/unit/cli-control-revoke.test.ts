import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/cli/command.js';
import { appendRevocation, currentEntries, entryFrom, formatEntries, parseUntil } from '../../src/cli/commands/revoke.js';
import type { ControlDocument } from '../../src/control/types.js';

const NOW = 1_750_000_000;

describe('parseUntil', () => {
  it('reads durations from now, epoch seconds and ISO dates', () => {
    assert.equal(parseUntil('90s', NOW), NOW + 90);
    assert.equal(parseUntil('15m', NOW), NOW + 900);
    assert.equal(parseUntil('1h', NOW), NOW + 3600);
    assert.equal(parseUntil('7d', NOW), NOW + 7 * 86400);
    assert.equal(parseUntil('2w', NOW), NOW + 14 * 86400);
    assert.equal(parseUntil(String(NOW + 5), NOW), NOW + 5);
    assert.equal(parseUntil('2030-01-01T00:00:00Z', NOW), 1_893_456_000);
    assert.equal(parseUntil('2030-01-01', NOW), 1_893_456_000);
    assert.equal(parseUntil('2030-01-01T02:00:00+02:00', NOW), 1_893_456_000);
  });

  it('refuses the past, a bare small number and garbage, naming --until', () => {
    assert.throws(
      () => parseUntil('3600', NOW),
      (e: unknown) => e instanceof UsageError && /in the past \(bare numbers are epoch seconds; write a duration as 3600s\)/.test(e.message),
    );
    assert.throws(() => parseUntil(String(NOW), NOW), /--until: .* is in the past/);
    assert.throws(() => parseUntil('2001-01-01', NOW), /in the past/);
    assert.throws(() => parseUntil('0s', NOW), /in the past/);
    for (const bad of ['soon', '1y', '-1h', '2030-13-45', 'Tuesday', ''])
      assert.throws(() => parseUntil(bad, NOW), /--until: .* is not epoch seconds, an ISO date or a duration/, bad);
  });
});

describe('entryFrom', () => {
  it('builds a jti, sub or sub+iss entry without undefined members', () => {
    assert.deepEqual(entryFrom({ jti: 'j1' }, 5), { jti: 'j1', until: 5 });
    assert.deepEqual(entryFrom({ sub: 'alice' }, 5), { sub: 'alice', until: 5 });
    assert.deepEqual(entryFrom({ sub: 'alice', iss: 'https://idp' }, 5), { sub: 'alice', iss: 'https://idp', until: 5 });
    assert.deepEqual(Object.keys(entryFrom({ jti: 'j1', sub: undefined, iss: undefined }, 5)), ['jti', 'until']);
  });

  it('needs exactly one of jti and sub; iss only with sub', () => {
    assert.throws(() => entryFrom({}, 5), /exactly one of --jti ID, --sub SUBJECT/);
    assert.throws(() => entryFrom({ jti: 'a', sub: 'b' }, 5), /exactly one/);
    assert.throws(() => entryFrom({ jti: 'a', iss: 'x' }, 5), /--iss only applies with --sub/);
    assert.throws(() => entryFrom({ jti: '' }, 5), /--jti: must not be empty/);
  });
});

describe('appendRevocation', () => {
  it('prunes entries whose until has passed and appends the new one last', () => {
    const entries = [
      { jti: 'old', until: NOW - 1 },
      { jti: 'edge', until: NOW },
      { sub: 'bob', until: NOW + 60 },
    ];
    const next = appendRevocation(entries, { jti: 'new', until: NOW + 3600 }, NOW);
    assert.equal(next.pruned, 2);
    assert.deepEqual(next.entries, [
      { sub: 'bob', until: NOW + 60 },
      { jti: 'new', until: NOW + 3600 },
    ]);
  });

  it('replaces an entry for the same token or subject, keeping the later until', () => {
    const entries = [
      { sub: 'alice', iss: 'https://a', until: NOW + 7200 },
      { sub: 'alice', until: NOW + 10 },
    ];
    const shorter = appendRevocation(entries, { sub: 'alice', iss: 'https://a', until: NOW + 60 }, NOW);
    assert.deepEqual(shorter.entries, [
      { sub: 'alice', until: NOW + 10 },
      { sub: 'alice', iss: 'https://a', until: NOW + 7200 },
    ]);
    const longer = appendRevocation(entries, { sub: 'alice', until: NOW + 99 }, NOW);
    assert.deepEqual(longer.entries, [
      { sub: 'alice', iss: 'https://a', until: NOW + 7200 },
      { sub: 'alice', until: NOW + 99 },
    ]);
  });
});

describe('currentEntries and formatEntries', () => {
  const doc = (body: unknown): ControlDocument => ({ kind: 'revocations', target: '*', revision: 3, issuedAt: NOW, body });

  it('reads a valid body and refuses one the sidecar would refuse', () => {
    assert.deepEqual(currentEntries(null), []);
    assert.deepEqual(currentEntries(doc({ entries: [{ jti: 'a', until: NOW }] })), [{ jti: 'a', until: NOW }]);
    assert.throws(
      () => currentEntries(doc({ entries: [{ jti: 'a', sub: 'b', until: 1 }] })),
      /current revocations document is invalid \(entries\[0\]: must name exactly one of jti, sub\)/,
    );
  });

  it('lists only entries in force', () => {
    const entries = [
      { jti: 'gone', until: NOW },
      { jti: 'j1', until: NOW + 3600 },
      { sub: 'bob', until: NOW + 60 },
      { sub: 'eve', iss: 'https://idp', until: NOW + 60 },
    ];
    assert.deepEqual(formatEntries(entries, NOW), [
      `jti j1  until ${new Date((NOW + 3600) * 1000).toISOString()}`,
      `sub bob iss *  until ${new Date((NOW + 60) * 1000).toISOString()}`,
      `sub eve iss https://idp  until ${new Date((NOW + 60) * 1000).toISOString()}`,
    ]);
    assert.deepEqual(formatEntries([{ jti: 'gone', until: NOW }], NOW), ['no revocations in force']);
  });
});

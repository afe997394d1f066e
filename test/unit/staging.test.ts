import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { TargetError } from '../../src/errors.js';
import { Staging } from '../../src/restore/staging.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'coffer-staging-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('restore staging folder', () => {
  test('only in an empty folder', () => {
    writeFileSync(join(root, '.hidden'), '');
    expect(Staging.open(root)).toBeUndefined();
    expect(readdirSync(root)).toEqual(['.hidden']);
  });

  test('a private folder whose name says what it is', () => {
    const s = Staging.open(root)!;
    expect(readdirSync(root)).toEqual([s.dir.slice(root.length + 1)]);
    expect(s.dir.slice(root.length + 1)).toMatch(/^\.coffer-restore-[0-9a-f]{12}$/);
    expect(statSync(s.dir).mode & 0o777).toBe(0o700);
  });

  test('files made in it belong to this process, unless a set-group-id folder passes its group on', () => {
    const s = Staging.open(root)!;
    mkdirSync(join(s.dir, 'sub'), { mode: 0o700 });
    writeFileSync(join(s.dir, 'sub', 'f'), '');
    const made = statSync(join(s.dir, 'sub', 'f'));
    expect(s.newFileOwner).toEqual({ uid: made.uid, gid: made.gid });
    expect(s.newFileOwner).toEqual({ uid: process.geteuid!(), gid: process.getegid!() });

    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o2775);
    expect(Staging.open(shared)!.newFileOwner).toBeUndefined();
  });

  test('publish moves every entry into place, more than one listing holds, and removes the folder', () => {
    const s = Staging.open(root)!;
    const names = Array.from({ length: 2500 }, (_, i) => `f${i}`);
    for (const n of names) writeFileSync(join(s.dir, n), n);
    mkdirSync(join(s.dir, 'tree'));
    writeFileSync(join(s.dir, 'tree', 'inner'), 'inner');
    s.publish();
    expect(readdirSync(root).sort()).toEqual([...names, 'tree'].sort());
    expect(readFileSync(join(root, 'f2499'), 'utf8')).toBe('f2499');
    expect(readFileSync(join(root, 'tree', 'inner'), 'utf8')).toBe('inner');
    s.publish(); // once published, again is nothing
  });

  test('a name that appeared in the folder meanwhile is left alone, and so is the staged copy', () => {
    const s = Staging.open(root)!;
    writeFileSync(join(s.dir, 'report.txt'), 'restored');
    writeFileSync(join(root, 'report.txt'), 'written by someone else');
    let err: unknown;
    try {
      s.publish();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TargetError);
    expect((err as TargetError).code).toBe('restore-target-changed');
    expect((err as TargetError).exitCode).toBe(5);
    expect((err as Error).message).toContain(join(s.dir, 'report.txt'));
    expect(readFileSync(join(root, 'report.txt'), 'utf8')).toBe('written by someone else');
    expect(readFileSync(join(s.dir, 'report.txt'), 'utf8')).toBe('restored');
  });
});

// How fast Node creates and reads many small files, by API (docs/PERFORMANCE.md, "Restoring and verifying").
// node bench/fs-calls.mjs create DIR MODE   MODE: sync | sync-lstat | callback-N | promises-N   (20,000 files of 8 KiB)
// node bench/fs-calls.mjs read TREE MODE    MODE: sync | callback-N | promises-N
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { join } from 'node:path';

const [what, base, mode = 'sync'] = process.argv.slice(2);
if (!['create', 'read'].includes(what) || !base) {
  console.error('usage: node bench/fs-calls.mjs create|read DIR MODE');
  process.exit(2);
}
const width = Number(mode.split('-')[1] ?? 1);
const cb = (f) => (...a) => new Promise((res, rej) => f(...a, (e, r) => (e ? rej(e) : res(r))));
const c = { open: cb(fs.open), write: cb(fs.write), fchmod: cb(fs.fchmod), futimes: cb(fs.futimes), close: cb(fs.close), rename: cb(fs.rename), read: cb(fs.read), fstat: cb(fs.fstat) };

async function inParallel(n, count, one) {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (next < count) await one(next++); }));
}

if (what === 'create') {
  const N = 20000, buf = Buffer.alloc(8192, 7), mt = new Date(1e12);
  const root = join(base, `fs-calls-${mode}-${Date.now()}`);
  const dirs = Array.from({ length: 100 }, (_, d) => join(root, `d${d}`));
  for (const d of dirs) fs.mkdirSync(d, { recursive: true });
  const names = (i) => [join(dirs[i % 100], `.t${i}`), join(dirs[i % 100], `f${i}`)];
  const t = performance.now();
  if (mode.startsWith('sync')) {
    for (let i = 0; i < N; i++) {
      const [tmp, fin] = names(i);
      const fd = fs.openSync(tmp, 'wx', 0o600);
      fs.writeSync(fd, buf); fs.fchmodSync(fd, 0o644); fs.futimesSync(fd, mt, mt); fs.closeSync(fd);
      if (mode === 'sync-lstat') try { fs.lstatSync(fin); } catch {}
      fs.renameSync(tmp, fin);
    }
  } else if (mode.startsWith('callback')) {
    await inParallel(width, N, async (i) => {
      const [tmp, fin] = names(i);
      const fd = await c.open(tmp, 'wx', 0o600);
      await c.write(fd, buf); await c.fchmod(fd, 0o644); await c.futimes(fd, mt, mt); await c.close(fd); await c.rename(tmp, fin);
    });
  } else {
    await inParallel(width, N, async (i) => {
      const [tmp, fin] = names(i);
      const h = await fsp.open(tmp, 'wx', 0o600);
      await h.write(buf); await h.chmod(0o644); await h.utimes(mt, mt); await h.close(); await fsp.rename(tmp, fin);
    });
  }
  const s = (performance.now() - t) / 1000;
  console.log(`create ${mode}: ${Math.round(N / s)} files/s (${root}, left in place: deleting many files slows the next creations)`);
} else {
  const files = [];
  (function walk(d) { for (const n of fs.readdirSync(d).sort()) { const p = join(d, n); const st = fs.lstatSync(p); if (st.isDirectory()) walk(p); else if (st.isFile()) files.push([p, st.size]); } })(base);
  const t = performance.now();
  if (mode === 'sync') {
    for (const [p, size] of files) { const fd = fs.openSync(p, 'r'); fs.readSync(fd, Buffer.allocUnsafe(size), 0, size, 0); fs.fstatSync(fd); fs.closeSync(fd); }
  } else if (mode.startsWith('callback')) {
    await inParallel(width, files.length, async (i) => { const [p, size] = files[i]; const fd = await c.open(p, 'r'); await c.read(fd, Buffer.allocUnsafe(size), 0, size, 0); await c.fstat(fd); await c.close(fd); });
  } else {
    await inParallel(width, files.length, async (i) => { const [p, size] = files[i]; const h = await fsp.open(p); await h.read(Buffer.allocUnsafe(size), 0, size, 0); await h.stat(); await h.close(); });
  }
  const s = (performance.now() - t) / 1000;
  console.log(`read ${mode}: ${Math.round(files.length / s)} files/s over ${files.length} files`);
}

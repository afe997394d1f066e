/**
 * Walk entries -> the same entries, with each small regular file already read
 * whole, in walk order but for one thing: among small files read side by
 * side, those that look incompressible are handed on after the others
 * (takeRun below). Reading one small file at a time leaves the disk idle
 * between files, so entries are taken from the walk ahead of the consumer
 * and their small files read in batches (source-jobs.ts), while the consumer
 * packs the ones before them.
 *
 * Bounded: at most `files` entries are held or being read, and the small
 * files' bytes live in one ring of `bytes` bytes, shared with the source
 * thread: a file's space is taken when it is asked for and given back once
 * the consumer has passed it and every file handed on with it, so memory
 * stays flat and nothing is allocated per file. The window is refilled once
 * it is half empty, so a batch holds half of it. Larger files are passed on
 * unread, for the consumer to stream. Only entries the walk has handed on are read, so a
 * file that changes between the walk and the read is seen changed.
 *
 * A small file is read as large as the walk found it, or less if it ends
 * sooner; the answer says what happened and the consumer decides what to
 * warn about, in archive order. The walk's own warnings are held back while
 * entries before them wait in the window and replayed when the consumer gets
 * there.
 */
import type { RunWarning, Warnings } from '../report.js';
import { looksIncompressible } from './compress.js';
import type { FileRead } from './source-jobs.js';
import { inProcessReader } from './source-readers.js';
import type { SourceReader } from './source-readers.js';
import type { WalkEntry } from './walk.js';

export interface SmallFile {
  /** The bytes read (`read.length` of them): a view of the ring, valid until the consumer asks for the next item. */
  data: Buffer;
  read: FileRead;
}

export interface ReadAheadItem {
  entry: WalkEntry;
  /** Set for small regular files. */
  small?: SmallFile;
}

export interface ReadAheadLimits {
  /** Entries taken from the walk ahead of the consumer. */
  files: number;
  /** Size of the ring that holds the small files' bytes. */
  bytes: number;
  /** Regular files of at most this many bytes are read ahead. */
  smallFile: number;
}

/**
 * Batches of 256 files (half the window): with 32, the main and source
 * threads kept waiting on each other, and a 100,000-file backup took 5.0-5.6
 * s against 5.0 s now; 1,024 files or a 16 MiB ring gained nothing more. The
 * ring is resident for the whole run and peak RSS must stay within 256
 * MiB: this window cost about 20 MiB at peak (PERFORMANCE.md).
 */
export const READ_AHEAD: ReadAheadLimits = { files: 512, bytes: 8 * 1024 * 1024, smallFile: 1024 * 1024 };

/** An entry in the window, with the walk's warnings from before it and, for a small file, its read once answered. */
class Slot {
  small?: SmallFile;
  failure?: Error;
  private wake?: () => void;

  /**
   * `at`: where a small file's bytes go in the ring (an empty one takes no
   * space there); `batch`: which refill let the entry in.
   */
  constructor(readonly entry: WalkEntry, readonly warningsBefore: RunWarning[], readonly at: number | undefined, readonly batch: number) {}

  get inRing(): boolean {
    return this.at !== undefined && this.entry.stat.size > 0;
  }

  answer(small: SmallFile | undefined, failure?: Error): void {
    this.small = small;
    this.failure = failure;
    this.wake?.();
  }

  /** Resolves once the read is answered; costs a promise only when the consumer has to wait. */
  answered(): Promise<void> | undefined {
    if (this.at === undefined || this.small || this.failure) return undefined;
    return new Promise((resolve) => (this.wake = resolve));
  }
}

/**
 * `warnings` must be the walk's: what the walk adds while entries before it
 * are still in the window is held back and replayed when the consumer gets
 * there, so warnings stay in archive order.
 */
export async function* readAhead(entries: AsyncIterable<WalkEntry>, warnings: Warnings, reader: Pick<SourceReader, 'read'> = inProcessReader, limits: ReadAheadLimits = READ_AHEAD): AsyncGenerator<ReadAheadItem> {
  const it = entries[Symbol.asyncIterator]();
  const window: Slot[] = [];
  const ring = new Ring(limits.bytes);
  let exhausted = false;
  /** Warnings from the walk's last step, when it ended the walk. */
  let trailing: RunWarning[] = [];
  /** Taken from the walk but not yet let in: there is no room in the ring for it yet. */
  let waiting: { entry: WalkEntry; warningsBefore: RunWarning[] } | undefined;
  /** Entries of the run being handed on (see takeRun) not handed on yet: still ahead of the consumer, like the window's. */
  let inRun = 0;
  let refills = 0;
  /** Refilled once half empty, so a batch holds half the window. */
  const wantsRefill = (): boolean => window.length + inRun <= limits.files / 2;

  const pull = async (): Promise<{ entry: WalkEntry; warningsBefore: RunWarning[] } | undefined> => {
    const hold = window.length + inRun > 0;
    if (hold) warnings.hold();
    let next: IteratorResult<WalkEntry>;
    try {
      next = await it.next();
    } catch (err) {
      if (hold) warnings.replay(warnings.release());
      throw err;
    }
    const held = hold ? warnings.release() : NONE;
    if (!next.done) return { entry: next.value, warningsBefore: held };
    exhausted = true;
    trailing = held;
    return undefined;
  };

  /** Takes entries from the walk until the window is full, then asks for their small files in one batch. */
  const refill = async (): Promise<void> => {
    refills++;
    const batch: Slot[] = [];
    while (window.length + inRun < limits.files) {
      const taken = waiting ?? (exhausted ? undefined : await pull());
      waiting = undefined;
      if (!taken) break;
      const { entry } = taken;
      let at: number | undefined;
      if (entry.type === 'file' && entry.stat.size <= Math.min(limits.smallFile, limits.bytes)) {
        at = entry.stat.size ? ring.take(entry.stat.size) : 0;
        if (at === undefined) {
          waiting = taken;
          break;
        }
      }
      const slot = new Slot(entry, taken.warningsBefore, at, refills);
      window.push(slot);
      if (at !== undefined) batch.push(slot);
    }
    if (batch.length) readBatch(reader, batch, ring);
  };

  try {
    while (true) {
      if (wantsRefill()) await refill();
      const slot = window.shift();
      if (!slot) break;
      warnings.replay(slot.warningsBefore);
      const answered = slot.answered();
      if (answered) await answered;
      if (slot.failure) throw slot.failure;
      if (!slot.small) {
        yield { entry: slot.entry };
        continue;
      }
      const run = takeRun(slot, window, limits.files / 2);
      inRun = run.length;
      for (const s of run) {
        if (wantsRefill()) await refill();
        inRun--;
        yield { entry: s.entry, small: s.small! };
      }
      // Spaces are given back oldest first, so only once the whole run is handed on.
      for (const s of run) if (s.inRing) ring.giveBack();
    }
    warnings.replay(trailing);
  } finally {
    // Batches still in flight are answered to nobody; the walk is told to stop.
    if (!exhausted) await it.return?.();
  }
}

const NONE: RunWarning[] = [];

/**
 * `first`, a small file read, and the small files right after it that were
 * read in the same batch and that the walk said nothing before (at most
 * `most` in all), taken from the window: the ones whose bytes look
 * incompressible last, each group in walk order. zstd then meets them side
 * by side instead of interleaved with text, and passes most of their blocks
 * through as they are: a 100,000-file backup, half text, half random,
 * stored 5.4% less and its chunks compressed about 20% faster
 * (PERFORMANCE.md, "Incompressible small files last; the next directory
 * listed ahead"). Batches are cut where the consumer stands, not where a
 * read happens to finish, so the same tree is archived in the same order
 * every time.
 */
function takeRun(first: Slot, window: Slot[], most: number): Slot[] {
  const run = [first];
  // A batch is answered whole, so the files after `first` in its batch are read too.
  while (run.length < most && window[0]?.at !== undefined && window[0].batch === first.batch && window[0].warningsBefore.length === 0) run.push(window.shift()!);
  const dense = run.map((s) => looksIncompressible(s.small!.data));
  if (!dense.includes(true)) return run;
  return [...run.filter((_, i) => !dense[i]), ...run.filter((_, i) => dense[i])];
}

function readBatch(reader: Pick<SourceReader, 'read'>, batch: Slot[], ring: Ring): void {
  const sizes = batch.map((s) => s.entry.stat.size);
  reader.read(batch.map((s) => s.entry.absPath), sizes, batch.map((s) => s.at!), ring.memory).then(
    (files) => {
      for (const [i, slot] of batch.entries()) {
        const read = files[i]!;
        slot.answer({ data: ring.view.subarray(slot.at!, slot.at! + read.length), read });
      }
    },
    (err: Error) => {
      for (const slot of batch) slot.answer(undefined, err);
    },
  );
}

/**
 * Where each space starts: a multiple of this. V8 copies out of shared memory
 * word by word only when source and destination are aligned alike, byte by
 * byte otherwise, and a file's bytes go to a block boundary in the tar: from
 * spaces at any byte, that copy took 3% of a 100,000-file backup's CPU.
 */
const SPACE_ALIGN = 8;

/**
 * Space for small files in one shared buffer, taken in walk order and given
 * back in the same order: the live spaces always form one run, from the
 * oldest to the newest, wrapping at the end of the buffer at most once.
 */
class Ring {
  readonly memory: SharedArrayBuffer;
  readonly view: Buffer;
  /** Offset and length of each space not given back, oldest first. */
  private readonly live: { at: number; length: number }[] = [];

  constructor(size: number) {
    this.memory = new SharedArrayBuffer(size);
    this.view = Buffer.from(this.memory);
  }

  /** Where a space of `length` (> 0) bytes starts, or undefined if there is no room until older ones are given back. */
  take(length: number): number | undefined {
    const oldest = this.live[0];
    const newest = this.live[this.live.length - 1];
    let at: number | undefined;
    if (!oldest || !newest) at = length <= this.view.length ? 0 : undefined;
    else {
      const end = Math.ceil((newest.at + newest.length) / SPACE_ALIGN) * SPACE_ALIGN;
      if (end > oldest.at) {
        // Not wrapped: room after the newest, or else at the start, before the oldest.
        if (this.view.length - end >= length) at = end;
        else if (oldest.at >= length) at = 0;
      } else if (oldest.at - end >= length) {
        at = end;
      }
    }
    if (at !== undefined) this.live.push({ at, length });
    return at;
  }

  giveBack(): void {
    this.live.shift();
  }
}

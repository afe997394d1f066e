/**
 * Regular files written on the worker pool's threads (as lanes), so that
 * restoring many small files keeps every core busy in the kernel and the
 * hashing is off the main thread. A file goes to the lane with the least
 * work queued when it begins (bytes, and a fixed cost per file), so a few
 * large files spread as evenly as many small ones. But a folder's files
 * stay on one lane while that lane is not far ahead: two lanes creating
 * files in one folder wait on its lock, and the kernel spins while they
 * wait. Callers that need two files in order (fs-writer.ts: the same name
 * twice) wait for the first to settle. A file travels as begin / data... / end ops (file-jobs.ts), in batches
 * (file-batch.ts): when a batch is full, or once the caller yields. What is
 * in flight is bounded in files and in bytes; `room()` waits for
 * acknowledgements when it is full. With no threads (workers 0, or the
 * compiled worker script absent under tests) the same ops run in-process,
 * at once. Once started, the lanes keep the process alive until close(),
 * which the caller must reach (a finally block) before closing the pool.
 */
import type { ChunkWork, FileLane } from '../parallel/pool.js';
import { FileJobs } from './file-jobs.js';
import type { Expected, FileMeta, FileOp, FileOutcome, SmallFileOp } from './file-jobs.js';
import { BATCH_BYTES } from './file-batch.js';
import type { WriterReply } from './file-batch.js';

/** Several folders of small files: the lanes can be in different ones (AFFINITY_FILES). */
const MAX_FILES_IN_FLIGHT = 1024;
/**
 * Large files stream one after the other, each on one lane, so the next can
 * start on another lane only while the last one's tail is still queued:
 * with 8 MiB a 2 GiB restore of 50 MB files kept about one core busy for
 * half its time, with 32 MiB both; 64 MiB gained nothing more
 * (docs/PERFORMANCE.md, "Direct I/O for volumes").
 */
const MAX_BYTES_IN_FLIGHT = 32 * 1024 * 1024;
/** A batch is sent once it holds this many ops (or BATCH_BYTES). */
const BATCH_OPS = 256;
/** What a file costs a lane besides its bytes (open, rename, metadata), counted as this many bytes. */
const FILE_COST = 64 * 1024;
/**
 * A folder's files stay on the lane its first one went to while that lane
 * is at most this many files and bytes ahead of the least loaded one: two
 * lanes creating files in one folder queue on its lock.
 */
const AFFINITY_FILES = MAX_FILES_IN_FLIGHT / 2;
const AFFINITY_BYTES = 4 * 1024 * 1024;

interface Lane {
  index: number;
  channel: FileLane;
  /** Work given to the lane and not yet acknowledged, in bytes (FILE_COST per file); `batchLoad` of it is still here. */
  load: number;
  batchLoad: number;
  /** Files given to the lane and not yet acknowledged; `batchFiles` of them are still here. */
  files: number;
  batchFiles: number;
  batch: (FileOp | SmallFileOp)[];
  /** The batch's data, packed piece after piece (a piece that does not fit is split across two). */
  buffers: ArrayBuffer[];
  /** Bytes used in the last buffer; -1 when there is none yet. */
  packed: number;
  batchBytes: number;
}

/**
 * A file being handed over. A small one travels as a single op (SmallFileOp) when
 * it ends; one whose data is still coming when its batch must go is spilled
 * as begin and data ops, and streams from then on.
 */
interface OpenFile {
  lane: Lane;
  /** Load added so far, taken back if the file is dropped before its lane hears of it. */
  load: number;
  tmp: string | null | undefined;
  /** The final name, when the file is to be created under it (file-jobs.ts). */
  direct: string | undefined;
  /** The mode to create it with (file-jobs.ts); undefined: 0600. */
  mode: number | undefined;
  /** Where its pieces are so far: buffer, offset and length of each, one after another. */
  data: number[];
  streaming: boolean;
}

export class FileWriters {
  private readonly lanes: Lane[] = [];
  private inProcess: FileJobs | undefined;
  /** What to call with each file's outcome. */
  private readonly pending = new Map<number, (o: FileOutcome) => void>();
  /** Files begun and not yet ended. */
  private readonly open = new Map<number, OpenFile>();
  private nextId = 0;
  private bytesInFlight = 0;
  /** Callers waiting in room() or settled(): several can wait at once (a backup's tar and volume writer do). */
  private waiting: (() => void)[] = [];
  private failed: Error | undefined;
  private flushScheduled = false;
  /** Batch buffers the threads gave back, for reuse. */
  private readonly freeBuffers: ArrayBuffer[] = [];
  /** The folder of the last file begun with a name, and the lane it went to. */
  private lastFolder = '';
  private lastFolderLane: Lane | undefined;

  private started = false;
  /** Each lane's acknowledgement of close, once asked. */
  private readonly closeAcks: (() => void)[] = [];

  /** `work`: the pool whose threads write; without one (or with an in-process pool) files are written here. */
  constructor(private readonly work: ChunkWork | null = null) {}

  /** Lanes open with the first file, so a restore that fails before writing never holds the threads. */
  private start(): void {
    this.started = true;
    const channels = this.work?.fileLanes((r) => this.replied(r as WriterReply), (err) => this.fail(err), (lane) => this.lanes[lane]?.load ?? 0) ?? [];
    for (const channel of channels) this.lanes.push({ index: this.lanes.length, channel, load: 0, batchLoad: 0, files: 0, batchFiles: 0, batch: [], buffers: [], packed: -1, batchBytes: 0 });
    if (!this.lanes.length) this.inProcess = new FileJobs();
  }

  /**
   * Starts a file under its temporary name (null: only hash it), or under
   * `direct`, its final name, if nothing has that name yet (with `tmp`
   * undefined the lane makes up a temporary name if it must); with `mode`,
   * it is created with that mode (file-jobs.ts).
   */
  begin(tmp: string | null | undefined, direct?: string, mode?: number): number {
    const id = this.nextId++;
    if (!this.started) this.start();
    if (this.inProcess) {
      this.inProcess.run(beginOp(id, tmp, direct, mode), []);
      return id;
    }
    const lane = this.laneFor(direct ?? tmp);
    this.addLoad(lane, FILE_COST);
    lane.files++;
    lane.batchFiles++;
    this.open.set(id, { lane, load: FILE_COST, tmp, direct, mode, data: [], streaming: false });
    return id;
  }

  /** The lane of the folder `path` is in (see AFFINITY_FILES), or the least loaded one. */
  private laneFor(path: string | null | undefined): Lane {
    const least = this.lanes.reduce((l, m) => (m.load < l.load ? m : l));
    if (!path) return least;
    const slash = path.lastIndexOf('/');
    const kept = this.lastFolderLane;
    if (slash === this.lastFolder.length && path.startsWith(this.lastFolder)) {
      if (kept && kept.files - least.files < AFFINITY_FILES && bytesOf(kept) - bytesOf(least) < AFFINITY_BYTES) return kept;
    } else this.lastFolder = path.slice(0, slash);
    this.lastFolderLane = least;
    return least;
  }

  /** Queues bytes of the file; the piece is copied, so the caller's buffer stays its own. */
  data(id: number, piece: Buffer): void {
    if (this.inProcess) {
      this.inProcess.run({ op: 'data', id, buffer: 0, offset: 0, length: piece.length }, [piece]);
      return;
    }
    const file = this.open.get(id)!;
    const lane = file.lane;
    this.bytesInFlight += piece.length;
    this.addLoad(lane, piece.length);
    file.load += piece.length;
    // Packed into the batch's buffers (split where one fills up): one transfer per batch, not per
    // piece, and buffers the threads hand back, so nothing is allocated and zeroed per file.
    for (let done = 0; done < piece.length; ) {
      if (lane.packed === -1 || lane.packed === BATCH_BYTES) {
        lane.buffers.push(this.freeBuffers.pop() ?? new ArrayBuffer(BATCH_BYTES));
        lane.packed = 0;
      }
      const buffer = lane.buffers.length - 1;
      const offset = lane.packed;
      const length = Math.min(BATCH_BYTES - offset, piece.length - done);
      new Uint8Array(lane.buffers[buffer]!, offset, length).set(piece.subarray(done, done + length));
      lane.packed += length;
      lane.batchBytes += length;
      done += length;
      if (file.streaming) this.queue(lane, { op: 'data', id, buffer, offset, length });
      else {
        file.data.push(buffer, offset, length);
        this.sendIfFull(lane);
      }
    }
  }

  /** Finishes the file: checked against `expected`, metadata set, renamed to `final`. */
  end(id: number, final: string, meta: FileMeta, expected: Expected | null): Promise<FileOutcome> {
    return new Promise((resolve) => this.endThen(id, final, meta, expected, resolve));
  }

  /** As end(), with the outcome given to `then`: no promise per file, for callers that end many. */
  endThen(id: number, final: string, meta: FileMeta, expected: Expected | null, then: (o: FileOutcome) => void): void {
    this.pending.set(id, then);
    if (this.inProcess) {
      this.settle(this.inProcess.run({ op: 'end', id, final, meta, expected }, []));
      return;
    }
    const file = this.open.get(id)!;
    this.open.delete(id);
    if (file.streaming) this.queue(file.lane, { op: 'end', id, final, meta, expected });
    else this.queue(file.lane, [id, file.tmp === undefined ? 0 : file.tmp, final, file.direct ? 1 : 0, file.mode ?? -1, meta.mode, meta.uid, meta.gid, meta.mtimeMs, expected ? expected.sha256 : null, expected ? expected.size : 0, ...file.data]);
  }

  /** Drops a file that will not be finished: closed and unlinked. */
  abort(id: number): void {
    if (this.inProcess) {
      this.inProcess.run({ op: 'abort', id }, []);
      return;
    }
    const file = this.open.get(id);
    this.open.delete(id);
    if (file?.streaming) this.queue(file.lane, { op: 'abort', id });
    else if (file) {
      this.addLoad(file.lane, -file.load);
      file.lane.files--;
      file.lane.batchFiles--;
    }
  }

  /** Whether room() would wait (or throw): callers check first, as an async call costs even when it returns at once. */
  get full(): boolean {
    return this.failed !== undefined || this.pending.size >= MAX_FILES_IN_FLIGHT || this.bytesInFlight >= MAX_BYTES_IN_FLIGHT;
  }

  /** Resolves once fewer files and bytes are in flight than the bounds. */
  async room(): Promise<void> {
    while (!this.failed && (this.pending.size >= MAX_FILES_IN_FLIGHT || this.bytesInFlight >= MAX_BYTES_IN_FLIGHT)) {
      this.flush();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.failed) throw this.failed;
  }

  /** Resolves once every file begun so far has its outcome. */
  async settled(): Promise<void> {
    while (!this.failed && this.pending.size) {
      this.flush();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.failed) throw this.failed;
  }

  /**
   * Ends the lanes. Files already ended are finished first (a failing
   * restore keeps what it completed); files begun and not ended are closed
   * and unlinked.
   */
  async close(): Promise<void> {
    this.inProcess?.abortAll();
    this.open.clear();
    this.flush();
    if (!this.lanes.length || this.failed) return;
    await Promise.all(this.lanes.map((lane) => new Promise<void>((resolve) => {
      this.closeAcks.push(resolve);
      lane.channel.post({ close: true }, []);
    })));
    this.work!.releaseFileLanes();
  }

  private queue(lane: Lane, op: FileOp | SmallFileOp): void {
    lane.batch.push(op);
    this.sendIfFull(lane);
    // Whatever is still batched goes once the caller yields, so an awaited outcome always comes.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private sendIfFull(lane: Lane): void {
    if (lane.batch.length >= BATCH_OPS || lane.batchBytes >= BATCH_BYTES) this.send(lane);
  }

  private flush(): void {
    for (const lane of this.lanes) if (lane.batch.length) this.send(lane);
  }

  private send(lane: Lane): void {
    // Data of a file not yet ended points into this batch's buffers: hand it over now.
    for (const [id, file] of this.open) {
      if (file.lane !== lane || file.streaming) continue;
      lane.batch.push(beginOp(id, file.tmp, file.direct, file.mode));
      const d = file.data;
      for (let i = 0; i < d.length; i += 3) lane.batch.push({ op: 'data', id, buffer: d[i]!, offset: d[i + 1]!, length: d[i + 2]! });
      file.data = [];
      file.streaming = true;
    }
    // One transfer per batch, not per piece: transferring an ArrayBuffer costs far more than copying a
    // few KiB; and a JSON string crosses threads at about twice the speed of the same objects.
    lane.channel.post({ lane: lane.index, load: lane.batchLoad, files: lane.batchFiles, ops: JSON.stringify(lane.batch), buffers: lane.buffers, bytes: lane.batchBytes }, lane.buffers);
    lane.batchLoad = 0;
    lane.batchFiles = 0;
    lane.batch = [];
    lane.buffers = [];
    lane.packed = -1;
    lane.batchBytes = 0;
  }

  private replied(r: WriterReply): void {
    if ('closed' in r) {
      this.closeAcks.shift()?.();
      return;
    }
    this.bytesInFlight -= r.bytes;
    const lane = this.lanes[r.lane]!;
    lane.load -= r.load;
    lane.files -= r.files;
    for (const b of r.buffers) if (this.freeBuffers.length < MAX_BYTES_IN_FLIGHT / BATCH_BYTES) this.freeBuffers.push(b);
    for (const o of r.outcomes) this.settle(o);
    this.wakeUp();
  }

  private settle(o: FileOutcome | undefined): void {
    if (!o) return;
    const then = this.pending.get(o.id);
    this.pending.delete(o.id);
    then?.(o);
  }

  private addLoad(lane: Lane, n: number): void {
    lane.load += n;
    lane.batchLoad += n;
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.wakeUp();
  }

  private wakeUp(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w();
  }
}

/** Data bytes given to the lane and not yet acknowledged. */
function bytesOf(lane: Lane): number {
  return lane.load - lane.files * FILE_COST;
}

function beginOp(id: number, tmp: string | null | undefined, direct: string | undefined, mode: number | undefined): FileOp {
  return { op: 'begin', id, tmp, ...(direct === undefined ? {} : { direct: true, final: direct }), ...(mode === undefined ? {} : { mode }) };
}

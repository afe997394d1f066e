/**
 * A large file's bytes, read ahead on the first source thread (source-jobs.ts
 * streams): up to SLOTS parts are asked for at once, each into its own slot
 * of one shared buffer, and handed on in order. A slot is asked for again
 * only once the consumer has taken the part in it (by asking for the next),
 * so the source thread reads and hashes while the main thread packs and
 * seals, and memory stays at SLOTS parts whatever the file's size.
 */
import type { CallFailure, PartRead } from './source-jobs.js';
import type { SourceReader } from './source-readers.js';

export const PART_BYTES = 1024 * 1024;
const SLOTS = 4;

/** Where parts are read: one per tar stream, used by one file at a time. */
export class PartSlots {
  readonly memory = new SharedArrayBuffer(SLOTS * PART_BYTES);
  readonly view = Buffer.from(this.memory);
}

export interface FilePart {
  /** A view of a slot, valid until the next part is asked for. */
  data: Buffer;
  /** Set on the last part when a read failed; a part shorter than asked is the last either way. */
  readFailure?: CallFailure;
}

/** The first `size` bytes of an open stream, or fewer when the file ends or a read fails first. */
export async function* fileParts(reader: SourceReader, slots: PartSlots, stream: number, size: number): AsyncGenerator<FilePart> {
  const pending: { length: number; at: number; read: Promise<PartRead> }[] = [];
  let asked = 0;
  let nextPart = 0;
  const askAhead = () => {
    while (pending.length < SLOTS && asked < size) {
      const length = Math.min(PART_BYTES, size - asked);
      const at = (nextPart++ % SLOTS) * PART_BYTES;
      const read = reader.part(stream, length, slots.memory, at);
      read.catch(() => {}); // awaited in turn; one dropped after a short part must not go unhandled
      pending.push({ length, at, read });
      asked += length;
    }
  };
  askAhead();
  for (let next = pending.shift(); next; next = pending.shift()) {
    const part = await next.read;
    const data = slots.view.subarray(next.at, next.at + part.length);
    yield part.readFailure ? { data, readFailure: part.readFailure } : { data };
    // Reads asked for after a short one find the file ended and write nothing.
    if (part.length < next.length) return;
    askAhead();
  }
}

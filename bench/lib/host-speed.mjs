/**
 * How fast this host is right now, on one core: SHA-256 over 256 MiB in
 * memory. A virtual machine's speed can change under a run (neighbours on
 * the same host): a probe before every round shows when it did, and by how
 * much, so a run is not read as more than it measured.
 */
import { createHash } from 'node:crypto';

const BLOCK = Buffer.alloc(64 * 1024 * 1024, 0x5a);
const PASSES = 4;

/** SHA-256 throughput in GiB/s. */
export function hostSpeed() {
  const t0 = performance.now();
  for (let i = 0; i < PASSES; i++) createHash('sha256').update(BLOCK).digest();
  return (PASSES * BLOCK.length) / 1024 ** 3 / ((performance.now() - t0) / 1000);
}

/** Above this spread between the slowest and the fastest probe, the report says the host's speed moved. */
export const STEADY_SPREAD = 1.15;

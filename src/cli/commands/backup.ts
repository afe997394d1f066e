import { runBackup } from '../../backup/run.js';
import { COMPRESSION_CHOICES, defaultCompression } from '../../backup/compress.js';
import type { CompressionChoice } from '../../backup/compress.js';
import { checkSources } from '../../backup/walk.js';
import { loadIdentity } from '../../crypto/identity-file.js';
import { UsageError } from '../../errors.js';
import { openTarget } from '../../targets/target.js';
import type { Context } from '../context.js';
import { readPassphrase, readRecipients } from '../keys.js';
import { printJson, printWarnings, say, warningsJson } from '../output.js';
import { count, formatBytes, parseSize, parseWorkers } from '../sizes.js';

export interface BackupFlags {
  to: string;
  recipient?: string[];
  passphraseFile?: string;
  signKey?: string;
  volumeSize: string;
  chunkSize: string;
  label: string;
  exclude?: string[];
  compress?: string;
  pad?: boolean;
  workers?: string;
}

export async function backup(sources: string[], flags: BackupFlags, ctx: Context): Promise<number> {
  const recipients = await readRecipients(flags.recipient ?? []);
  // An explicit --passphrase-file always protects the set; COFFER_PASSPHRASE does when there is no recipient.
  const passphrase = await readPassphrase(flags.passphraseFile);
  const setPassphrase = flags.passphraseFile !== undefined || recipients.length === 0 ? passphrase : undefined;
  if (!recipients.length && !setPassphrase) {
    throw new UsageError('no-recipient', 'no way to decrypt the set was given', { hint: 'give --recipient FILE.pub or --passphrase-file FILE (or set COFFER_PASSPHRASE)' });
  }
  // Padding stores every chunk at full length, so compressing first would only cost time.
  const compression = flags.compress ?? (flags.pad ? 'none' : defaultCompression());
  if (!COMPRESSION_CHOICES.includes(compression as CompressionChoice)) throw new UsageError('bad-compression', `--compress ${compression} is not supported`, { hint: `use ${COMPRESSION_CHOICES.join(', ')}` });
  const signer = flags.signKey ? await loadIdentity(flags.signKey, async () => passphrase) : undefined;
  const volumeSize = parseSize(flags.volumeSize, '--volume-size');
  const chunkSize = parseSize(flags.chunkSize, '--chunk-size');
  if (chunkSize < 4096 || chunkSize > 16 * 1024 * 1024) throw new UsageError('bad-chunk-size', `--chunk-size must be between 4K and 16M`);
  const absSources = await checkSources(sources);
  const target = await openTarget(flags.to, { create: true });
  const r = await runBackup({
    sources: absSources,
    target,
    recipients,
    ...(setPassphrase ? { passphrase: setPassphrase } : {}),
    ...(signer ? { signer } : {}),
    volumeSize,
    chunkSize,
    compression: compression as CompressionChoice,
    ...(flags.workers !== undefined ? { workers: parseWorkers(flags.workers) } : {}),
    pad: Boolean(flags.pad),
    label: flags.label,
    excludes: flags.exclude ?? [],
    log: ctx.log,
    progress: ctx.progress,
  });
  const code = r.warnings.count ? 1 : 0;
  if (ctx.json) {
    printJson({ ok: true, exitCode: code, command: 'backup', target: target.display, set: r.set, label: r.label, entries: r.entries, files: r.files, sourceBytes: r.sourceBytes, storedBytes: r.storedBytes, volumes: r.volumes, signer: r.signer, seconds: r.seconds, warnings: warningsJson(r.warnings) });
  } else {
    printWarnings(r.warnings);
    say(`set ${r.set}: ${count(r.files, 'file')} (${formatBytes(r.sourceBytes)}) in ${count(r.volumes.length, 'volume')}, ${formatBytes(r.storedBytes)} stored, ${r.seconds.toFixed(1)} s${r.warnings.count ? `, ${count(r.warnings.count, 'warning')}` : ''}`);
  }
  return code;
}

/**
 * The command line: commander parses, commands run, and every failure ends
 * here as one stderr line (or one JSON object) and an exit code from the
 * brief's table. Stack traces go to the log, never to the terminal.
 */
import { Command, CommanderError, Option } from 'commander';
import { CofferError, ExitCode, TargetError, UsageError, failureEvent } from '../errors.js';
import { VERSION } from '../version.js';
import { makeContext } from './context.js';
import type { CommonFlags, Context } from './context.js';
import type { SetFlags } from './open.js';
import { errorJson, printError, printJson } from './output.js';
import { startWorkersEarly } from '../parallel/early-workers.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** For a command about to need worker threads: starts them while it loads (a --workers the command will refuse starts none). */
function workersEarly(flags: { workers?: string }): void {
  if (flags.workers === undefined) startWorkersEarly();
  else if (/^\d{1,3}$/.test(flags.workers)) startWorkersEarly(Number(flags.workers));
}

function common(cmd: Command): Command {
  return cmd
    .option('--json', 'print the result as one JSON object on stdout')
    .option('--log-file <file>', 'write JSON logs to this file')
    .option('--log-level <level>', 'log level (info with --log-file; logs go to stderr if no file is given)');
}

function keyed(cmd: Command): Command {
  return cmd
    .option('--identity <file>', 'identity file that decrypts the set (repeatable)', collect)
    .option('--passphrase-file <file>', 'file holding the passphrase (or set COFFER_PASSPHRASE)');
}

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = ExitCode.ok;
  let ctx: Context | undefined;
  let json = argv.includes('--json');
  // commander has checked required options; each command declares the flags it reads.
  type Flags = never;
  // Each action imports its command's module when it runs: a restore does not wait for the backup's modules to load.
  const run = (fn: (c: Context, args: string[], flags: Flags) => Promise<number>) => async (...actionArgs: unknown[]) => {
    const cmd = actionArgs[actionArgs.length - 1] as Command;
    const flags = cmd.opts<CommonFlags>();
    json = Boolean(flags.json);
    ctx = makeContext(flags, cmd.name());
    exitCode = await fn(ctx, cmd.args, cmd.opts<Flags>());
  };

  const program = new Command('coffer')
    .description('Encrypted backups to tape, disk and offsite storage')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .showHelpAfterError(false);

  common(program.command('keygen'))
    .summary('create an identity (secret) and its public key')
    .description('Create an identity file (mode 0600) and FILE.pub, and print the public key.\n\n  coffer keygen --out ~/.coffer/ops\n  coffer keygen --out ~/.coffer/ops --passphrase-file ~/.coffer/pass   # protect it at rest')
    .requiredOption('--out <file>', 'identity file to create (FILE.pub is written beside it)')
    .option('--passphrase-file <file>', 'protect the identity with this passphrase (or COFFER_PASSPHRASE)')
    .action(run(async (c, _args, flags) => (await import('./commands/keygen.js')).keygen(flags, c)));

  common(program.command('backup'))
    .summary('back up directories into encrypted volumes')
    .description('Back up SOURCE... into a new set in TARGET.\n\n  coffer backup /etc /srv --to /mnt/backup --recipient ops.pub --sign-key host.key\n  COFFER_PASSPHRASE=... coffer backup ~/work --to /mnt/usb --volume-size 4G')
    .argument('<source...>', 'files or directories to back up')
    .requiredOption('--to <target>', 'target: a directory')
    .option('--recipient <file>', 'public key file that can decrypt the set (repeatable)', collect)
    .option('--passphrase-file <file>', 'encrypt for a passphrase (also unlocks a protected --sign-key)')
    .option('--sign-key <identity>', 'identity file to sign the manifest with')
    .option('--volume-size <size>', 'largest volume, bytes or K/M/G/T', '1G')
    .option('--chunk-size <size>', 'plaintext bytes per chunk', '1M')
    .option('--label <name>', 'label stored in the manifest (readable without a key)', '')
    .option('--exclude <glob>', 'skip paths matching this glob (repeatable)', collect)
    .addOption(new Option('--compress <codec>', 'per-chunk compression (default zstd; none with --pad)').choices(['zstd', 'deflate', 'none']))
    .option('--workers <n>', 'worker threads for compression (default: one per core; 0: none)')
    .option('--pad', 'store every chunk at the same length, so volumes do not show how compressible the data is')
    .action(
      run(async (c, args, flags) => {
        workersEarly(flags);
        return (await import('./commands/backup.js')).backup(args, flags, c);
      }),
    );

  common(program.command('list'))
    .summary('list the sets in a target (no key needed)')
    .argument('<target>')
    .action(run(async (c, args) => (await import('./commands/list.js')).list(args[0]!, c)));

  const withSet = (name: string) => {
    const cmd = program.command(name).argument('<target>').argument('[set]', 'set id (default: the newest complete set)');
    return keyed(common(cmd)).option('--trust <pubfile>', 'require the manifest to be signed by this public key');
  };
  const parallel = (cmd: Command) => cmd.option('--workers <n>', 'worker threads for decompression (default: one per core; 0: none)');

  withSet('ls')
    .summary("list a set's files (needs a key)")
    .option('--include <glob>', 'only entries matching this glob (repeatable)', collect)
    .action(run(async (c, args, flags) => (await import('./commands/ls.js')).ls(args[0]!, args[1], flags, c)));

  parallel(withSet('verify'))
    .summary('check a set: without a key its signature and volumes, with a key every chunk and file')
    .description('Verify a set.\n\n  coffer verify /mnt/backup --trust ops.pub        # no key: signature, sizes, hashes\n  coffer verify /mnt/backup --identity ops          # also authenticates and re-hashes every file')
    .action(
      run(async (c, args, flags: SetFlags) => {
        // Only with a key does verify decrypt (as keys.ts readOptionalKeySource decides); without, it uses no threads.
        if (flags.identity?.length || flags.passphraseFile !== undefined || process.env.COFFER_PASSPHRASE !== undefined) workersEarly(flags);
        return (await import('./commands/verify.js')).verify(args[0]!, args[1], flags, c);
      }),
    );

  parallel(withSet('restore'))
    .summary('restore a set, or some of its files, into a directory')
    .description("Restore a set.\n\n  coffer restore /mnt/backup --to /tmp/r --identity ops\n  coffer restore /mnt/backup --to /tmp/r --identity ops --include 'etc/ssh/**'")
    .requiredOption('--to <dir>', 'directory to restore into')
    .option('--include <glob>', 'only entries matching this glob (repeatable)', collect)
    .option('--volumes-only', 'ignore the manifest and restore from the volumes alone')
    .action(
      run(async (c, args, flags) => {
        workersEarly(flags);
        return (await import('./commands/restore.js')).restore(args[0]!, args[1], flags, c);
      }),
    );

  withSet('impact')
    .summary('list the files held by lost volumes')
    .requiredOption('--lost <n,...>', 'numbers of the lost volumes, e.g. 3 or 2,5')
    .action(run(async (c, args, flags) => (await import('./commands/impact.js')).impact(args[0]!, args[1], flags, c)));

  parallel(withSet('drill'))
    .summary('verify, restore to scratch space and report: a DR drill')
    .option('--against <dir>', 'compare the restored files with this live directory')
    .option('--scratch <dir>', 'restore into a new folder inside this directory instead of the system temporary directory')
    .option('--keep', 'keep the restored files')
    .action(
      run(async (c, args, flags) => {
        workersEarly(flags);
        return (await import('./commands/drill.js')).drill(args[0]!, args[1], flags, c);
      }),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    const e = toCofferError(err);
    if (!e) return ExitCode.ok; // --help or --version
    ctx?.log.error({ event: failureEvent(e), code: e.code, where: e.where, err: e.cause ?? e }, e.message);
    if (json) printJson(errorJson(e));
    else printError(e);
    return e.exitCode;
  }
}

/**
 * Last resort for a bug: one line, and exit 5 rather than Node's default 1,
 * which scripts would read as "done with warnings".
 */
export function crashed(err: unknown): void {
  process.stderr.write(`coffer: error: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.stderr.write('coffer: hint: this is a bug in coffer; nothing was marked complete. Please report it with the log\n');
  process.exit(ExitCode.io);
}

function toCofferError(err: unknown): CofferError | undefined {
  if (err instanceof CofferError) return err;
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return undefined;
    let message = err.message.replace(/^error: /, '');
    // commander quotes an unknown option as typed: `--passphrase=SECRET` or `-pSECRET` would put the
    // value (a passphrase typed as an argument) on stderr and into cron mail. Show the option's name only.
    if (err.code === 'commander.unknownOption') message = message.replace(/'(--[^'=]+)=[^']*'/, "'$1'").replace(/'(-[^-'])[^']+'/, "'$1'");
    return new UsageError('usage', message, { hint: 'see coffer --help' });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new TargetError(code ?? 'internal', code ? message : `internal error: ${message}`, { cause: err });
}

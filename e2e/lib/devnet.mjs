// Starts `shardnet devnet` as a child process for a test and stops it whatever happens.
//
// The devnet writes `--ready-file` (JSON: rpcUrl, chainId, accounts with keys and home
// shards) once its JSON-RPC gateway serves; we wait for that file, not for log lines.
// Stopping sends SIGTERM (the devnet shuts its validators down cleanly), then SIGKILL if it
// has not exited in time. Exit and signal hooks kill it too, so an aborted test run never
// leaves a devnet behind.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shardnet binary: $SHARDNET_BIN, else the debug build under $CARGO_TARGET_DIR or target/. */
export function shardnetBinary() {
  if (process.env.SHARDNET_BIN) return process.env.SHARDNET_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(repo, 'target');
  const bin = join(target, 'debug', 'shardnet');
  if (!existsSync(bin)) {
    throw new Error(`${bin} not found: run \`cargo build -p shardnet\` or set SHARDNET_BIN`);
  }
  return bin;
}

/**
 * Starts a devnet; resolves to { info, stop, log } once it serves JSON-RPC.
 * @param {{shards?: number, validators?: number, blockIntervalMs?: number, readyTimeoutMs?: number}} opts
 */
export async function startDevnet(opts = {}) {
  const { shards = 2, validators = 1, blockIntervalMs = 100, readyTimeoutMs = 60_000 } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-e2e-'));
  const readyFile = join(dir, 'ready.json');
  const logPath = join(dir, 'devnet.log');
  const log = createWriteStream(logPath);
  const child = spawn(
    shardnetBinary(),
    [
      'devnet',
      '--shards', String(shards),
      '--validators', String(validators),
      '--block-interval-ms', String(blockIntervalMs),
      '--rpc-port', '0',
      '--data-dir', join(dir, 'data'),
      '--ready-file', readyFile,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  const exit = new Promise((res) => child.on('exit', (code, signal) => {
    exited = { code, signal };
    res(exited);
  }));
  const killOnExit = () => { if (exited === null) child.kill('SIGKILL'); };
  // Interrupted (Ctrl-C, a CI timeout): kill the devnet, then die of the same signal.
  const killOnSignal = (signal) => {
    killOnExit();
    process.off('SIGINT', killOnSignal);
    process.off('SIGTERM', killOnSignal);
    process.kill(process.pid, signal);
  };
  process.on('exit', killOnExit);
  process.on('SIGINT', killOnSignal);
  process.on('SIGTERM', killOnSignal);

  let stopped = false;
  const stop = async () => {
    if (stopped) return exited;
    stopped = true;
    if (exited === null) {
      child.kill('SIGTERM');
      // Unref'd: a pending timer must not keep the test process alive after the devnet exits.
      const timeout = sleep(15_000, 'timeout', { ref: false });
      if ((await Promise.race([exit, timeout])) === 'timeout') {
        child.kill('SIGKILL');
        await exit;
      }
    }
    process.off('exit', killOnExit);
    process.off('SIGINT', killOnSignal);
    process.off('SIGTERM', killOnSignal);
    await new Promise((res) => log.end(res));
    if (!process.env.SHARDNET_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
    return exited;
  };
  const tail = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-30).join('\n') : '');

  const deadline = Date.now() + readyTimeoutMs;
  while (!existsSync(readyFile)) {
    if (exited !== null || Date.now() > deadline) {
      const why = exited !== null ? `exited (${JSON.stringify(exited)})` : `not ready after ${readyTimeoutMs} ms`;
      const lines = tail();
      await stop();
      throw new Error(`devnet ${why}; its log ends with:\n${lines}`);
    }
    await sleep(100);
  }
  const info = JSON.parse(readFileSync(readyFile, 'utf8'));
  return { info, stop, tail, dir };
}

// A live gptauth for one test file: its own free port, its own temporary SQLite database, data
// made with the real CLI before `gptauth serve` starts. Nothing here mocks the server.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const GPTAUTH_BIN = process.env.GPTAUTH_BIN || join(ROOT, 'target', 'debug', 'gptauth');

export const USER_EMAIL = 'grace@example.com';
export const USER_PASSWORD = 'a long and unusual passphrase 42';

const running = new Set();
process.once('exit', () => { for (const child of running) child.kill('SIGKILL'); });

/** Binds port 0 on loopback, notes the port the kernel chose, releases it. */
export function pickPort() {
  return new Promise((ok, fail) => {
    const probe = net.createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Creates one user with the CLI (`user`: its JSON, with the `id` every token's `sub` must
 * carry), then starts `gptauth serve`. `cli`/`cliJson`/`createClient` run more CLI commands on
 * the same database. Always call `stop()`.
 */
export async function startGptauth({ env: extraEnv = {} } = {}) {
  let failure;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await tryStart(extraEnv);
    } catch (e) {
      failure = e;
      if (!e.portInUse) break; // someone took the port between pick and bind: pick another
    }
  }
  throw failure;
}

async function tryStart(extraEnv) {
  const dir = await mkdtemp(join(tmpdir(), 'gptauth-clients-'));
  const port = await pickPort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: `sqlite://${join(dir, 'gptauth.db')}`,
    GPTAUTH_ISSUER: issuer,
    GPTAUTH_BIND: `127.0.0.1:${port}`,
    RUST_LOG: process.env.GPTAUTH_LOG || 'warn',
    NO_COLOR: '1',
    ...extraEnv,
  };

  /** Runs `gptauth ARGS…` on this server's database; resolves with stdout. */
  const cli = (args, input) => new Promise((ok, fail) => {
    const child = execFile(GPTAUTH_BIN, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) {
        err.message = `gptauth ${args.join(' ')} failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`;
        fail(err);
      } else ok(stdout);
    });
    child.stdin.end(input ?? '');
  });
  const cliJson = async (args, input) => JSON.parse(await cli([...args, '--json'], input));

  let user;
  try {
    user = await cliJson(['user', 'create', '--email', USER_EMAIL, '--name', 'Grace Hopper', '--password-stdin'],
      `${USER_PASSWORD}\n`);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }

  const child = spawn(GPTAUTH_BIN, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  let exited = null;
  const gone = new Promise((done) => child.once('close', (code, signal) => {
    running.delete(child);
    exited = { code, signal };
    done();
  }));
  child.once('error', (e) => { log += `\ncannot run ${GPTAUTH_BIN}: ${e.message}`; exited ??= { error: e.code }; });

  const stop = async () => {
    if (exited === null) {
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(hard);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && exited === null) {
    try {
      const res = await fetch(`${issuer}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        return {
          issuer, port, user, cli, cliJson, stop, log: () => log,
          databasePath: join(dir, 'gptauth.db'),
          /** Registers a confidential client with the CLI. */
          createClient: (name, redirectUris, more = []) => cliJson([
            'client', 'create', '--name', name,
            ...redirectUris.flatMap((u) => ['--redirect-uri', u]), ...more,
          ]),
        };
      }
    } catch { /* not up yet */ }
    await pause(50);
  }
  await stop();
  const err = new Error(`gptauth serve did not answer /healthz on ${issuer} (${JSON.stringify(exited)})\n${log}`);
  err.portInUse = /address already in use|AddrInUse|os error 98/i.test(log);
  throw err;
}

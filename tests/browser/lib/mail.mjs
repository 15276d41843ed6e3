// A real SMTP server on loopback for the browser suite: aiosmtpd (from tests/browser/.venv,
// which run.sh makes) with the handler in smtp_sink.py, which keeps each message as NNNN.eml
// (as received) and NNNN.json (the envelope, and the text and HTML parts decoded by Python's
// email package). gptauth is pointed at it with GPTAUTH_SMTP_URL=smtp://127.0.0.1:PORT.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SINK_PYTHON = process.env.MAIL_SINK_PYTHON || join(dirname(HERE), '.venv', 'bin', 'python');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Set();
process.once('exit', () => { for (const p of live) p.kill('SIGKILL'); });

/** A port that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true when an SMTP server greets (220) on the port, false otherwise. */
function greets(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok) => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\n')) {
        socket.end('QUIT\r\n');
        done(data.startsWith('220'));
      }
    });
  });
}

/**
 * Starts aiosmtpd on a free port of 127.0.0.1 with a fresh directory for the messages. Call
 * `stop()` when done (always).
 */
export async function startMailSink() {
  if (!existsSync(SINK_PYTHON)) {
    throw new Error(`no Python with aiosmtpd at ${SINK_PYTHON}: run the suite with tests/browser/run.sh, ` +
      'which makes tests/browser/.venv from requirements.txt (or set MAIL_SINK_PYTHON)');
  }
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'gptauth-mail-'));
    try {
      return await startIn(dir);
    } catch (e) {
      lastError = e;
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw lastError;
}

async function startIn(dir) {
  const port = await freePort();
  const proc = spawn(SINK_PYTHON,
    ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'smtp_sink.Maildrop', dir], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONPATH: HERE, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  live.add(proc);
  let dead = null;
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
    live.delete(proc);
    dead = { code, signal };
    resolve(dead);
  }));
  proc.once('error', (e) => { log += `\nspawn failed: ${e.message}`; live.delete(proc); dead ??= { error: e.code }; });

  const stop = async () => {
    if (dead === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => { if (dead === null) proc.kill('SIGKILL'); }, 3000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && dead === null) {
    if (await greets(port)) {
      /** Every message delivered so far, in arrival order. */
      const messages = async () => {
        const names = (await readdir(dir)).filter((n) => /^\d{4}\.json$/.test(n)).sort();
        return Promise.all(names.map(async (n) => {
          const m = JSON.parse(await readFile(join(dir, n), 'utf8'));
          if (m.parse_error) throw new Error(`message ${m.file} could not be read: ${m.parse_error}`);
          m.raw = await readFile(join(dir, m.file), 'utf8');
          return m;
        }));
      };
      /** Messages whose envelope goes to `address`. */
      const to = async (address) => (await messages()).filter((m) => m.rcpt_tos.includes(address));
      return {
        url: `smtp://127.0.0.1:${port}`,
        port,
        dir,
        stop,
        log: () => log,
        messages,
        to,
        /** Waits (bounded) for the `n`th message to `address`: mail is sent in the background. */
        async waitFor(address, n = 1, timeout = 10_000) {
          const until = Date.now() + timeout;
          for (;;) {
            const got = await to(address);
            if (got.length >= n) return got[n - 1];
            if (Date.now() > until || dead !== null) {
              throw new Error(`no message #${n} to ${address} within ${timeout} ms ` +
                `(delivered: ${JSON.stringify((await messages()).map((m) => [m.rcpt_tos, m.subject]))})\n` +
                `--- aiosmtpd log ---\n${log}`);
            }
            await sleep(50);
          }
        },
      };
    }
    await sleep(50);
  }
  await stop();
  throw new Error(`aiosmtpd did not answer on 127.0.0.1:${port} ` +
    `(${dead ? `exited ${JSON.stringify(dead)}` : 'timed out'})\n${log}`);
}

/** Decodes the HTML character references an attribute value can hold (&amp;, &#x2f;, &#47; …). */
export function unescapeHtml(s) {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] === '#') {
      const code = ref[1].toLowerCase() === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return named[ref.toLowerCase()] ?? whole;
  });
}

/**
 * The links to `origin` in a delivered message: `text` from its text part (whitespace ends a
 * link), `html` from the href attributes of its HTML part.
 */
export function linksIn(message, origin) {
  const text = (message.text ?? '').split(/\s+/).filter((w) => w.startsWith(`${origin}/`));
  const html = [...(message.html ?? '').matchAll(/href="([^"]*)"/g)]
    .map((m) => unescapeHtml(m[1]))
    .filter((u) => u.startsWith(`${origin}/`));
  return { text, html };
}

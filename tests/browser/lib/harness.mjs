// Test kit for the browser suite: a real gptauth server per test (own port, own temp SQLite
// database, client + user made with the CLI) and a Chromium context that cannot reach anything
// but 127.0.0.1. The ChatGPT callbacks are answered locally and recorded.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import http from 'node:http';
import { chromium } from 'playwright-core';
import { startMailSink } from './mail.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const BROWSER_DIR = dirname(HERE);
export const REPO_ROOT = dirname(dirname(BROWSER_DIR));
export const ARTIFACTS = join(BROWSER_DIR, 'artifacts');

export const BIN = process.env.GPTAUTH_BIN || join(REPO_ROOT, 'target', 'debug', 'gptauth');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export const CLIENT_NAME = 'Notes GPT';
export const CALLBACK_OPENAI = 'https://chat.openai.com/aip/g-abc/oauth/callback';
export const CALLBACK_CHATGPT = 'https://chatgpt.com/aip/g-abc/oauth/callback';
export const EMAIL = 'ada@example.com';
export const PASSWORD = 'correct horse battery staple';

/** Hosts the sign-in may hand the browser back to; answered locally, never reached. */
const CALLBACK_HOSTS = new Set(['chat.openai.com', 'chatgpt.com']);

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A port that was free a moment ago: bind port 0, read it, close. */
export function freePort() {
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

function run(args, env, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(BIN, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ gptauth ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
        reject(err);
      } else {
        resolve(stdout);
      }
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Servers still running if this test process ends abruptly (timeout, uncaught error, signal).
const live = new Set();
process.once('exit', () => { for (const p of live) p.kill('SIGKILL'); });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const p of live) p.kill('SIGKILL');
    process.exit(130);
  });
}

/**
 * Starts `gptauth serve` on a free port with a fresh database, after creating the
 * "Notes GPT" client and Ada with the CLI. `env`: more environment for the server and the CLI
 * (e.g. GPTAUTH_SMTP_URL). Call `stop()` when done (always).
 */
export async function startServer({ env = {} } = {}) {
  let lastError;
  // The port is free when picked but could be taken before the server binds it: retry then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'gptauth-browser-'));
    try {
      return await startServerIn(dir, env);
    } catch (e) {
      lastError = e;
      await rm(dir, { recursive: true, force: true });
      if (!e.portTaken) break;
    }
  }
  throw lastError;
}

async function startServerIn(dir, extraEnv) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: `sqlite://${join(dir, 'gptauth.db')}`,
    GPTAUTH_ISSUER: issuer,
    GPTAUTH_BIND: `127.0.0.1:${port}`,
    RUST_LOG: 'warn',
    NO_COLOR: '1',
    ...extraEnv,
  };
  // The CLI works on the database directly, so the data exists before the server starts.
  const client = JSON.parse(
    await run(
      ['client', 'create', '--name', CLIENT_NAME,
        '--redirect-uri', CALLBACK_OPENAI, '--redirect-uri', CALLBACK_CHATGPT, '--json'],
      env,
    ),
  );
  const user = JSON.parse(
    await run(['user', 'create', '--email', EMAIL, '--password-stdin', '--json'], env, `${PASSWORD}\n`),
  );

  const proc = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
  proc.once('error', (e) => { // e.g. the binary cannot be executed: no 'exit' follows
    log += `\nspawn failed: ${e.message}`;
    live.delete(proc);
    dead ??= { error: e.code };
  });
  const kill = async () => {
    if (dead === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => { if (dead === null) proc.kill('SIGKILL'); }, 3000);
      await exited;
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && dead === null) {
    try {
      const r = await fetch(`${issuer}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) {
        const stop = async () => {
          await kill();
          await rm(dir, { recursive: true, force: true });
        };
        return {
          issuer, port, client, user, stop, log: () => log,
          /** Runs the CLI on this server's database (e.g. to create more users). */
          cli: (args, input) => run(args, env, input),
          /** The first-admin setup link the server logged at start (none once an admin exists). */
          setupLink() {
            const m = log.replace(/\x1b\[[0-9;]*m/g, '').match(/open (http:\/\/\S+\/setup\?token=\S+) within the hour/);
            return m ? m[1] : null;
          },
        };
      }
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  await kill();
  const err = new Error(
    `gptauth serve did not become healthy on ${issuer} ` +
    `(${dead && dead.signal !== 'SIGTERM' ? `exited ${JSON.stringify(dead)}` : 'timed out'})\n${log}`,
  );
  err.portTaken = /address already in use|AddrInUse|os error 98/i.test(log);
  throw err;
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
  // Belt and braces: even a request that escaped interception could not resolve a name.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/**
 * A fresh browser context (own cookies) whose pages only reach 127.0.0.1. `options` beyond the
 * viewport go to `browser.newContext` (e.g. `bypassCSP` for axe, `colorScheme`, `permissions`).
 *
 * Interception is done with the DevTools Fetch domain rather than `page.route()`: Playwright
 * never calls route handlers for the hops of a redirect chain, and every return to ChatGPT is a
 * 302 from this server, so `page.route('https://chat.openai.com/**')` would miss it (the hop would
 * go to the real network). Fetch pauses every request, redirect hops included.
 *
 * Navigations to the ChatGPT callback hosts are recorded in `callbacks` and answered locally
 * with 200 "ok"; every other request to a host other than 127.0.0.1 is failed and recorded in
 * `blocked`. Create pages with `newPage()` so that interception is on before they load anything.
 */
export async function newContext(browser, { width = 1280, height = 800, ...options } = {}) {
  const context = await browser.newContext({
    viewport: { width, height },
    serviceWorkers: 'block',
    colorScheme: 'light',
    locale: 'en-US',
    ...options,
  });
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  const callbacks = [];
  const blocked = [];
  const waiters = [];
  // Every request any page made, as Playwright saw it (redirect hops included).
  const requested = [];
  context.on('request', (req) => requested.push(req.url()));

  async function intercept(page) {
    const cdp = await context.newCDPSession(page);
    cdp.on('Fetch.requestPaused', (event) => {
      const { requestId, request, resourceType } = event;
      const url = new URL(request.url);
      let reply;
      if (url.hostname === '127.0.0.1') {
        reply = cdp.send('Fetch.continueRequest', { requestId });
      } else if (CALLBACK_HOSTS.has(url.hostname) && resourceType === 'Document') {
        callbacks.push(url.href);
        waiters.splice(0).forEach((w) => w(url.href));
        reply = cdp.send('Fetch.fulfillRequest', {
          requestId,
          responseCode: 200,
          responseHeaders: [{ name: 'Content-Type', value: 'text/plain; charset=utf-8' }],
          body: Buffer.from('ok').toString('base64'),
        });
      } else {
        // Includes the callback hosts' favicon: only the navigation itself is "ChatGPT".
        if (!(CALLBACK_HOSTS.has(url.hostname) && url.pathname === '/favicon.ico')) blocked.push(url.href);
        reply = cdp.send('Fetch.failRequest', { requestId, errorReason: 'BlockedByClient' });
      }
      // The page may be gone by the time we answer (test over): nothing to do then.
      reply.catch(() => {});
    });
    await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*', requestStage: 'Request' }] });
  }

  return {
    context,
    callbacks,
    blocked,
    requested,
    async newPage() {
      const page = await context.newPage();
      await intercept(page);
      return page;
    },
    /** Resolves with the next callback navigation after `already` of them were seen. */
    nextCallback(already = callbacks.length, timeout = 10_000) {
      if (callbacks.length > already) return Promise.resolve(callbacks[already]);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no navigation to a ChatGPT callback (seen: ${JSON.stringify(callbacks)})`)),
          timeout,
        );
        waiters.push((u) => { clearTimeout(t); resolve(u); });
      });
    },
  };
}

export function authorizeUrl(server, { redirectUri = CALLBACK_OPENAI, state, clientId } = {}) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId ?? server.client.client_id,
    redirect_uri: redirectUri,
    state,
    scope: '',
  });
  return `${server.issuer}/oauth/authorize?${q}`;
}

/** A tiny local page server (another port on 127.0.0.1). */
export async function serveHtml(html) {
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}/`,
    close: () => new Promise((resolve) => { srv.closeAllConnections?.(); srv.close(() => resolve()); }),
  };
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Runs `body` with a fresh server, a fresh browser context and one intercepted page; the
 * context is closed and the server stopped whatever happens. On failure the server's log is
 * appended to the error.
 *
 * With `{ mail: true }` a real SMTP server (aiosmtpd, lib/mail.mjs) is started first and
 * gptauth sends its mail there (GPTAUTH_SMTP_URL); `body` gets it as `mail`.
 */
export async function withSetup(browser, body, contextOptions, { mail: withMail = false } = {}) {
  const mail = withMail ? await startMailSink() : null;
  let server;
  let ctx;
  try {
    server = await startServer({ env: mail ? { GPTAUTH_SMTP_URL: mail.url } : {} });
    ctx = await newContext(browser, contextOptions);
    const page = await ctx.newPage();
    await body({ server, page, mail, ...ctx });
  } catch (e) {
    const logs = [['gptauth', server?.log()], ['aiosmtpd', mail?.log()]];
    for (const [name, text] of logs) {
      const log = text?.trim();
      if (log && e && typeof e === 'object') {
        try { e.message += `\n--- ${name} log ---\n${log}`; } catch { /* read-only message */ }
      }
    }
    throw e;
  } finally {
    await ctx?.context.close().catch(() => {});
    await server?.stop();
    await mail?.stop();
  }
}

export async function signIn(page, email = EMAIL, password = PASSWORD) {
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Waits for the consent page and checks that it names the client. */
export async function expectConsent(page) {
  await page.waitForURL((u) => u.pathname === '/consent');
  const name = page.locator('h1 #client-name');
  await name.waitFor();
  if ((await name.textContent()) !== CLIENT_NAME) {
    throw new Error(`consent page names ${JSON.stringify(await name.textContent())}, not ${CLIENT_NAME}`);
  }
}

/** The authorization_code grant as ChatGPT's backend sends it (client_secret_post). */
export async function exchangeCode(server, code, redirectUri = CALLBACK_OPENAI) {
  const res = await fetch(`${server.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: server.client.client_id,
      client_secret: server.client.client_secret,
    }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

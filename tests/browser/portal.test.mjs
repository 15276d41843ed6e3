// The builder portal end to end, as people use it: the first administrator comes from the
// setup link the server logs, makes a colleague a builder; the builder creates a GPT client,
// copies its values with the Copy buttons, and a ChatGPT user signs in with exactly those
// values (both token exchange methods); the builder sees the activity, the user disconnects
// the GPT on /account, and its refresh tokens die.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  launchBrowser, withSetup, newContext, signIn, PASSWORD, UUID_RE, ARTIFACTS, REPO_ROOT,
} from './lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const ADMIN_EMAIL = 'root@example.com';
const BUILDER_EMAIL = 'bea@example.com';
const USER_EMAIL = 'grace@example.com';
const USER_PASSWORD = 'a long enough password';
const GPT_NAME = 'Trip Planner';
const POLICY = 'https://example.com/privacy';
/** A GPT's callback: the ChatGPT preset accepts any g-… id, on both hosts. */
const CALLBACK = 'https://chatgpt.com/aip/g-3f2a1b/oauth/callback';
/** The values the page shows, by the id suffix of their element (#value-…). */
const VALUES = ['client-id', 'client-secret', 'authorization-url', 'token-url', 'scope'];
/** What the GPT editor calls them (the Copy buttons' accessible names end with it). */
const LABELS = {
  'client-id': 'Client ID', 'client-secret': 'Client Secret', 'authorization-url': 'Authorization URL',
  'token-url': 'Token URL', scope: 'Scope',
};

/**
 * The token endpoint as the GPT's backend calls it, with the secret in the body
 * (client_secret_post, the editor's default) or in a Basic header (client_secret_basic).
 */
async function tokenRequest(values, params, method) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const body = new URLSearchParams(params);
  if (method === 'basic') {
    // RFC 6749 §2.3.1: each part form-urlencoded, then base64.
    const enc = (s) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(values['client-id'])}:${enc(values['client-secret'])}`).toString('base64')}`;
  } else {
    body.set('client_id', values['client-id']);
    body.set('client_secret', values['client-secret']);
  }
  const res = await fetch(values['token-url'], { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = { text }; }
  return { status: res.status, body: json };
}

/** The authorization request ChatGPT opens in its popup, built from the copied values. */
function authorizeFrom(values, state) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: values['client-id'],
    redirect_uri: CALLBACK,
    scope: values.scope,
    state,
  });
  return `${values['authorization-url']}?${q}`;
}

/** The code in a return to the GPT's callback, after checking where it went. */
function codeFrom(callbackUrl, state, issuer) {
  const u = new URL(callbackUrl);
  assert.equal(`${u.origin}${u.pathname}`, CALLBACK, 'back to the GPT callback');
  assert.equal(u.searchParams.get('state'), state);
  assert.equal(u.searchParams.get('iss'), issuer);
  const code = u.searchParams.get('code');
  assert.ok(code, `a code in ${callbackUrl}`);
  return code;
}

/** Reloads the client page until `ready()` says the (background-written) activity shows. */
async function reloadUntil(page, ready, what) {
  for (let i = 0; ; i++) {
    await page.reload();
    if (await ready()) return;
    assert.ok(i < 50, `the client page never showed ${what}`);
    await page.waitForTimeout(100);
  }
}

/**
 * Saves the "Paste these into the GPT editor" part of the page as a PNG: always in artifacts/,
 * and into docs/ (for the README) when GPTAUTH_UPDATE_DOCS_SCREENSHOT=1. The docs copy shows
 * https://auth.example.com in place of the test server's local address.
 */
async function editorValuesScreenshot(page, issuer) {
  await mkdir(ARTIFACTS, { recursive: true });
  const clipOf = async () => {
    const top = await page.locator('#editor').boundingBox();
    const bottom = await page.locator('dl.values + p.hint').boundingBox();
    const card = await page.locator('main').boundingBox();
    const pad = 16;
    return {
      x: card.x + 16,
      y: top.y - pad,
      width: card.width - 32,
      height: bottom.y + bottom.height - top.y + 2 * pad,
    };
  };
  await page.screenshot({ path: join(ARTIFACTS, 'portal-editor-values.png'), clip: await clipOf() });
  if (process.env.GPTAUTH_UPDATE_DOCS_SCREENSHOT === '1') {
    const originals = await page.evaluate((from) => [...document.querySelectorAll('dl.values code')].map((el) => {
      const text = el.textContent;
      el.textContent = text.replace(from, 'https://auth.example.com');
      return text;
    }), issuer);
    await mkdir(join(REPO_ROOT, 'docs'), { recursive: true });
    await page.screenshot({ path: join(REPO_ROOT, 'docs', 'portal-editor-values.png'), clip: await clipOf() });
    await page.evaluate((texts) => [...document.querySelectorAll('dl.values code')].forEach((el, i) => {
      el.textContent = texts[i];
    }), originals);
  }
}

test('builder portal: setup link → builder → new client → copied values → ChatGPT sign-in, both methods → activity → disconnect', async () => {
  await withSetup(browser, async ({ server, page: admin, blocked: adminBlocked }) => {
    const builderCtx = await newContext(browser);
    const userCtx = await newContext(browser);
    try {
      await builderCtx.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.issuer });
      const builderUser = JSON.parse(await server.cli(
        ['user', 'create', '--email', BUILDER_EMAIL, '--name', 'Bea', '--password-stdin', '--json'], `${PASSWORD}\n`));
      assert.match(builderUser.id, UUID_RE);

      // 1. The first administrator, from the link the server logged at start.
      const link = server.setupLink();
      assert.ok(link, `the server logged a setup link:\n${server.log()}`);
      assert.equal(new URL(link).origin, server.issuer);
      await admin.goto(link);
      assert.equal(await admin.locator('h1').innerText(), 'Set up gptauth');
      await admin.locator('#email').fill(ADMIN_EMAIL);
      await admin.locator('#name').fill('Root');
      await admin.locator('#password').fill(PASSWORD);
      await admin.getByRole('button', { name: 'Create administrator' }).click();
      await admin.waitForURL((u) => u.pathname === '/portal');
      assert.equal(await admin.locator('h1').innerText(), 'All clients');
      assert.match(await admin.locator('nav.bar').innerText(), /root@example\.com · administrator/);
      const spent = await admin.goto(link);
      assert.equal(spent.status(), 404, 'the setup link works once');
      assert.match(await admin.locator('h1').innerText(), /setup link not valid/i);

      // 2. The administrator makes Bea a builder.
      await admin.goto(`${server.issuer}/portal`);
      await admin.getByRole('link', { name: 'Users' }).click();
      await admin.waitForURL((u) => u.pathname === '/portal/users');
      const beaRow = admin.locator('tr', { hasText: BUILDER_EMAIL });
      assert.equal(await beaRow.locator('td').nth(2).innerText(), 'user');
      await beaRow.getByRole('button', { name: `Make builder for ${BUILDER_EMAIL}`, exact: true }).click();
      await admin.waitForURL((u) => u.pathname === '/portal/users');
      assert.equal(await beaRow.locator('td').nth(2).innerText(), 'builder');

      // 3. Bea signs in to the portal and creates a client with the ChatGPT preset.
      const bea = await builderCtx.newPage();
      await bea.goto(`${server.issuer}/portal`);
      await bea.waitForURL((u) => u.pathname === '/login');
      await signIn(bea, BUILDER_EMAIL, PASSWORD);
      await bea.waitForURL((u) => u.pathname === '/portal');
      assert.equal(await bea.locator('h1').innerText(), 'Your GPT clients');
      assert.match(await bea.locator('main').innerText(), /No client yet/);
      await bea.getByRole('link', { name: 'New GPT client' }).click();
      await bea.waitForURL((u) => u.pathname === '/portal/clients/new');
      assert.equal(await bea.locator('#chatgpt').isChecked(), true, 'the ChatGPT preset is on by default');
      assert.equal(await bea.locator('#scope').inputValue(), 'openid profile email');
      await bea.getByLabel('Name', { exact: true }).fill(GPT_NAME);
      await bea.getByLabel(/Privacy policy URL/).fill(POLICY);
      await bea.getByRole('button', { name: 'Create client' }).click();
      await bea.getByRole('heading', { name: 'Paste these into the GPT editor' }).waitFor();
      assert.equal(await bea.locator('h1').innerText(), GPT_NAME);
      assert.match(await bea.getByRole('status').innerText(), /Client created\. Copy the secret now/);

      const shown = {};
      for (const v of VALUES) shown[v] = (await bea.locator(`#value-${v}`).innerText()).trim();
      assert.match(shown['client-id'], /^gpt_[0-9a-f]{32}$/);
      assert.ok(shown['client-secret'].length >= 32, 'a long secret');
      assert.equal(shown['authorization-url'], `${server.issuer}/oauth/authorize`);
      assert.equal(shown['token-url'], `${server.issuer}/oauth/token`);
      assert.equal(shown.scope, 'email openid profile');
      assert.equal(await bea.locator('#value-method').innerText(), 'Default (POST request)');
      await editorValuesScreenshot(bea, server.issuer);

      // 4. Copy every value with its button, as a builder pasting into the GPT editor would.
      const copied = {};
      for (const v of VALUES) {
        const button = bea.getByRole('button', { name: `Copy ${LABELS[v]}`, exact: true });
        await bea.evaluate(() => navigator.clipboard.writeText('(nothing copied yet)'));
        await button.click();
        await bea.waitForFunction((id) => document.querySelector(`button[data-copy="value-${id}"]`)
          .firstChild.textContent === 'Copied', v);
        copied[v] = await bea.evaluate(() => navigator.clipboard.readText());
        assert.equal(copied[v], shown[v], `the Copy button of ${v} copied what the page shows`);
      }
      // The labels go back to "Copy".
      await bea.waitForFunction(() => [...document.querySelectorAll('button[data-copy]')]
        .every((b) => b.firstChild.textContent === 'Copy'), null, { timeout: 5000 });

      // 5. A ChatGPT user signs up in the popup and allows the GPT, with the copied values.
      const grace = await userCtx.newPage();
      const state = randomUUID();
      await grace.goto(authorizeFrom(copied, state));
      await grace.waitForURL((u) => u.pathname === '/login');
      assert.equal(await grace.locator('#client-name').innerText(), GPT_NAME);
      await grace.getByRole('link', { name: 'Create one' }).click();
      await grace.waitForURL((u) => u.pathname === '/signup');
      await grace.locator('#name').fill('Grace Hopper');
      await grace.locator('#email').fill(USER_EMAIL);
      await grace.locator('#password').fill(USER_PASSWORD);
      await grace.getByRole('button', { name: 'Create account' }).click();
      await grace.waitForURL((u) => u.pathname === '/consent');
      assert.equal(await grace.locator('h1 #client-name').innerText(), GPT_NAME);
      assert.equal(await grace.getByRole('link', { name: 'privacy policy' }).getAttribute('href'), POLICY);
      assert.match(await grace.locator('ul.scopes').innerText(), /e-mail address/i);
      await grace.getByRole('button', { name: 'Allow' }).click();
      const code1 = codeFrom(await userCtx.nextCallback(0), state, server.issuer);

      // The GPT's backend: client_secret_post (the editor's default) …
      const post = await tokenRequest(copied, { grant_type: 'authorization_code', code: code1, redirect_uri: CALLBACK }, 'post');
      assert.equal(post.status, 200, JSON.stringify(post.body));
      const jwks = createLocalJWKSet(await (await fetch(`${server.issuer}/.well-known/jwks.json`)).json());
      const verify = async (t) => (await jwtVerify(t, jwks, { issuer: server.issuer, audience: server.issuer, algorithms: ['ES256'] })).payload;
      const claims = await verify(post.body.access_token);
      assert.match(String(claims.sub), UUID_RE);
      assert.equal(claims.client_id, copied['client-id']);
      assert.equal(claims.scope.split(' ').sort().join(' '), 'email openid profile');

      // … and client_secret_basic, on a second sign-in (no consent page the second time).
      const state2 = randomUUID();
      await grace.goto(authorizeFrom(copied, state2));
      const code2 = codeFrom(await userCtx.nextCallback(1), state2, server.issuer);
      const basic = await tokenRequest(copied, { grant_type: 'authorization_code', code: code2, redirect_uri: CALLBACK }, 'basic');
      assert.equal(basic.status, 200, JSON.stringify(basic.body));
      assert.equal((await verify(basic.body.access_token)).sub, claims.sub, 'the same person, the same sub');

      // A refresh, for the activity chart.
      const refreshed = await tokenRequest(copied, { grant_type: 'refresh_token', refresh_token: post.body.refresh_token }, 'basic');
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal((await verify(refreshed.body.access_token)).sub, claims.sub);

      // 6. Bea's client page: one connected user, two sign-ins and a refresh; the secret is gone.
      const clientPage = `${server.issuer}/portal/clients/${copied['client-id']}`;
      await bea.goto(clientPage);
      await reloadUntil(bea, async () => (await bea.locator('#signins-7d').innerText()) === '2' &&
        (await bea.locator('#refreshes-7d').innerText()) === '1', '2 sign-ins and 1 refresh');
      assert.equal(await bea.locator('#connected-users').innerText(), '1');
      assert.match(await bea.locator('main').innerText(), /1 connected user ·/);
      assert.equal(await bea.locator('#value-client-secret').count(), 0, 'the secret was shown once');
      const bars = await bea.locator('figure.chart svg rect').evaluateAll(
        (rects) => rects.filter((r) => Number(r.getAttribute('height')) > 0).map((r) => r.getAttribute('class')));
      assert.deepEqual(bars.sort(), ['refreshes', 'signins'], "today's bars are drawn");
      await bea.goto(`${server.issuer}/portal`);
      const row = bea.locator('table.clients tbody tr', { hasText: GPT_NAME });
      assert.equal(await row.locator('td').nth(2).innerText(), '1', 'the list counts the connected user');

      // 7. Grace sees the GPT on /account and disconnects it.
      await grace.goto(`${server.issuer}/account`);
      const connections = grace.locator('section[aria-labelledby="connections-heading"]');
      const item = connections.locator('li', { hasText: GPT_NAME });
      assert.match(await item.innerText(), /can use: email openid profile/);
      await item.getByRole('button', { name: 'Disconnect' }).click();
      await grace.waitForURL((u) => u.pathname === '/account');
      await connections.getByText('No GPT is connected to your account.').waitFor();

      // Every refresh token of the GPT is dead now: it must ask her to sign in again.
      for (const [which, rt] of [['rotated', refreshed.body.refresh_token], ['basic', basic.body.refresh_token]]) {
        const dead = await tokenRequest(copied, { grant_type: 'refresh_token', refresh_token: rt }, 'post');
        assert.equal(dead.status, 400, `${which}: ${JSON.stringify(dead.body)}`);
        assert.equal(dead.body.error, 'invalid_grant', which);
      }
      await bea.goto(clientPage);
      assert.equal(await bea.locator('#connected-users').innerText(), '0', 'no connected user after the disconnect');

      for (const [who, list] of [['admin', adminBlocked], ['builder', builderCtx.blocked], ['user', userCtx.blocked]]) {
        assert.deepEqual(list, [], `the ${who}'s browser requested nothing outside 127.0.0.1`);
      }
    } finally {
      await builderCtx.context.close().catch(() => {});
      await userCtx.context.close().catch(() => {});
    }
  });
});

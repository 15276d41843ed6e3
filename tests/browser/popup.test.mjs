// The sign-in popup as a person uses it from ChatGPT: authorize → login/sign-up → consent →
// back to the ChatGPT callback, then the code exchanged the way ChatGPT's backend does it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  launchBrowser, withSetup, authorizeUrl,
  CALLBACK_OPENAI, CLIENT_NAME, EMAIL, PASSWORD, UUID_RE,
} from './lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function signIn(page, email = EMAIL, password = PASSWORD) {
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function expectConsent(page) {
  await page.waitForURL((u) => u.pathname === '/consent');
  await assert.doesNotReject(page.locator('#client-name').waitFor());
  assert.equal(await page.locator('#client-name').textContent(), CLIENT_NAME);
  assert.match(await page.locator('h1').innerText(), new RegExp(`^${CLIENT_NAME}\\b`));
}

async function exchange(server, code, redirectUri = CALLBACK_OPENAI) {
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
  const text = await res.text();
  assert.equal(res.status, 200, `token endpoint answered ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return JSON.parse(text);
}

async function verifyAccessToken(server, accessToken) {
  const jwksRes = await fetch(`${server.issuer}/.well-known/jwks.json`);
  assert.equal(jwksRes.status, 200);
  const jwks = createLocalJWKSet(await jwksRes.json());
  const { payload, protectedHeader } = await jwtVerify(accessToken, jwks, {
    issuer: server.issuer,
    audience: server.issuer,
    algorithms: ['ES256'],
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.match(payload.sub, UUID_RE, 'sub is a UUID');
  return payload;
}

function callbackParams(url) {
  const u = new URL(url);
  assert.equal(`${u.origin}${u.pathname}`, CALLBACK_OPENAI, 'returned to the registered callback');
  return u.searchParams;
}

test('a. full popup: sign in, allow, code exchanged for a verifiable JWT; second visit skips everything', async () => {
  await withSetup(browser, async ({ server, page, context, callbacks, blocked }) => {
    const cb = await captureCallbacks(page);
    const state = randomUUID();

    await page.goto(authorizeUrl(server, { state }));
    assert.equal(new URL(page.url()).pathname, '/login', 'unsigned user is sent to /login');
    await signIn(page);
    await expectConsent(page);
    assert.equal(cb.seen.length, 0, 'nothing was sent to the callback before consent');

    await page.getByRole('button', { name: 'Allow' }).click();
    const returned = await cb.next();
    await page.waitForURL((u) => u.hostname === 'chat.openai.com');
    assert.equal(await page.locator('body').innerText(), 'ok');

    const params = callbackParams(returned);
    const code = params.get('code');
    assert.ok(code, `code present in ${returned}`);
    assert.equal(params.get('state'), state, 'state echoed exactly');
    assert.equal(params.get('iss'), server.issuer, 'iss is the issuer (RFC 9207)');
    assert.equal(params.get('error'), null);

    const tokens = await exchange(server, code);
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(Number.isInteger(tokens.expires_in) && tokens.expires_in > 0, 'expires_in is a positive integer');
    assert.ok(typeof tokens.refresh_token === 'string' && tokens.refresh_token.length > 0, 'refresh_token present');
    const claims = await verifyAccessToken(server, tokens.access_token);
    assert.equal(claims.sub, server.user.id, 'sub is the signed-in user');
    assert.equal(claims.client_id, server.client.client_id);

    // The same person opening the popup again: straight back to ChatGPT.
    const state2 = randomUUID();
    const served = [];
    const onResponse = (r) => { if (new URL(r.url()).hostname === '127.0.0.1') served.push(new URL(r.url()).pathname); };
    page.on('response', onResponse);
    await page.goto(authorizeUrl(server, { state: state2 }));
    page.off('response', onResponse);
    await page.waitForURL((u) => u.hostname === 'chat.openai.com');
    assert.deepEqual(served, ['/oauth/authorize'], 'no login or consent page on the second visit');
    const again = callbackParams(cb.seen.at(-1));
    assert.equal(cb.seen.length, 2);
    assert.ok(again.get('code'));
    assert.notEqual(again.get('code'), code, 'a new code each time');
    assert.equal(again.get('state'), state2);
    assert.equal(again.get('iss'), server.issuer);

    assert.deepEqual(blocked, [], 'nothing else was requested outside 127.0.0.1');
    assert.deepEqual(callbacks, [], 'every callback went through the page route');
  });
});

test('b. deny: the callback gets error=access_denied and the state', async () => {
  await withSetup(browser, async ({ server, page }) => {
    const cb = await captureCallbacks(page);
    const state = randomUUID();
    await page.goto(authorizeUrl(server, { state }));
    await signIn(page);
    await expectConsent(page);
    await page.getByRole('button', { name: 'Deny' }).click();
    const params = callbackParams(await cb.next());
    assert.equal(params.get('error'), 'access_denied');
    assert.equal(params.get('state'), state);
    assert.equal(params.get('code'), null, 'no code on deny');
    assert.equal(params.get('iss'), server.issuer);
  });
});

test('c. sign up from the popup, then allow: a code for the new account', async () => {
  await withSetup(browser, async ({ server, page }) => {
    const cb = await captureCallbacks(page);
    const state = randomUUID();
    await page.goto(authorizeUrl(server, { state }));
    await page.getByRole('link', { name: 'Create one' }).click();
    await page.waitForURL((u) => u.pathname === '/signup');
    assert.match(new URL(page.url()).searchParams.get('next') ?? '', /^\/oauth\/authorize\?/,
      'the sign-up page keeps the authorization request');

    await page.locator('#name').fill('Grace Hopper');
    await page.locator('#email').fill('grace@example.com');
    await page.locator('#password').fill('a long enough password');
    await page.getByRole('button', { name: 'Create account' }).click();

    await expectConsent(page);
    assert.match(await page.locator('main').innerText(), /grace@example\.com/, 'consent shows the new account');
    await page.getByRole('button', { name: 'Allow' }).click();
    const params = callbackParams(await cb.next());
    assert.ok(params.get('code'));
    assert.equal(params.get('state'), state);

    const tokens = await exchange(server, params.get('code'));
    const claims = await verifyAccessToken(server, tokens.access_token);
    assert.notEqual(claims.sub, server.user.id, 'a different person than Ada');
  });
});

test('d. wrong password: stays on the login page with an alert, nothing sent to the callback', async () => {
  await withSetup(browser, async ({ server, page, callbacks }) => {
    const cb = await captureCallbacks(page);
    await page.goto(authorizeUrl(server, { state: randomUUID() }));
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login'),
      signIn(page, EMAIL, 'not the password'),
    ]);
    assert.equal(response.status(), 401);
    await page.waitForLoadState();
    assert.equal(new URL(page.url()).pathname, '/login');
    const alert = page.getByRole('alert');
    await alert.waitFor({ state: 'visible' });
    assert.match(await alert.innerText(), /incorrect/i);
    assert.equal(await page.locator('#email').inputValue(), EMAIL, 'the e-mail is kept');
    assert.equal(await page.locator('#password').inputValue(), '', 'the password is not echoed back');

    // And a correct retry from this page still completes the original request.
    await page.locator('#password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectConsent(page);
    assert.deepEqual(cb.seen, []);
    assert.deepEqual(callbacks, []);
  });
});

test('e. unregistered redirect URI: an error page showing it, no redirect', async () => {
  await withSetup(browser, async ({ server, page, callbacks, requested }) => {
    const cb = await captureCallbacks(page);
    const tried = 'https://chat.openai.com/aip/g-other/oauth/callback';
    const response = await page.goto(authorizeUrl(server, { state: randomUUID(), redirectUri: tried }));
    assert.equal(response.status(), 400);
    assert.equal(new URL(page.url()).pathname, '/oauth/authorize', 'no redirect happened');
    assert.equal(await page.locator('code#tried-uri').innerText(), tried);
    assert.match(await page.locator('h1').innerText(), /not registered/i);
    // Give a stray redirect or script a moment to show itself.
    await page.waitForTimeout(300);
    assert.deepEqual(cb.seen, []);
    assert.deepEqual(callbacks, []);
    const offHost = requested.filter((u) => /^https?:\/\/(chat\.openai\.com|chatgpt\.com)\b/.test(u));
    assert.deepEqual(offHost, [], 'no request to chat.openai.com or chatgpt.com');
  });
});

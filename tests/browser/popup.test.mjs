// The sign-in popup as a person uses it from ChatGPT: authorize → login/sign-up → consent →
// back to the ChatGPT callback, then the code exchanged the way ChatGPT's backend does it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  launchBrowser, withSetup, authorizeUrl, signIn, expectConsent, exchangeCode,
  CALLBACK_OPENAI, CLIENT_NAME, EMAIL, PASSWORD, UUID_RE,
} from './lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function tokensFor(server, code) {
  const res = await exchangeCode(server, code);
  assert.equal(res.status, 200, `token endpoint answered ${res.status}: ${res.text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.match(res.headers.get('cache-control') ?? '', /no-store/);
  return JSON.parse(res.text);
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
  assert.match(String(payload.sub), UUID_RE, 'sub is a UUID');
  return payload;
}

/** The query of a return to ChatGPT, after checking it went to the registered callback. */
function callbackParams(url) {
  const u = new URL(url);
  assert.equal(`${u.origin}${u.pathname}`, CALLBACK_OPENAI, 'returned to the registered callback');
  return u.searchParams;
}

const onCallbackPage = (page) => page.waitForURL((u) => u.hostname === 'chat.openai.com');

test('a. full popup: sign in, allow, code → verifiable JWT; a second visit skips login and consent', async () => {
  await withSetup(browser, async ({ server, page, callbacks, nextCallback, blocked }) => {
    const state = randomUUID();

    await page.goto(authorizeUrl(server, { state }));
    assert.equal(new URL(page.url()).pathname, '/login', 'a signed-out person is sent to /login');
    await signIn(page);
    await expectConsent(page);
    assert.match(await page.locator('h1').innerText(), new RegExp(`^${CLIENT_NAME} `));
    assert.deepEqual(callbacks, [], 'nothing was sent to the callback before consent');

    await page.getByRole('button', { name: 'Allow' }).click();
    const returned = await nextCallback(0);
    await onCallbackPage(page);
    assert.equal(await page.locator('body').innerText(), 'ok');

    const params = callbackParams(returned);
    const code = params.get('code');
    assert.ok(code, `code present in ${returned}`);
    assert.equal(params.get('state'), state, 'state echoed exactly');
    assert.equal(params.get('iss'), server.issuer, 'iss is the issuer (RFC 9207)');
    assert.equal(params.get('error'), null);

    const tokens = await tokensFor(server, code);
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(Number.isInteger(tokens.expires_in) && tokens.expires_in > 0, 'expires_in is a positive integer');
    assert.ok(typeof tokens.refresh_token === 'string' && tokens.refresh_token.length > 0, 'refresh_token present');
    const claims = await verifyAccessToken(server, tokens.access_token);
    assert.equal(claims.sub, server.user.id, 'sub is the signed-in user');
    assert.equal(claims.client_id, server.client.client_id);

    // The code is single-use.
    const replay = await exchangeCode(server, code);
    assert.equal(replay.status, 400, `replayed code: ${replay.status} ${replay.text}`);
    assert.equal(JSON.parse(replay.text).error, 'invalid_grant');

    // The same person opening the popup again: straight back to ChatGPT.
    const state2 = randomUUID();
    const served = [];
    const onResponse = (r) => {
      const u = new URL(r.url());
      if (u.hostname === '127.0.0.1') served.push(u.pathname);
    };
    page.on('response', onResponse);
    await page.goto(authorizeUrl(server, { state: state2 }));
    page.off('response', onResponse);
    await onCallbackPage(page);
    assert.deepEqual(served, ['/oauth/authorize'], 'no login or consent page on the second visit');
    assert.equal(callbacks.length, 2);
    const again = callbackParams(callbacks[1]);
    assert.ok(again.get('code'));
    assert.notEqual(again.get('code'), code, 'a new code each time');
    assert.equal(again.get('state'), state2);
    assert.equal(again.get('iss'), server.issuer);
    const claims2 = await verifyAccessToken(server, (await tokensFor(server, again.get('code'))).access_token);
    assert.equal(claims2.sub, claims.sub, 'the same person has the same sub');

    assert.deepEqual(blocked, [], 'nothing else was requested outside 127.0.0.1');
  });
});

test('b. deny: the callback gets error=access_denied and the state', async () => {
  await withSetup(browser, async ({ server, page, nextCallback }) => {
    const state = randomUUID();
    await page.goto(authorizeUrl(server, { state }));
    await signIn(page);
    await expectConsent(page);
    await page.getByRole('button', { name: 'Deny' }).click();
    const params = callbackParams(await nextCallback(0));
    await onCallbackPage(page);
    assert.equal(params.get('error'), 'access_denied');
    assert.equal(params.get('state'), state);
    assert.equal(params.get('code'), null, 'no code on deny');
    assert.equal(params.get('iss'), server.issuer);
  });
});

test('c. sign up from the popup, then allow: a code for the new account', async () => {
  await withSetup(browser, async ({ server, page, nextCallback }) => {
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
    const params = callbackParams(await nextCallback(0));
    assert.ok(params.get('code'));
    assert.equal(params.get('state'), state);
    assert.equal(params.get('iss'), server.issuer);

    const claims = await verifyAccessToken(server, (await tokensFor(server, params.get('code'))).access_token);
    assert.notEqual(claims.sub, server.user.id, 'the new account, not Ada');
  });
});

test('d. wrong password: stays on the login page with an alert, nothing sent to the callback', async () => {
  await withSetup(browser, async ({ server, page, callbacks }) => {
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
    assert.match(await alert.innerText(), /incorrect e-mail or password/i);
    assert.equal(await page.locator('#email').inputValue(), EMAIL, 'the e-mail is kept');
    assert.equal(await page.locator('#password').inputValue(), '', 'the password is not echoed back');
    assert.deepEqual(callbacks, []);

    // A correct retry from this page still continues the original request.
    await signIn(page);
    await expectConsent(page);
    assert.deepEqual(callbacks, []);
  });
});

test('e. unregistered redirect URI: an error page that shows it, and no redirect', async () => {
  await withSetup(browser, async ({ server, page, callbacks, requested, blocked }) => {
    const tried = 'https://chat.openai.com/aip/g-other/oauth/callback';
    const response = await page.goto(authorizeUrl(server, { state: randomUUID(), redirectUri: tried }));
    assert.equal(response.status(), 400);
    assert.equal(response.headers().location, undefined, 'no Location header');
    assert.equal(new URL(page.url()).pathname, '/oauth/authorize', 'the page stayed on this server');
    assert.equal(await page.locator('code#tried-uri').innerText(), tried);
    assert.match(await page.locator('h1').innerText(), /not registered/i);
    // Give a stray redirect a moment to show itself.
    await page.waitForTimeout(250);
    assert.deepEqual(callbacks, []);
    assert.deepEqual(blocked, []);
    const toChatGpt = requested.filter((u) => ['chat.openai.com', 'chatgpt.com'].includes(new URL(u).hostname));
    assert.deepEqual(toChatGpt, [], 'no request to chat.openai.com or chatgpt.com');
  });
});

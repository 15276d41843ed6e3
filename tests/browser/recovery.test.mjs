// Forgotten passwords and e-mail verification end to end, with the mail going through a real
// SMTP server on loopback (aiosmtpd, lib/mail.mjs) and the links read from the delivered
// messages: "Forgot your password?" in the ChatGPT popup → the mailed link → a refused and then
// a good new password → every old session and refresh token is dead → the popup signs in with
// the new password; no mail for an unknown address; the sign-up's verification link; and axe on
// the pages of both (light and dark).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  launchBrowser, withSetup, newContext, authorizeUrl, signIn, expectConsent, exchangeCode,
  EMAIL, PASSWORD,
} from './lib/harness.mjs';
import { linksIn } from './lib/mail.mjs';
import { checkPage } from './lib/a11y.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const NEW_PASSWORD = 'a brand new passphrase 42';
const COMMON_PASSWORD = 'password123';
const UNKNOWN = 'nobody@example.com';
const NEWCOMER = 'grace@example.com';
const NEWCOMER_PASSWORD = 'a long enough password';
/** How long an address with no account is watched for mail that must not come. */
const QUIET_MS = 1500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits for the page whose <h1> is `title`. */
const heading = (page, title) => page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();

/** Clicks the form's button and returns the response to the POST it sends. */
async function submit(page, button) {
  const response = page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest());
  await page.getByRole('button', { name: button, exact: true }).click();
  return response;
}

/** A refresh_token grant with the client's secret in the body. */
async function refresh(server, refreshToken) {
  const res = await fetch(`${server.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: server.client.client_id,
      client_secret: server.client.client_secret,
    }),
  });
  return { status: res.status, body: await res.json() };
}

/** The code in a return to ChatGPT, after checking the state came back. */
function codeFrom(callbackUrl, state) {
  const params = new URL(callbackUrl).searchParams;
  assert.equal(params.get('state'), state, `state echoed in ${callbackUrl}`);
  assert.ok(params.get('code'), `a code in ${callbackUrl}`);
  return params.get('code');
}

/** The token response for a code, which must be a success. */
async function tokensFor(server, code) {
  const res = await exchangeCode(server, code);
  assert.equal(res.status, 200, `token endpoint: ${res.text}`);
  return JSON.parse(res.text);
}

/** The `sub` of an access token (its signature is checked by the popup tests). */
const subOf = (accessToken) => JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url')).sub;

/**
 * The one link to this server in a delivered message: the text part has exactly one, the HTML
 * part's button points to the same address, and it starts with `path`.
 */
function linkIn(message, issuer, path) {
  const { text, html } = linksIn(message, issuer);
  assert.equal(text.length, 1, `one link in the text part:\n${message.text}`);
  assert.ok(html.includes(text[0]), `the HTML part links to ${text[0]} too:\n${message.html}`);
  assert.ok(text[0].startsWith(`${issuer}${path}?token=`), `a ${path} link: ${text[0]}`);
  return text[0];
}

/** Checks the parts of a message gptauth sent: multipart with a text and an HTML part. */
function assertWellFormed(message, to, subject) {
  assert.deepEqual(message.rcpt_tos, [to], 'the envelope goes to the address alone');
  assert.match(message.to, new RegExp(to.replace('.', '\\.')), 'the To header names the address');
  assert.equal(message.subject, subject);
  assert.equal(message.content_type, 'multipart/alternative', 'a text and an HTML part');
  assert.ok(message.text && message.html, 'both parts have content');
  assert.ok(['7bit', '8bit', 'quoted-printable', 'base64'].includes(message.text_encoding),
    `a known transfer encoding: ${message.text_encoding}`);
}

test('forgot password: the mailed link, a refused then a good new password, signed out everywhere, the popup signs in again', async (t) => {
  await withSetup(browser, async ({ server, mail, page: earlier, nextCallback }) => {
    // Ada signed in from ChatGPT once: a refresh token, and a browser still signed in.
    const state1 = randomUUID();
    await earlier.goto(authorizeUrl(server, { state: state1 }));
    await signIn(earlier);
    await expectConsent(earlier);
    await earlier.getByRole('button', { name: 'Allow' }).click();
    const old = await tokensFor(server, codeFrom(await nextCallback(0), state1));
    assert.ok(old.refresh_token, 'a refresh token');
    await earlier.goto(`${server.issuer}/account`);
    assert.equal(await earlier.locator('#account-email').innerText(), EMAIL, 'the old browser is signed in');

    // Later, on another computer, ChatGPT's popup asks her to sign in: she forgot the password.
    const popupCtx = await newContext(browser);
    try {
      const popup = await popupCtx.newPage();
      const state2 = randomUUID();
      await popup.goto(authorizeUrl(server, { state: state2 }));
      await popup.waitForURL((u) => u.pathname === '/login');
      // Where the sign-in continues: the authorization, as the server put it in the login URL.
      const authorizePath = new URL(popup.url()).searchParams.get('next');
      assert.match(authorizePath, /^\/oauth\/authorize\?/);
      const forgot = async () => {
        await popup.getByRole('link', { name: 'Forgot your password?' }).click();
        await popup.waitForURL((u) => u.pathname === '/forgot-password');
        await heading(popup, 'Forgot your password?');
        assert.equal(await popup.locator('input[name=next]').inputValue(), authorizePath,
          'the authorization the popup was in is kept');
      };

      // First a mistyped address with no account: the same page, and no mail.
      await forgot();
      await popup.getByLabel('E-mail').fill(UNKNOWN);
      const unknownAsked = Date.now();
      const unknownResponse = await submit(popup, 'Send the link');
      await heading(popup, 'Check your e-mail');
      const unknownPage = await popup.locator('main').innerText();
      await popup.getByRole('link', { name: 'Back to sign-in' }).click();
      await popup.waitForURL((u) => u.pathname === '/login' && u.searchParams.get('next') === authorizePath);

      // Then her own.
      await forgot();
      await popup.getByLabel('E-mail').fill(EMAIL);
      const knownResponse = await submit(popup, 'Send the link');
      await heading(popup, 'Check your e-mail');
      const knownPage = await popup.locator('main').innerText();
      assert.equal(unknownResponse.status(), 200);
      assert.equal(knownResponse.status(), 200);
      assert.match(knownPage, /If an account uses ada@example\.com, a link to choose a new password is on its way/);
      assert.equal(unknownPage.replace(UNKNOWN, 'X'), knownPage.replace(EMAIL, 'X'),
        'the page does not tell whether the address has an account');

      const message = await mail.waitFor(EMAIL);
      assertWellFormed(message, EMAIL, 'Reset your password');
      assert.match(message.text, /works once, for 30 minutes/);
      t.diagnostic(`reset mail: text part in ${message.text_encoding}, HTML part in ${message.html_encoding}`);
      const link = linkIn(message, server.issuer, '/reset-password');

      // She opens the link from her mail, in a new tab of the same browser.
      const tab = await popupCtx.newPage();
      const opened = await tab.goto(link);
      assert.equal(opened.status(), 200);
      await heading(tab, 'Choose a new password');

      // A password everybody uses is refused; the link still works.
      await tab.getByLabel('New password', { exact: true }).fill(COMMON_PASSWORD);
      await tab.getByLabel('New password again').fill(COMMON_PASSWORD);
      const refused = await submit(tab, 'Set the new password');
      assert.equal(refused.status(), 400);
      await heading(tab, 'Choose a new password');
      assert.match(await tab.getByRole('alert').innerText(), /among the most common/i);

      await tab.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await tab.getByLabel('New password again').fill(NEW_PASSWORD);
      const done = await submit(tab, 'Set the new password');
      assert.equal(done.status(), 200);
      await heading(tab, 'Password changed');
      assert.match(await tab.locator('#notice-message').innerText(), /signed out everywhere/);

      // Everything from before is over: the GPT's refresh token and the old browser's session.
      const refused2 = await refresh(server, old.refresh_token);
      assert.equal(refused2.status, 400, JSON.stringify(refused2.body));
      assert.equal(refused2.body.error, 'invalid_grant');
      await earlier.goto(`${server.issuer}/account`);
      await earlier.waitForURL((u) => u.pathname === '/login');
      assert.equal(new URL(earlier.url()).searchParams.get('next'), '/account');

      // Back in the popup: the old password no longer works, the new one continues to ChatGPT
      // (the GPT was allowed before, so no consent page).
      await popup.getByRole('link', { name: 'Back to sign-in' }).click();
      await popup.waitForURL((u) => u.pathname === '/login' && u.searchParams.get('next') === authorizePath);
      await signIn(popup, EMAIL, PASSWORD);
      await popup.getByRole('alert').waitFor();
      assert.equal(popupCtx.callbacks.length, 0, 'the old password is refused');
      await signIn(popup, EMAIL, NEW_PASSWORD);
      const fresh = await tokensFor(server, codeFrom(await popupCtx.nextCallback(0), state2));
      assert.equal(subOf(fresh.access_token), server.user.id, 'the same account');
      assert.equal((await refresh(server, fresh.refresh_token)).status, 200, 'the new refresh token works');

      // The link worked once.
      const again = await tab.goto(link);
      assert.equal(again.status(), 404);
      await heading(tab, 'This link no longer works');
      assert.equal(await tab.getByRole('link', { name: 'Send a new link' }).getAttribute('href'), '/forgot-password');

      // Nothing was mailed for the unknown address (given time to arrive), nor anything else.
      await sleep(Math.max(0, unknownAsked + QUIET_MS - Date.now()));
      assert.deepEqual(await mail.to(UNKNOWN), [], 'no mail for an address without an account');
      assert.deepEqual((await mail.messages()).map((m) => [m.rcpt_tos.join(), m.subject]),
        [[EMAIL, 'Reset your password']], 'one message in all');
      assert.deepEqual(popupCtx.blocked, [], 'nothing requested outside 127.0.0.1');
    } finally {
      await popupCtx.context.close();
    }
  }, undefined, { mail: true });
});

test('sign-up in the popup mails a verification link; opened, it confirms the address and continues', async () => {
  await withSetup(browser, async ({ server, mail, page, newPage, nextCallback }) => {
    const state = randomUUID();
    await page.goto(authorizeUrl(server, { state }));
    await page.waitForURL((u) => u.pathname === '/login');
    const authorizePath = new URL(page.url()).searchParams.get('next');
    await page.getByRole('link', { name: 'Create one' }).click();
    await page.waitForURL((u) => u.pathname === '/signup');
    await page.getByLabel('Name').fill('Grace Hopper');
    await page.getByLabel('E-mail').fill(NEWCOMER);
    await page.getByLabel('Password').fill(NEWCOMER_PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expectConsent(page);
    await page.getByRole('button', { name: 'Allow' }).click();
    codeFrom(await nextCallback(0), state);

    const message = await mail.waitFor(NEWCOMER);
    assertWellFormed(message, NEWCOMER, 'Confirm your e-mail address');
    assert.match(message.text, /to continue to Notes GPT/);
    const link = linkIn(message, server.issuer, '/verify-email');
    assert.equal(new URL(link).searchParams.get('next'), authorizePath, 'the link leads back to the authorization');

    const account = await newPage();
    await account.goto(`${server.issuer}/account`);
    assert.equal(await account.locator('#account-email').innerText(), NEWCOMER);
    assert.equal(await account.locator('#email-unconfirmed').innerText(), 'not confirmed yet');

    // Opened from the mail, in a new tab.
    const tab = await newPage();
    const opened = await tab.goto(link);
    assert.equal(opened.status(), 200);
    await heading(tab, 'E-mail address confirmed');

    await account.reload();
    assert.equal(await account.locator('#email-verified').innerText(), 'confirmed');
    assert.equal(await account.locator('#email-unconfirmed').count(), 0);

    // "Continue" goes on with the authorization: straight back to ChatGPT (already allowed).
    await tab.getByRole('link', { name: 'Continue' }).click();
    codeFrom(await nextCallback(1), state);

    // The link works once.
    const again = await tab.goto(link);
    assert.equal(again.status(), 404);
    await heading(tab, 'This link no longer works');
    assert.equal((await mail.messages()).length, 1, 'one message in all');
  }, undefined, { mail: true });
});

test('axe: forgot-password, "check your e-mail", reset-password (and its error) and verify-email/pending, light and dark', async (t) => {
  await withSetup(browser, async ({ server, mail, page }) => {
    const problems = [];
    const notes = new Set();

    await page.goto(`${server.issuer}/forgot-password`);
    await checkPage(page, 'forgot-password', problems, notes);
    await page.getByLabel('E-mail').fill(EMAIL);
    await submit(page, 'Send the link');
    await heading(page, 'Check your e-mail');
    await checkPage(page, 'forgot-password-sent', problems, notes);

    const link = linkIn(await mail.waitFor(EMAIL), server.issuer, '/reset-password');
    await page.goto(link);
    await heading(page, 'Choose a new password');
    await checkPage(page, 'reset-password', problems, notes);
    await page.getByLabel('New password', { exact: true }).fill(COMMON_PASSWORD);
    await page.getByLabel('New password again').fill(COMMON_PASSWORD);
    await submit(page, 'Set the new password');
    await page.getByRole('alert').waitFor();
    await checkPage(page, 'reset-password-error', problems, notes);

    // A newcomer whose address is not confirmed yet.
    await page.goto(`${server.issuer}/signup?next=%2Faccount`);
    await page.getByLabel('E-mail').fill(NEWCOMER);
    await page.getByLabel('Password').fill(NEWCOMER_PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL((u) => u.pathname === '/account');
    await page.goto(`${server.issuer}/verify-email/pending?next=/account`);
    await heading(page, 'Confirm your e-mail address');
    assert.match(await page.locator('main').innerText(), /We sent a link to grace@example\.com/);
    await checkPage(page, 'verify-email-pending', problems, notes);

    for (const note of notes) t.diagnostic(`axe (not failing): ${note}`);
    if (problems.length > 0) {
      assert.fail(`accessibility (axe: serious or critical) and layout problems:\n${problems.join('\n')}`);
    }
  }, { bypassCSP: true }, { mail: true });
});

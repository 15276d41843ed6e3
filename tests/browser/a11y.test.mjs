// Accessibility of every page, end users' and builders': axe-core finds no serious or critical
// violation in light or dark mode, at a phone's and a desktop's width; nothing scrolls sideways
// on a phone; screenshots of each land in artifacts/. And the keyboard alone gets through the
// login and consent pages, with a focus ring that can be seen.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  launchBrowser, withSetup, newContext, authorizeUrl, signIn, expectConsent,
  CALLBACK_OPENAI, EMAIL, PASSWORD,
} from './lib/harness.mjs';
import { axeViolations, checkPage, tabbables, focusState, SCHEMES } from './lib/a11y.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const ADMIN_EMAIL = 'root@example.com';
const TRIP_CALLBACK = 'https://chatgpt.com/aip/g-trip/oauth/callback';

/** The token endpoint with client_secret_post. */
async function token(server, params) {
  const res = await fetch(`${server.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: await res.json() };
}

test('axe: every page in light and dark mode, at 390px and 1280px, with screenshots', async (t) => {
  await withSetup(browser, async ({ server, page, nextCallback }) => {
    const problems = [];
    const notes = new Set(); // moderate and minor findings: reported, not failing
    const adminCtx = await newContext(browser, { bypassCSP: true });
    try {
      const admin = await adminCtx.newPage();

      // End user: login, sign-up, an error page, consent, the account page.
      await page.goto(authorizeUrl(server, { state: randomUUID() }));
      await page.waitForURL((u) => u.pathname === '/login');
      // Control: axe runs here and reports a serious violation when there is one.
      await page.evaluate(() => {
        const faint = document.createElement('p');
        faint.id = 'axe-control';
        faint.textContent = 'faint text';
        faint.style.color = '#e8e8e8';
        document.querySelector('main').append(faint);
      });
      const control = await axeViolations(page);
      assert.deepEqual(control.failing.map((v) => v.id), ['color-contrast'], 'axe sees an added faint text');
      await page.evaluate(() => document.getElementById('axe-control').remove());
      await checkPage(page, 'login', problems, notes);
      await signIn(page, EMAIL, 'not the password');
      await page.getByRole('alert').waitFor();
      await checkPage(page, 'login-error', problems, notes);

      await page.goto(`${server.issuer}/signup`);
      await checkPage(page, 'signup', problems, notes);

      const unknown = await page.goto(authorizeUrl(server, { state: randomUUID(), clientId: 'no-such-client' }));
      assert.equal(unknown.status(), 400);
      await checkPage(page, 'error-unknown-client', problems, notes);

      await page.goto(authorizeUrl(server, { state: randomUUID() }));
      await signIn(page);
      await expectConsent(page);
      await checkPage(page, 'consent', problems, notes);
      await page.getByRole('button', { name: 'Allow' }).click();
      await nextCallback(0);

      await page.goto(`${server.issuer}/account`);
      await page.getByText('Connected GPTs').waitFor();
      await checkPage(page, 'account', problems, notes);

      // The first administrator: the setup link from the server's log.
      const link = server.setupLink();
      assert.ok(link, `the server logged a setup link:\n${server.log()}`);
      await admin.goto(link);
      await checkPage(admin, 'setup', problems, notes);
      await admin.locator('#email').fill(ADMIN_EMAIL);
      await admin.locator('#password').fill(PASSWORD);
      await admin.getByRole('button', { name: 'Create administrator' }).click();
      await admin.waitForURL((u) => u.pathname === '/portal');

      await admin.getByRole('link', { name: 'New GPT client' }).click();
      await admin.waitForURL((u) => u.pathname === '/portal/clients/new');
      await checkPage(admin, 'portal-new', problems, notes);
      await admin.locator('#name').fill('Trip Planner');
      await admin.getByRole('button', { name: 'Create client' }).click();
      await admin.getByRole('heading', { name: 'Paste these into the GPT editor' }).waitFor();
      const clientId = (await admin.locator('#value-client-id').innerText()).trim();
      const secret = (await admin.locator('#value-client-secret').innerText()).trim();

      // Activity and errors for the client's page: a sign-in, a refresh, an unregistered
      // redirect URI, a wrong secret.
      await page.goto(authorizeUrl(server, { state: 's', clientId, redirectUri: TRIP_CALLBACK }));
      await page.waitForURL((u) => u.pathname === '/consent');
      await page.getByRole('button', { name: 'Allow' }).click();
      const code = new URL(await nextCallback(1)).searchParams.get('code');
      const issued = await token(server, {
        grant_type: 'authorization_code', code, redirect_uri: TRIP_CALLBACK, client_id: clientId, client_secret: secret,
      });
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      const refreshed = await token(server, {
        grant_type: 'refresh_token', refresh_token: issued.body.refresh_token, client_id: clientId, client_secret: secret,
      });
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      const wrong = await token(server, {
        grant_type: 'refresh_token', refresh_token: refreshed.body.refresh_token, client_id: clientId, client_secret: 'wrong',
      });
      assert.equal(wrong.status, 401);
      const mismatch = await page.goto(authorizeUrl(server, {
        state: 's', clientId, redirectUri: 'https://example.com/not/registered',
      }));
      assert.equal(mismatch.status(), 400);
      await checkPage(page, 'error-redirect-uri', problems, notes);

      // The client page with the chart and both errors, and (after rotating) the secret.
      const clientPath = `${server.issuer}/portal/clients/${clientId}`;
      for (let i = 0; ; i++) {
        await admin.goto(clientPath);
        const refreshes = await admin.locator('#refreshes-7d').innerText();
        const errors = await admin.locator('ul.errors li').count();
        if (refreshes === '1' && errors === 2) break;
        assert.ok(i < 50, `the client page shows the activity (refreshes ${refreshes}, errors ${errors})`);
        await admin.waitForTimeout(100);
      }
      await admin.getByRole('button', { name: 'Rotate the secret' }).click();
      await admin.locator('#value-client-secret').waitFor();
      const bars = await admin.locator('svg rect').evaluateAll(
        (rects) => rects.filter((r) => Number(r.getAttribute('height')) > 0).map((r) => r.getAttribute('class')));
      assert.deepEqual(bars.sort(), ['refreshes', 'signins'], 'the chart has a bar for each');
      await checkPage(admin, 'portal-client', problems, notes);

      await admin.goto(`${server.issuer}/portal`);
      await admin.locator('table.clients').waitFor();
      await checkPage(admin, 'portal', problems, notes);

      await admin.getByRole('link', { name: 'Users' }).click();
      await admin.waitForURL((u) => u.pathname === '/portal/users');
      await checkPage(admin, 'portal-users', problems, notes);

      assert.deepEqual(adminCtx.blocked, [], 'nothing requested outside 127.0.0.1');
    } finally {
      await adminCtx.context.close();
    }
    for (const note of notes) t.diagnostic(`axe (not failing): ${note}`);
    if (problems.length > 0) {
      assert.fail(`accessibility (axe: serious or critical) and layout problems:\n${problems.join('\n')}`);
    }
  }, { bypassCSP: true });
});

/**
 * With focus on the last of `expected`, presses Tab until as many elements as `expected` were
 * visited (wrapping round the page), checking at each stop that the focus ring can be seen;
 * returns the order visited.
 */
async function tabRound(page, expected) {
  const order = [];
  const invisible = [];
  for (let i = 0; i < expected.length + 3 && order.length < expected.length; i++) {
    await page.keyboard.press('Tab');
    const f = await focusState(page);
    if (f.id === 'body') continue; // past the last element, before wrapping
    order.push(f.id);
    if (!f.visible) invisible.push(`${f.id} (focus-visible: ${f.focusVisible}, outline: ${f.outline})`);
  }
  assert.deepEqual(invisible, [], 'every element shows its focus');
  return order;
}

/** The form fields and buttons among `tabbables` (links left out). */
const controls = (list) => list.filter((id) => !/^a[#:]/.test(id));

/** Focuses the last element Tab can reach, so that the next Tab starts a round at the first. */
async function focusLast(page) {
  await page.evaluate(() => {
    const all = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
      .filter((el) => !el.disabled && el.type !== 'hidden' && !el.hidden && el.getAttribute('tabindex') !== '-1' &&
        el.getBoundingClientRect().width > 0);
    all.at(-1).focus();
  });
}

/** Presses Tab (a few times at most) until `id` has the focus. */
async function tabTo(page, id) {
  let at;
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Tab');
    at = (await focusState(page)).id;
    if (at === id) return;
  }
  assert.fail(`Tab never reached ${id} (last: ${at})`);
}

test('keyboard: Tab reaches every field and button of login and consent in order, focus is visible, consent by keys alone', async () => {
  await withSetup(browser, async ({ server, page, nextCallback }) => {
    const state = randomUUID();
    await page.goto(authorizeUrl(server, { state }));
    await page.waitForURL((u) => u.pathname === '/login');

    for (const colorScheme of SCHEMES) {
      await page.emulateMedia({ colorScheme });
      const expected = await tabbables(page);
      assert.deepEqual(controls(expected), ['input#email', 'input#password', 'button:Sign in'],
        `the login page's fields and button, in this order (all: ${expected.join(', ')})`);
      assert.ok(expected.includes('a:Create one'), 'the sign-up link is reachable');
      await focusLast(page);
      const order = await tabRound(page, expected);
      assert.deepEqual(order, expected, `login Tab order in ${colorScheme} mode`);
    }
    await page.emulateMedia({ colorScheme: 'light' });

    // Sign in by keyboard: the round ended on the last link, one more Tab is the e-mail field.
    await tabTo(page, 'input#email');
    await page.keyboard.type(EMAIL);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await expectConsent(page);

    for (const colorScheme of SCHEMES) {
      await page.emulateMedia({ colorScheme });
      const expected = await tabbables(page);
      assert.deepEqual(controls(expected), ['button:Allow', 'button:Deny'],
        `the consent page's buttons (all: ${expected.join(', ')})`);
      await focusLast(page);
      const order = await tabRound(page, expected);
      assert.deepEqual(order, expected, `consent Tab order in ${colorScheme} mode`);
    }
    await page.emulateMedia({ colorScheme: 'light' });

    // Tab to Allow and press Space: the decision is sent.
    await tabTo(page, 'button:Allow');
    await page.keyboard.press('Space');
    const params = new URL(await nextCallback(0)).searchParams;
    assert.ok(params.get('code'), 'a code came back');
    assert.equal(params.get('state'), state);
    const returned = new URL(await nextCallback(0));
    assert.equal(`${returned.origin}${returned.pathname}`, CALLBACK_OPENAI);
  });
});

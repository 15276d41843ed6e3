// The sign-in pages themselves: they cannot be framed, work with the keyboard alone, label
// every field, and look right on a phone and on a desktop (screenshots in artifacts/).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  launchBrowser, withSetup, authorizeUrl, signIn, expectConsent, serveHtml, screenshot,
  CALLBACK_OPENAI, EMAIL, PASSWORD,
} from './lib/harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const activeElement = (page) => page.evaluate(() => {
  const a = document.activeElement;
  if (!a || a === document.body) return 'body';
  return a.id ? `#${a.id}` : `${a.tagName.toLowerCase()}:${a.textContent.trim()}`;
});

/** Every visible form field on the page has a <label> with text that names it. */
async function assertLabelled(page) {
  const fields = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden')
      .map((el) => ({
        id: el.id,
        name: el.name,
        labels: [...(el.labels ?? [])].map((l) => l.textContent.trim()),
      })));
  assert.ok(fields.length > 0, 'the page has fields');
  for (const f of fields) {
    assert.ok(f.labels.length > 0 && f.labels.every((t) => t.length > 0),
      `field ${f.id || f.name} has a <label>: ${JSON.stringify(f)}`);
  }
  return fields;
}

test('f. the login page cannot be framed by another origin', async () => {
  await withSetup(browser, async ({ server, page }) => {
    const framer = await serveHtml(`<!doctype html><title>framer</title>
      <iframe id="victim" name="victim" src="${server.issuer}/login" width="400" height="400"></iframe>
      <iframe id="consent" name="consent" src="${authorizeUrl(server, { state: 'x' })}" width="400" height="400"></iframe>
      <iframe id="control" name="control" srcdoc="<label for=email>E-mail</label><input id=email>"></iframe>`);
    try {
      const loginResponse = page.waitForResponse((r) => r.url() === `${server.issuer}/login`);
      await page.goto(framer.url, { waitUntil: 'load' });
      const headers = (await loginResponse).headers();
      assert.equal(headers['x-frame-options'], 'DENY');
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);

      const frame = (name) => {
        const f = page.frame({ name });
        assert.ok(f, `frame ${name} exists`);
        return f;
      };
      // The control proves the check below can see a rendered field in a frame.
      assert.notEqual(await frame('control').$('#email'), null, 'control frame renders its field');

      for (const name of ['victim', 'consent']) {
        const f = frame(name);
        assert.ok(!f.url().startsWith(server.issuer),
          `frame ${name} did not commit the gptauth page (it is at ${f.url()})`);
        let field = null;
        try { field = await f.$('#email'); } catch { /* an error frame cannot be queried: also fine */ }
        assert.equal(field, null, `no login form rendered in frame ${name}`);
      }
    } finally {
      await framer.close();
    }
  });
});

test('g. keyboard only: Tab order, typing and Enter sign in and allow; every field is labelled', async () => {
  await withSetup(browser, async ({ server, page, newPage, nextCallback }) => {
    const state = randomUUID();
    await page.goto(authorizeUrl(server, { state }));
    await page.waitForURL((u) => u.pathname === '/login');

    const fields = await assertLabelled(page);
    assert.deepEqual(fields.map((f) => f.id), ['email', 'password']);
    assert.equal(await page.getByLabel('E-mail').getAttribute('id'), 'email');
    assert.equal(await page.getByLabel('Password').getAttribute('id'), 'password');

    // The popup opens with the cursor in the e-mail field; Tab goes round the page and back.
    assert.equal(await activeElement(page), '#email', 'autofocus on the e-mail field');
    const order = [];
    for (let i = 0; i < 8 && order.at(-1) !== '#email'; i++) {
      await page.keyboard.press('Tab');
      order.push(await activeElement(page));
    }
    // Past the last link focus may rest on the document itself ("body") before wrapping.
    assert.deepEqual(order.filter((f) => f !== 'body'), ['#password', 'button:Sign in', '#forgot-password', 'a:Create one', '#email'],
      `Tab order (${order.join(' → ')})`);

    // Now sign in with the keyboard alone.
    await page.keyboard.type(EMAIL);
    await page.keyboard.press('Tab');
    assert.equal(await activeElement(page), '#password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await expectConsent(page);

    // Allow is reachable by Tab and pressed with Enter.
    let reached = null;
    for (let i = 0; i < 10 && reached !== 'button:Allow'; i++) {
      await page.keyboard.press('Tab');
      reached = await activeElement(page);
    }
    assert.equal(reached, 'button:Allow', 'Tab reaches the Allow button');
    await page.keyboard.press('Enter');
    const params = new URL(await nextCallback(0)).searchParams;
    assert.ok(params.get('code'));
    assert.equal(params.get('state'), state);

    // The sign-up page labels its fields too.
    const signupPage = await newPage();
    try {
      await signupPage.goto(`${server.issuer}/signup`);
      const signupFields = await assertLabelled(signupPage);
      assert.deepEqual(signupFields.map((f) => f.id), ['name', 'email', 'password']);
    } finally {
      await signupPage.close();
    }
  });
});

test('screenshots: login, login error, consent, sign-up and the redirect-URI error at 390px and 1280px', async () => {
  await withSetup(browser, async ({ server, page }) => {
    const widths = [390, 1280];
    const shoot = async (name) => {
      for (const width of widths) {
        await page.setViewportSize({ width, height: width === 390 ? 844 : 800 });
        // No horizontal scrolling on a phone.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `${name} at ${width}px scrolls sideways by ${overflow}px`);
        await screenshot(page, `${name}-${width}.png`);
      }
    };
    // Stylesheet actually applied (a CSP or MIME mistake would leave the page unstyled).
    const styled = () => page.evaluate(() => getComputedStyle(document.querySelector('main')).borderRadius);

    await page.goto(authorizeUrl(server, { state: randomUUID() }));
    await page.waitForURL((u) => u.pathname === '/login');
    assert.equal(await styled(), '12px', 'style.css is applied');
    await shoot('login');

    await signIn(page, EMAIL, 'wrong password');
    await page.getByRole('alert').waitFor();
    await shoot('login-error');

    await page.goto(`${server.issuer}/signup`);
    await shoot('signup');

    await page.goto(authorizeUrl(server, { state: randomUUID() }));
    await signIn(page);
    await expectConsent(page);
    assert.equal(await styled(), '12px');
    await shoot('consent');

    // Dark mode follows the system setting (color-scheme: light dark).
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'consent-dark-390.png');
    await page.emulateMedia({ colorScheme: 'light' });

    await page.goto(authorizeUrl(server, {
      state: randomUUID(),
      redirectUri: `${CALLBACK_OPENAI.replace('g-abc', 'g-0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6')}`,
    }));
    await page.locator('#tried-uri').waitFor();
    await shoot('error-redirect-uri');
  });
});

/** Elements that stick out of the card's content box (into its padding or beyond). */
const overflowing = (page) => page.evaluate(() => {
  const main = document.querySelector('main');
  const box = main.getBoundingClientRect();
  const right = box.right - parseFloat(getComputedStyle(main).paddingRight);
  return [...main.querySelectorAll('*')]
    .filter((el) => el.getBoundingClientRect().right > right + 0.5)
    .map((el) => `<${el.tagName.toLowerCase()}> "${el.textContent.trim().slice(0, 40)}" ends at ` +
      `${el.getBoundingClientRect().right.toFixed(0)}px, content box ends at ${right.toFixed(0)}px`);
});

test('layout: nothing sticks out of the card on narrow phones (320px, 390px)', async () => {
  await withSetup(browser, async ({ server, page }) => {
    const problems = [];
    const check = async (name) => {
      for (const width of [320, 390]) {
        await page.setViewportSize({ width, height: 800 });
        for (const p of await overflowing(page)) problems.push(`${name} @${width}px: ${p}`);
        const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        if (sideways > 0) problems.push(`${name} @${width}px: the page scrolls sideways by ${sideways}px`);
      }
    };
    await page.goto(`${server.issuer}/signup`);
    await check('signup');
    await page.goto(authorizeUrl(server, { state: randomUUID() }));
    await check('login');
    await signIn(page);
    await expectConsent(page);
    await check('consent');
    await page.setViewportSize({ width: 320, height: 700 });
    await screenshot(page, 'consent-320.png');
    await page.goto(authorizeUrl(server, { state: randomUUID(), redirectUri: `${CALLBACK_OPENAI}/x` }));
    await check('redirect-uri error');
    assert.deepEqual(problems, []);
  }, { width: 390, height: 844 });
});

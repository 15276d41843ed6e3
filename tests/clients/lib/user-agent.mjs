// The person in front of the browser, without a browser: follows gptauth's redirects with a
// cookie jar, fills in the login form and approves the consent form exactly as the HTML
// describes them (action, method, hidden inputs including the CSRF token, the submit button's
// name and value), and stops at the first redirect that leaves gptauth: the client's callback.

import { parse } from 'node-html-parser';

export class UserAgent {
  constructor({ email, password }) {
    this.email = email;
    this.password = password;
    this.cookies = new Map(); // name -> value; one origin (gptauth's) only
    this.visited = [];        // [{ method, url, status }] of every request made
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  remember(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v = ''] = a.split('=').map((s) => s.trim());
        return (/^max-age$/i.test(k) && Number(v) <= 0) || (/^expires$/i.test(k) && Date.parse(v) < Date.now());
      });
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(method, url, body) {
    const headers = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.remember(res);
    this.visited.push({ method, url: String(url), status: res.status });
    return res;
  }

  /**
   * Opens `authorizationUrl` and signs in / consents until gptauth redirects elsewhere.
   * Resolves with that redirect's URL (the client's redirect_uri with code, state, iss —
   * or with error=…, which the caller asserts on).
   */
  async authorize(authorizationUrl, { maxSteps = 12 } = {}) {
    const home = new URL(authorizationUrl).origin;
    let method = 'GET';
    let url = new URL(authorizationUrl);
    let body;
    this.pages = [];     // 'login' / 'consent', in the order they were shown
    this.submitted = []; // [{ page, fields: [names posted] }]
    for (let step = 0; step < maxSteps; step++) {
      const res = await this.request(method, url, body);
      if (res.status >= 300 && res.status < 400) {
        await res.arrayBuffer();
        const location = res.headers.get('location');
        if (!location) throw new Error(`${res.status} without Location from ${url}`);
        const next = new URL(location, url);
        if (next.origin !== home) return next;
        // 303 (and 302 after POST, as browsers do) turn into GET
        [method, url, body] = ['GET', next, undefined];
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) {
        throw new Error(`gptauth answered ${res.status} at ${method} ${url}:\n${textOf(html)}`);
      }
      const form = this.pickForm(html, url);
      this.submitted.push({ page: this.pages.at(-1), fields: form.fields.map(([n]) => n) });
      [method, url, body] = [form.method, form.action, new URLSearchParams(form.fields).toString()];
    }
    throw new Error(`no redirect back to the client after ${maxSteps} steps: ${JSON.stringify(this.visited)}`);
  }

  /** The form this page asks the person to submit, filled in as they would. */
  pickForm(html, pageUrl) {
    const doc = parse(html);
    for (const form of doc.querySelectorAll('form')) {
      const fields = [];
      for (const input of form.querySelectorAll('input')) {
        const name = input.getAttribute('name');
        if (!name) continue;
        fields.push([name, input.getAttribute('value') ?? '']);
      }
      const names = new Set(fields.map(([n]) => n));
      const action = new URL(form.getAttribute('action') || pageUrl.href, pageUrl);
      const method = (form.getAttribute('method') || 'GET').toUpperCase();
      if (names.has('password')) {
        this.pages.push('login');
        const filled = fields.map(([n, v]) => [n, n === 'email' ? this.email : n === 'password' ? this.password : v]);
        return { action, method, fields: filled };
      }
      const allow = form.querySelectorAll('button').find(
        (b) => b.getAttribute('name') && /^allow$/i.test(b.getAttribute('value') ?? ''),
      );
      if (allow) {
        this.pages.push('consent');
        return { action, method, fields: [...fields, [allow.getAttribute('name'), allow.getAttribute('value')]] };
      }
    }
    throw new Error(`no login or consent form on ${pageUrl}:\n${textOf(html)}`);
  }
}

function textOf(html) {
  try {
    return parse(html).querySelector('main, body')?.text.replace(/\s+/g, ' ').trim().slice(0, 600) ?? html.slice(0, 600);
  } catch {
    return html.slice(0, 600);
  }
}

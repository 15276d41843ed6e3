// Accessibility checks for the browser suite: axe-core run inside the page, a whole-page check
// (axe in light and dark at a phone's and a desktop's width, squeezed text, sideways scrolling,
// screenshots), and a keyboard walk that checks Tab order and visible focus.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { screenshot } from './harness.mjs';

const require = createRequire(import.meta.url);
let axeSource;

/** The widths (a phone's, a desktop's) and colour schemes every page is checked in. */
export const WIDTHS = [390, 1280];
export const SCHEMES = ['light', 'dark'];

/** Impacts that fail a page. */
export const FAILING_IMPACTS = new Set(['serious', 'critical']);

/**
 * Runs axe-core on the page as it is now: `failing` are its serious and critical violations,
 * `other` the moderate and minor ones. The pages' CSP forbids inline script, so the context
 * must be made with `bypassCSP: true`.
 */
export async function axeViolations(page) {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ content: axeSource });
  }
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return {
    failing: results.violations.filter((v) => FAILING_IMPACTS.has(v.impact)),
    other: results.violations.filter((v) => !FAILING_IMPACTS.has(v.impact)),
  };
}

/** Violations as lines a person can act on: rule, impact, what to fix, and where. */
export function formatViolations(label, violations) {
  const lines = [];
  for (const v of violations) {
    lines.push(`${label}: [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`);
    for (const node of v.nodes) {
      lines.push(`    at ${node.target.join(' ')}: ${node.html.slice(0, 160)}`);
      const summary = (node.failureSummary ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
      for (const s of summary) lines.push(`      ${s}`);
    }
  }
  return lines.join('\n');
}

/**
 * Checks the page as it is in every colour scheme and width: axe (serious and critical
 * violations are collected in `problems`, an array of strings; moderate and minor ones in
 * `notes`, a Set), no squeezed text, no sideways scrolling on a phone, a full-page screenshot
 * each (artifacts/page-NAME-SCHEME-WIDTH.png). The context must be made with `bypassCSP: true`.
 */
export async function checkPage(page, name, problems, notes) {
  for (const colorScheme of SCHEMES) {
    await page.emulateMedia({ colorScheme });
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 800 });
      const { failing, other } = await axeViolations(page);
      if (failing.length > 0) {
        problems.push(formatViolations(`${name} (${colorScheme}, ${width}px)`, failing));
      }
      for (const v of other) notes.add(`${name}: [${v.impact}] ${v.id}: ${v.help}`);
      for (const p of await squeezedText(page)) problems.push(`${name} (${colorScheme}, ${width}px): ${p}`);
      const sideways = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (sideways > 0) problems.push(`${name} (${colorScheme}, ${width}px): scrolls sideways by ${sideways}px`);
      await screenshot(page, `page-${name}-${colorScheme}-${width}.png`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });
}

/**
 * Runs of text squeezed into a column a few characters wide (e.g. text and <code> made
 * separate flex items): a text node of 24 characters or more laid out narrower than 64px.
 */
function squeezedText(page) {
  return page.evaluate(() => {
    const found = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const text = node.textContent.trim();
      if (text.length < 24) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      const box = range.getBoundingClientRect();
      if (box.width > 0 && box.width < 64) {
        found.push(`"${text.slice(0, 40)}" is squeezed into ${box.width.toFixed(0)}px`);
      }
    }
    return found;
  });
}

/**
 * Elements a person can reach with Tab, in document order, described as `tag#id` or
 * `tag:text` (`input#email`, `button:Sign in`).
 */
export function tabbables(page) {
  return page.evaluate(() => {
    const selector = 'a[href], button, input, select, textarea, [tabindex]';
    const visible = (el) => {
      if (el.disabled || el.type === 'hidden' || el.hidden) return false;
      if (el.getAttribute('tabindex') === '-1') return false;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden' || style.display === 'none') return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    return [...document.querySelectorAll(selector)].filter(visible).map(describe);

    function describe(el) {
      const tag = el.tagName.toLowerCase();
      return el.id ? `${tag}#${el.id}` : `${tag}:${el.textContent.trim().replace(/\s+/g, ' ')}`;
    }
  });
}

/**
 * The focused element as `tabbables` describes it, and whether its focus ring can be seen:
 * it matches :focus-visible and has a solid outline (or a box-shadow ring) of at least 2px in a
 * colour that is not transparent.
 */
export function focusState(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return { id: 'body', visible: false };
    const tag = el.tagName.toLowerCase();
    const id = el.id ? `${tag}#${el.id}` : `${tag}:${el.textContent.trim().replace(/\s+/g, ' ')}`;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 &&
      !/rgba\(.*,\s*0\)$|transparent/.test(style.outlineColor);
    const ring = style.boxShadow && style.boxShadow !== 'none';
    return {
      id,
      focusVisible: el.matches(':focus-visible'),
      visible: el.matches(':focus-visible') && (outline || ring),
      outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
    };
  });
}

// The clinic journey in a real browser (Debian's Chromium through playwright-core, no browser
// download): a prescriber sets up their account, signs in with TOTP, registers a patient, opens
// a course, creates a portal link; the patient answers a PHQ-9 with item 9 positive on a phone
// screen and sees the crisis line; the prescriber sees the alert, acknowledges it and sees the
// chart. Screenshots of each page go to $ARTIFACTS; axe-core checks the portal form and the chart.
//
// Environment: KAPSTONE_BIN (the kapstone binary), CHROMIUM (default /usr/bin/chromium),
// ARTIFACTS (default ../../artifacts/browser).

import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.KAPSTONE_BIN;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.ARTIFACTS || join(here, '..', '..', 'artifacts', 'browser');
if (!bin) throw new Error('set KAPSTONE_BIN to the kapstone binary');
mkdirSync(artifacts, { recursive: true });

const axeSource = readFileSync(join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
let shot = 0;

function check(cond, message) {
  if (!cond) throw new Error(`check failed: ${message}`);
}

async function screenshot(page, name) {
  shot += 1;
  const file = join(artifacts, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`  screenshot ${file}`);
}

// axe-core, injected through the DevTools protocol (the page's CSP forbids inline script, as it
// should); serious or critical violations fail the journey.
async function axe(page, name) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  );
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of result.violations) {
    console.log(`  axe ${name}: ${v.impact} ${v.id} (${v.nodes.length} node(s)): ${v.help}`);
  }
  check(bad.length === 0, `${name}: ${bad.length} serious or critical accessibility violation(s): ${bad.map((v) => v.id).join(', ')}`);
  console.log(`  axe ${name}: no serious or critical violations (${result.passes.length} rules passed)`);
}

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 6238 TOTP, written independently of kapstone's own implementation.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, '0');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function kapstone(args) {
  return execFileSync(bin, args, { encoding: 'utf8' });
}

async function main() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const db = `sqlite://${join(tmpdir(), `kapstone-browser-${Date.now()}.db`)}`;
  kapstone(['clinic', 'create', '--db', db, '--name', 'Browser Test Clinic', '--time-zone', 'America/Denver']);
  const added = kapstone([
    'user', 'add', '--db', db, '--email', 'prescriber@clinic.test', '--role', 'prescriber',
    '--name', 'Dr. Browser', '--team', 'Team A', '--public-url', url,
  ]);
  const setupLink = added.match(/(http:\/\/\S+\/setup\/[0-9a-f]{64})/)[1];

  const server = spawn(bin, ['serve', '--db', db, '--addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => String(d).includes('serving') && resolve());
    server.on('exit', (code) => reject(new Error(`kapstone serve exited with ${code}`)));
  });

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  try {
    const staffCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const staff = await staffCtx.newPage();

    console.log('set up the account');
    await staff.goto(setupLink);
    await screenshot(staff, 'setup');
    await staff.fill('#password', 'correct horse battery staple');
    await staff.click('button[type=submit]');
    await staff.waitForSelector('text=Password set');

    console.log('sign in; two-step sign-in is required, so enrol an authenticator');
    await staff.goto(`${url}/signin`);
    await screenshot(staff, 'signin');
    await staff.fill('#email', 'prescriber@clinic.test');
    await staff.fill('#password', 'correct horse battery staple');
    await staff.click('button[type=submit]');
    await staff.waitForURL(/\/mfa\/enrol$/);
    await screenshot(staff, 'enrol');
    const secret = (await staff.textContent('#totp-secret')).trim();
    const step = Math.floor(Date.now() / 1000 / 30);
    await staff.fill('#code', totp(secret, step));
    await staff.click('button[type=submit]');
    await staff.waitForSelector('#recovery-codes');
    await screenshot(staff, 'recovery-codes');

    await staff.click('text=Continue');
    await staff.waitForURL(/\/dashboard$/);

    console.log('sign out and sign in again with a TOTP code');
    await staff.click('header .signout button');
    await staff.waitForURL(/\/signin$/);
    await staff.fill('#email', 'prescriber@clinic.test');
    await staff.fill('#password', 'correct horse battery staple');
    await staff.click('button[type=submit]');
    await staff.waitForURL(/\/mfa$/);
    await screenshot(staff, 'mfa');
    await staff.fill('#code', totp(secret, step + 1));
    await staff.click('form[action="/mfa"] button[type=submit]');
    await staff.waitForURL(/\/dashboard$/);
    await screenshot(staff, 'dashboard-empty');

    console.log('register a patient and open a course');
    await staff.goto(`${url}/patients/new`);
    await staff.fill('#given_name', 'Robin');
    await staff.fill('#family_name', 'Example');
    await staff.fill('#birth_date', '1988-03-14');
    await staff.selectOption('#sex', 'female');
    await staff.fill('#email', 'robin@example.org');
    await screenshot(staff, 'patient-new');
    await staff.click('form[action="/patients/new"] button[type=submit]');
    await staff.waitForURL(/\/patients\/[0-9a-f-]{36}$/);
    const chartUrl = staff.url();
    await staff.selectOption('#indication', 'ptsd');
    await staff.selectOption('#protocol', 'kap-6');
    await staff.click('form[action$="/courses"] button[type=submit]');
    await staff.waitForSelector('text=screening');
    await screenshot(staff, 'course-opened');

    console.log('create a portal link for the baseline PHQ-9');
    const row = staff.locator('tr', { hasText: 'PHQ-9' }).filter({ hasText: 'baseline' }).first();
    await row.locator('button', { hasText: 'Create link' }).click();
    await staff.waitForSelector('#portal-link');
    const link = await staff.inputValue('#portal-link');
    check(/\/p\/[0-9a-f]{64}$/.test(link), `portal link has a 256-bit token and nothing else: ${link}`);
    check(!link.includes('Robin') && !link.includes('Example'), 'no patient data in the link');
    await screenshot(staff, 'portal-link');

    console.log('the patient answers on a phone, item 9 positive');
    const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const phone = await phoneCtx.newPage();
    await phone.goto(link);
    await phone.waitForSelector('form.portal');
    check((await phone.locator('fieldset').count()) === 10, 'ten questions on the PHQ-9 form');
    await screenshot(phone, 'portal-form');
    await axe(phone, 'portal form');
    for (let item = 1; item <= 8; item += 1) {
      await phone.check(`input[name=item${item}][value="1"]`);
    }
    await phone.check('input[name=item9][value="2"]');
    await phone.click('form.portal button[type=submit]');
    await phone.waitForSelector('.crisis');
    const crisis = await phone.textContent('.crisis');
    check(crisis.includes('988'), 'the thank-you page shows the crisis line');
    check(crisis.includes('no one may be reading them right now'), 'the portal does not imply live monitoring');
    await screenshot(phone, 'portal-thank-you-crisis');
    await axe(phone, 'portal thank-you');
    await phone.goto(link);
    await phone.waitForSelector('text=This link no longer works');

    console.log('the prescriber sees the alert, acknowledges it, and sees the chart');
    await staff.goto(`${url}/dashboard`);
    await staff.waitForSelector('table.alerts');
    check((await staff.textContent('table.alerts')).includes('Example, Robin'), 'the alert names the patient');
    await screenshot(staff, 'dashboard-alert');
    await staff.click('table.alerts a');
    await staff.waitForSelector('.alert textarea');
    await screenshot(staff, 'chart-alert');
    await axe(staff, 'patient chart');
    await staff.fill('.alert textarea', 'Called Robin within the hour; safety plan reviewed; no intent or plan.');
    await staff.click('.alert button[type=submit]');
    await staff.waitForSelector('text=No open alerts.');
    check((await staff.locator('figure.trend svg').count()) >= 1, 'the chart shows a trend chart');
    check((await staff.textContent('section[aria-labelledby=alerts-h]')).includes('safety plan reviewed'), 'the action note is kept');
    await screenshot(staff, 'chart-acknowledged');
    await staff.goto(`${url}/dashboard`);
    await staff.waitForSelector('#no-alerts');
    check(staff.url() === `${url}/dashboard`, 'still signed in');
    console.log(`browser journey passed; ${shot} screenshots in ${artifacts}`);
    void chartUrl;
  } finally {
    await browser.close();
    server.kill();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

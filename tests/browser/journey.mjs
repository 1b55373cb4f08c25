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

// A clinic-local `datetime-local` value, `minutesAgo` minutes before now (the clinic is in
// America/Denver; the server reads typed times in the clinic's zone).
function denver(minutesAgo) {
  const t = new Date(Date.now() - minutesAgo * 60000);
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: 'America/Denver', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(t);
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get('year')}-${get('month')}-${get('day')}T${get('hour')}:${get('minute')}`;
}

// Sets up an account from its link and signs in, enrolling TOTP on the way.
async function newAccount(page, url, setupLink, email) {
  await page.goto(setupLink);
  await page.fill('#password', 'correct horse battery staple');
  await page.click('button[type=submit]');
  await page.waitForSelector('text=Password set');
  await page.goto(`${url}/signin`);
  await page.fill('#email', email);
  await page.fill('#password', 'correct horse battery staple');
  await page.click('button[type=submit]');
  await page.waitForURL(/\/mfa\/enrol$/);
  const secret = (await page.textContent('#totp-secret')).trim();
  await page.fill('#code', totp(secret, Math.floor(Date.now() / 1000 / 30)));
  await page.click('button[type=submit]');
  await page.waitForSelector('#recovery-codes');
  await page.click('text=Continue');
}

// Submits an htmx form on the dosing page and waits for the swapped record; the page itself
// must not reload (a marker set on the window survives).
async function htmxSubmit(page, formSelector, waitFor) {
  await page.evaluate(() => { window.kapstoneNoReload = true; });
  await page.click(`${formSelector} button[type=submit]`);
  await page.waitForSelector(waitFor);
  check(await page.evaluate(() => window.kapstoneNoReload === true), `${formSelector}: updated without a full reload`);
}

// The dosing day: consent document (admin), screening with an interaction warning, consent,
// preparation, a sublingual session with vitals every 10 minutes and one over the limit, a
// booster, an adverse event, the observation timer refusing an early discharge, discharge,
// and an integration note signed with an addendum.
async function dosingDay(browser, staff, url, chartUrl, db) {
  console.log('an admin adds the consent document');
  const added = kapstone([
    'user', 'add', '--db', db, '--email', 'admin@clinic.test', '--role', 'admin',
    '--name', 'Clinic Admin', '--public-url', url,
  ]);
  const adminLink = added.match(/(http:\/\/\S+\/setup\/[0-9a-f]{64})/)[1];
  const adminCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const admin = await adminCtx.newPage();
  await newAccount(admin, url, adminLink, 'admin@clinic.test');
  await admin.goto(`${url}/admin/clinical`);
  await admin.fill('#version', '2026-1');
  await admin.fill('#title', 'Ketamine-assisted psychotherapy consent');
  await admin.fill('#body', 'Off-label use; risks; alternatives; right to withdraw except after a dose; no driving until the next day.');
  await admin.click('form[action="/admin/consent-documents"] button[type=submit]');
  await admin.waitForSelector('text=version 2026-1');
  await screenshot(admin, 'admin-clinical-settings');

  console.log('screening: a benzodiazepine on the medication list shows its interaction note');
  await staff.goto(chartUrl);
  await staff.click('text=Course record');
  await staff.waitForSelector('h2#ready-h');
  const courseUrl = staff.url();
  await staff.click('text=screening and medications');
  await staff.click('summary:has-text("Add a medication")');
  await staff.fill('#med-name', 'Lorazepam');
  await staff.fill('#med-dose', '0.5 mg at night');
  await staff.fill('#med-hold', 'hold 24 h before each session');
  await staff.click('form[action$="/medications"] button[type=submit]');
  await staff.waitForSelector('.warning');
  check((await staff.textContent('.warning')).includes('respiratory depression'), 'the benzodiazepine interaction note is shown');
  for (const radio of await staff.locator('input[type=radio][value=no]').all()) {
    await radio.check();
  }
  await staff.selectOption('#pregnancy_status', 'not_pregnant');
  await staff.fill('#weight_kg', '80');
  await staff.fill('#systolic', '124');
  await staff.fill('#diastolic', '80');
  await staff.fill('#heart_rate', '72');
  await screenshot(staff, 'screening-interaction');
  await staff.click('form[action$="/screening"] button[type=submit]');
  await staff.waitForSelector('p.signed');
  check((await staff.textContent('p.signed')).includes('eligible'), 'the eligibility decision is signed');
  await screenshot(staff, 'screening-signed');

  console.log('consent, then the course becomes active');
  await staff.goto(`${chartUrl}/consents`);
  await staff.fill('#signer_name', 'Robin Example');
  await staff.fill('#witness_name', 'Dr. Browser');
  await staff.click('form[action$="/consents"] button[type=submit]');
  await staff.waitForSelector('text=current');
  await screenshot(staff, 'consent');
  for (const to of ['preparation', 'active']) {
    await staff.goto(chartUrl);
    await staff.selectOption('form[action$="/status"] select', to);
    await staff.click('form[action$="/status"] button[type=submit]');
    await staff.waitForSelector(`span.status:has-text("${to}")`);
  }

  console.log('preparation: intentions, skills, support person, integration plan; signed');
  await staff.goto(courseUrl);
  await staff.click('a:has-text("preparation 1")');
  await staff.fill('#intentions', '"I want to stop bracing for the next bad thing."');
  await staff.fill('#skills', 'Box breathing; body scan');
  await staff.fill('#support_person', 'Sam Example (partner)');
  await staff.fill('#support_contact', '+1 303-555-0142');
  await staff.fill('#integration_plan', 'Integration session 1–3 days after each dose; journaling.');
  await staff.fill('#note', 'Prepared for first session; expectations discussed.');
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/note"] button[type=submit]')]);
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/sign"] button[type=submit]')]);
  await staff.waitForSelector('text=This encounter is locked');
  await screenshot(staff, 'preparation-signed');

  console.log('the dosing session: checklist, first dose, vitals every 10 minutes');
  await staff.goto(courseUrl);
  await staff.click('a:has-text("dosing 1")');
  await staff.waitForSelector('.warning');
  check((await staff.textContent('.warning')).includes('Lorazepam'), 'the interaction note is shown again before dosing');
  await staff.check('input[name=fasting]');
  await staff.check('input[name=escort_confirmed]');
  await staff.fill('#held_medications', 'Lorazepam held since yesterday');
  await staff.fill('#pre-systolic', '128');
  await staff.fill('#pre-diastolic', '82');
  await staff.fill('#pre-hr', '76');
  await staff.check('input[name=eye_mask]');
  await staff.check('input[name=music]');
  await staff.fill('#position', 'reclined');
  await staff.fill('#present', 'Dr. Browser (prescriber), therapist');
  await staff.fill('#started_at', denver(170));
  await screenshot(staff, 'dosing-checklist');
  await htmxSubmit(staff, 'form[action$="/start"]', 'form[action$="/doses"]');

  await staff.selectOption('#drug', 'racemic_ketamine');
  await staff.selectOption('#route', 'sublingual');
  await staff.selectOption('#formulation', 'rapid_dissolving_tablet');
  await staff.fill('#dose_mg', '100');
  check((await staff.inputValue('#weight_kg')) === '80', 'the weight from screening is offered');
  await staff.fill('#lot', 'RDT-2026-117');
  await staff.fill('#given_at', denver(160));
  await htmxSubmit(staff, 'form[action$="/doses"]', '#doses td:has-text("1.25 mg/kg")');

  for (let i = 0; i < 12; i += 1) {
    const over = i === 4;
    await staff.fill('#taken_at', denver(160 - 10 * i));
    await staff.fill('#v-systolic', over ? '172' : String(124 + (i % 3)));
    await staff.fill('#v-diastolic', over ? '96' : '80');
    await staff.fill('#v-hr', '78');
    await staff.fill('#v-spo2', '98');
    await staff.fill('#v-rr', '14');
    await htmxSubmit(staff, 'form[action$="/vitals"]', `#vitals tbody tr:nth-child(${i + 1})`);
  }
  check((await staff.locator('tr.over').count()) === 1, 'one reading over the limit is marked');
  await screenshot(staff, 'dosing-vitals');

  console.log('a booster, an observation and an adverse event');
  check((await staff.inputValue('#formulation')) === 'rapid_dissolving_tablet', 'a booster is offered in the same form');
  await staff.fill('#dose_mg', '50');
  await staff.fill('#given_at', denver(140));
  await htmxSubmit(staff, 'form[action$="/doses"]', '#doses tbody tr:nth-child(2)');
  await staff.selectOption('#measure', 'moaas');
  await staff.fill('#value', '4');
  await staff.fill('#observed_at', denver(120));
  await htmxSubmit(staff, 'form[action$="/observations"]', 'li:has-text("moaas: 4")');
  await staff.click('summary:has-text("Record a CADSS-6")');
  for (let item = 1; item <= 6; item += 1) {
    await staff.selectOption(`#cadss-item${item}`, item <= 2 ? '2' : '1');
  }
  await staff.fill('#cadss-at', denver(125));
  await htmxSubmit(staff, 'form[action$="/cadss6"]', 'li:has-text("CADSS-6: total 8")');
  await staff.click('summary:has-text("Record an adverse event")');
  await staff.selectOption('#term', 'nausea');
  await staff.selectOption('#severity', 'mild');
  await staff.fill('#onset_minutes', '35');
  await staff.selectOption('#action', 'observed');
  await staff.selectOption('#outcome', 'resolved');
  await htmxSubmit(staff, 'form[action$="/adverse-events"]', '#adverse-events td:has-text("nausea")');
  check((await staff.locator('#clock svg').count()) === 1, 'the session clock is drawn');
  check((await staff.textContent('#clock')).includes('typical, varies widely'), 'the PK bands are labelled');
  await screenshot(staff, 'dosing-session');
  await axe(staff, 'dosing session');

  console.log('the observation timer refuses an early discharge');
  await staff.check('input[name=criteria_met]');
  await staff.fill('#escort_name', 'Sam Example');
  await staff.check('input[name=no_driving_advice]');
  await staff.fill('#discharged_at', denver(30));
  await htmxSubmit(staff, 'form[action$="/discharge"]', '#form-error');
  const refusal = await staff.textContent('#form-error');
  check(refusal.startsWith('discharged_at:') && refusal.includes('min early'), `early discharge refused: ${refusal}`);
  await screenshot(staff, 'discharge-refused');
  await staff.check('input[name=criteria_met]');
  await staff.fill('#escort_name', 'Sam Example');
  await staff.check('input[name=no_driving_advice]');
  await staff.fill('#discharged_at', denver(0));
  await htmxSubmit(staff, 'form[action$="/discharge"]', 'p.signed:has-text("Discharged")');
  await staff.fill('#note', 'Sublingual 100 mg plus 50 mg booster; transient BP rise to 172/96 settled without treatment; mild nausea.');
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/note"] button[type=submit]')]);
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/sign"] button[type=submit]')]);
  await staff.waitForSelector('text=This encounter is locked');
  await screenshot(staff, 'dosing-signed');

  console.log('the vitals alert is on the dashboard');
  await staff.goto(`${url}/dashboard`);
  await staff.waitForSelector('table.alerts');
  check((await staff.textContent('table.alerts')).includes('Systolic pressure 172'), 'the over-limit reading raised an alert');

  console.log('integration: a note signed, then an addendum');
  await staff.goto(courseUrl);
  await staff.click('a:has-text("integration 1")');
  await staff.fill('#note', 'Integration: Robin described feeling less braced; practising body scan daily.');
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/note"] button[type=submit]')]);
  await Promise.all([staff.waitForNavigation(), staff.click('form[action$="/sign"] button[type=submit]')]);
  await staff.waitForSelector('text=This encounter is locked');
  await staff.fill('#addendum', 'Addendum: Robin called to say sleep has improved.');
  await staff.click('form[action$="/addenda"] button[type=submit]');
  await staff.waitForSelector('text=Addendum: Robin called to say sleep has improved.');
  check((await staff.locator('textarea#note').count()) === 0, 'the signed note can no longer be edited');
  await screenshot(staff, 'integration-addendum');

  console.log('the admin sees the scheduled backup');
  await admin.goto(`${url}/admin/backups`);
  check((await admin.textContent('main')).includes('Newest good backup'), 'the backups page shows the newest backup');
  check(!(await admin.textContent('main')).includes('none yet'), 'a backup was taken at start-up');
  check((await admin.locator('text=takes no scheduled backups').count()) === 0, 'no warning banner');
  await screenshot(admin, 'backups');
  await axe(admin, 'backups page');

  console.log('the admin sees cohort outcomes, every rate with its denominator');
  await admin.goto(`${url}/outcomes`);
  await admin.waitForSelector('section.instrument');
  check((await admin.textContent('main')).includes('eligible (baseline at or above caseness): 1'), 'the PHQ-9 baseline counts');
  check(!(await admin.textContent('main')).includes('Robin'), 'no patient is named');
  await screenshot(admin, 'outcomes');
  await axe(admin, 'outcomes dashboard');
  await adminCtx.close();
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

  // The field encryption key, and an age key the scheduled backups are encrypted to.
  const scratch = join(tmpdir(), `kapstone-browser-${Date.now()}`);
  kapstone(['keys', 'new', '--out', `${scratch}.keys`]);
  const recipient = kapstone(['backup', 'new-key', '--out', `${scratch}.age`]).trim();
  const server = spawn(bin, [
    'serve', '--db', db, '--addr', `127.0.0.1:${port}`, '--key-file', `${scratch}.keys`,
    '--backup-dir', `${scratch}-backups`, '--backup-every', '1d', '--backup-recipient', recipient,
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
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
    await staff.click('header .signout button:not([formaction])');
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
    await phone.waitForSelector('text=Your answers were received');
    check((await phone.locator('form.portal').count()) === 0, 'a used link shows no form again');
    await axe(phone, 'portal answers received');

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
    await dosingDay(browser, staff, url, chartUrl, db);
    console.log(`browser journey passed; ${shot} screenshots in ${artifacts}`);
  } finally {
    await browser.close();
    server.kill();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

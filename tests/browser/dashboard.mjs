// The dashboard's browser test: Debian's Chromium (headless, through playwright-core) against
// the real local stack (scripts/test.sh starts it and passes BF_* variables). One user's path
// through the product, step by step: sign in, connect the emulator org, back it up, download an
// object, diff two backups, restore a change away, restore into the sandbox org and run a
// recovery drill there, move a finding, export an audit pack, and the
// account pages; axe-core on every page (no serious or critical violation), no CSP violation
// and no script error anywhere. Screenshots go to docs/screenshots/ (shown in the README).
//
// Each step prints `ok N - name` or `not ok N - name`; a step after a failed one is reported
// failed too (it depends on the state the earlier ones made). The last line is
// `browser: N passed, N failed`, which scripts/test.sh adds to its tally.

import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run through scripts/test.sh)`);
  return value;
};
const worker = env("BF_WORKER_URL");
const okta = env("BF_OKTA_URL");
const oktaToken = env("BF_OKTA_TOKEN");
// The empty sandbox org (a second emulator): the target of the sandbox restore and the drill.
const sandbox = env("BF_OKTA_SANDBOX_URL");
const sandboxToken = env("BF_OKTA_SANDBOX_TOKEN");
const shots = join(root, "docs", "screenshots");
const axeSource = readFileSync(join(root, "node_modules", "axe-core", "axe.min.js"), "utf8");
mkdirSync(shots, { recursive: true });

let passed = 0;
let failed = 0;
let broken = null;
let n = 0;

async function step(name, fn) {
  n += 1;
  if (broken) {
    failed += 1;
    console.log(`not ok ${n} - ${name} # not run: step "${broken}" failed`);
    return;
  }
  const started = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok ${n} - ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed += 1;
    broken = name;
    console.log(`not ok ${n} - ${name}`);
    console.log(`  ${String(e && e.stack ? e.stack : e).split("\n").join("\n  ")}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const userData = mkdtempSync(join(tmpdir(), "butterfly-chromium-"));
// A fresh profile of its own (removed at the end): nothing carries over from another run.
const context = await chromium.launchPersistentContext(userData, {
  executablePath: "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(30_000);

// Anything the page's CSP refused, and any uncaught script error, fails the run at the end.
const violations = [];
page.on("console", (msg) => {
  if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(msg.text())) violations.push(msg.text());
});
page.on("pageerror", (e) => violations.push(`page error: ${e.message}`));

/** axe-core over the page: no serious or critical violation. The source goes in through the
 * DevTools protocol (`evaluate`), since the page's CSP rightly refuses an injected script tag. */
async function accessible(label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert(!bad.length, `${label}: accessibility violations ${JSON.stringify(bad)}`);
  // No placeholder leaked into the page's own text (tables may show JSON values such as null).
  const text = await page.evaluate(() => {
    const copy = document.querySelector("main").cloneNode(true);
    copy.querySelectorAll("table").forEach((t) => t.remove());
    return copy.textContent;
  });
  const leaked = /\bnull\b|\bundefined\b|\[object Object\]|\bNaN\b/.exec(text);
  assert(!leaked, `${label}: the page shows "${leaked && leaked[0]}"`);
}

async function heading(text) {
  await page.getByRole("heading", { level: 1, name: text }).waitFor();
}

async function shot(name, fullPage = true) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage });
}

async function emulatorChange(requests) {
  const response = await fetch(`${okta}/__emulator/changes`, {
    method: "POST",
    headers: { authorization: `SSWS ${oktaToken}`, "content-type": "application/json" },
    body: JSON.stringify({ requests }),
  });
  assert(response.status === 200, `emulator change: ${response.status}`);
  return response.json();
}

async function oktaGroups() {
  const response = await fetch(`${okta}/api/v1/groups?limit=200`, { headers: { authorization: `SSWS ${oktaToken}` } });
  return response.json();
}

async function sandboxGroups() {
  const response = await fetch(`${sandbox}/api/v1/groups?limit=200`, { headers: { authorization: `SSWS ${sandboxToken}` } });
  assert(response.status === 200, `sandbox groups: ${response.status}`);
  return response.json();
}

async function backupToCompletion() {
  await page.getByRole("button", { name: "Run a backup now" }).click();
  const status = page.locator(".progress");
  await status.filter({ hasText: /Backup (complete|failed)/ }).waitFor({ timeout: 240_000 });
  const text = await status.textContent();
  assert(/Backup complete: \d+ objects/.test(text), `backup did not complete: ${text}`);
}

let connectionUrl = null;
let firstBackupUrl = null;
let group = null;
let sandboxUrl = null;

try {
  await step("the shell is served with a strict CSP, nosniff, no caching, and refuses inline script", async () => {
    const response = await fetch(`${worker}/app`);
    assert(response.status === 200, `GET /app: ${response.status}`);
    const csp = response.headers.get("content-security-policy") || "";
    for (const part of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"]) {
      assert(csp.includes(part), `CSP lacks ${part}: ${csp}`);
    }
    assert(!csp.includes("unsafe"), `CSP allows something unsafe: ${csp}`);
    assert(response.headers.get("x-content-type-options") === "nosniff", "nosniff missing");
    assert(response.headers.get("cache-control") === "no-store", `HTML cached: ${response.headers.get("cache-control")}`);
    assert(response.headers.get("referrer-policy") === "no-referrer", "referrer policy missing");
    const html = await response.text();
    assert(!/<script(?![^>]*\bsrc=)/.test(html), "an inline script in the shell");
    const js = await fetch(`${worker}/app/assets/app.js`);
    assert(js.status === 200 && /javascript/.test(js.headers.get("content-type")), "app.js not served as a script");
    const missing = await fetch(`${worker}/app/assets/nope.js`);
    assert(missing.status === 404, `unknown asset: ${missing.status}`);
  });

  await step("sign in with the dev-only sign-in (an audited demo-user token)", async () => {
    await page.goto(`${worker}/app`);
    await heading("Sign in to Butterfly");
    await accessible("sign-in");
    await shot("sign-in");
    await page.getByRole("button", { name: "Sign in as the demo user" }).click();
    await heading("Connections");
    const stored = await page.evaluate(() => sessionStorage.getItem("butterfly.token"));
    assert(stored && stored.split(".").length === 3, "no token in sessionStorage");
    const cookies = await context.cookies();
    assert(cookies.length === 0, `the dashboard set cookies: ${cookies.map((c) => c.name)}`);
    // Focus moved to the new page's heading; from the top, the skip link is the first stop.
    assert((await page.evaluate(() => document.activeElement.tagName + ":" + document.activeElement.textContent)) === "H1:Connections", "focus is not on the page heading");
    const first = await page.evaluate(() => document.querySelector("a[href], button, input, select, textarea").className);
    assert(first === "skip", `the first focusable element is not the skip link: ${first}`);
    // The keyboard goes on from the heading into the page's own controls.
    await page.keyboard.press("Tab");
    const next = await page.evaluate(() => document.activeElement.closest("main") !== null && document.activeElement.tagName);
    assert(next, "Tab from the heading does not reach the page's controls");
  });

  await step("connect the emulator org through the form", async () => {
    await accessible("connections (empty)");
    await page.getByLabel("Okta org domain").fill(new URL(okta).host);
    await page.getByLabel("Okta API token").fill(oktaToken);
    await page.getByRole("button", { name: "Connect" }).click();
    await heading(new URL(okta).host);
    connectionUrl = page.url();
    await page.getByText("No error reported").waitFor();
  });

  await step("run a backup and watch it complete", async () => {
    await backupToCompletion();
    await accessible("connection");
    await shot("connection");
  });

  await step("open the backup and download one object through its signed link", async () => {
    await page.getByRole("table", { name: "Backups, newest first" }).getByRole("link").first().click();
    await heading(/^Backup of /);
    firstBackupUrl = page.url();
    await page.getByRole("button", { name: "Get link for groups" }).click();
    const anchor = page.getByRole("link", { name: "Download groups.json" });
    const href = await anchor.getAttribute("href");
    const object = await fetch(href);
    assert(object.status === 200, `signed download: ${object.status}`);
    const body = await object.text();
    assert(body.length > 2, "an empty object");
    await accessible("backup");
    await shot("backup");
  });

  await step("change a group in Okta, back up again and open the diff", async () => {
    const groups = await oktaGroups();
    group = groups.find((g) => g.type === "OKTA_GROUP");
    assert(group, "the demo org has no Okta group");
    const description = `edited in the browser test ${Date.now()}`;
    const result = await emulatorChange([{ method: "PUT", path: `/api/v1/groups/${group.id}`, body: { profile: { name: group.profile.name, description } } }]);
    assert(result.results[0].status === 200, `group edit: ${JSON.stringify(result)}`);
    await page.goto(connectionUrl);
    await heading(new URL(okta).host);
    await backupToCompletion();
    await page.getByRole("button", { name: "Show changes" }).click();
    await heading("Changes between backups");
    const changes = page.getByRole("table", { name: "Changed resources" });
    await changes.getByText(description).first().waitFor();
    await accessible("diff");
    await shot("diff");
  });

  await step("open a resource's history from the diff", async () => {
    await page.getByRole("table", { name: "Changed resources" }).getByRole("link").first().click();
    await heading(/^History of /);
    await accessible("history");
  });

  await step("preview a restore of the first backup's groups, apply it, see the receipt", async () => {
    await page.goto(firstBackupUrl);
    await page.getByRole("link", { name: "Restore from this backup" }).click();
    await heading("Restore");
    await accessible("restore form");
    await page.getByRole("button", { name: "Preview the plan" }).click();
    await heading("Restore plan");
    const plan = page.getByRole("table", { name: /^Writes the restore would make/ });
    await plan.getByText("update").first().waitFor();
    await accessible("restore plan");
    await shot("restore-plan");
    await page.getByRole("button", { name: "Approve and apply" }).click();
    await page.getByRole("heading", { name: "Receipt" }).waitFor({ timeout: 120_000 });
    const progress = await page.locator(".progress").textContent();
    assert(/Restore complete/.test(progress) && /0 failed/.test(progress), `restore: ${progress}`);
    const back = (await oktaGroups()).find((g) => g.id === group.id);
    assert(back.profile.description === group.profile.description && back.profile.name === group.profile.name, `group not restored: ${JSON.stringify(back.profile)}`);
    await accessible("restore receipt");
    await shot("restore-receipt");
  });

  await step("connect the sandbox org as a second connection and label it sandbox", async () => {
    await page.getByRole("link", { name: "Connections", exact: true }).click();
    await heading("Connections");
    await page.getByLabel("Okta org domain").fill(new URL(sandbox).host);
    await page.getByLabel("Okta API token").fill(sandboxToken);
    await page.getByRole("button", { name: "Connect" }).click();
    await heading(new URL(sandbox).host);
    sandboxUrl = page.url();
    await page.getByLabel("Label this org as").selectOption("sandbox");
    await page.getByRole("button", { name: "Save the label" }).click();
    await page.getByRole("form", { name: "Environment label" }).getByText("Labelled sandbox.").waitFor();
    await page.reload();
    await heading(new URL(sandbox).host);
    await page.locator(".facts .badge-sandbox").waitFor();
    await accessible("sandbox connection");
  });

  await step("preview and apply a restore of the demo org's backup into the sandbox org", async () => {
    // The sandbox org is shared with the cargo stack tests (drills restore the demo org into it
    // before this runs): the group is deleted there first, as an admin would, so the restore
    // must create it.
    for (const held of (await sandboxGroups()).filter((g) => g.profile.name === group.profile.name)) {
      const gone = await fetch(`${sandbox}/api/v1/groups/${held.id}`, { method: "DELETE", headers: { authorization: `SSWS ${sandboxToken}` } });
      assert(gone.status === 204, `deleting the sandbox's copy of the group: ${gone.status}`);
    }
    assert(!(await sandboxGroups()).some((g) => g.profile.name === group.profile.name), "the sandbox still holds the group");
    await page.goto(firstBackupUrl);
    await page.getByRole("link", { name: "Restore from this backup" }).click();
    await heading("Restore");
    const target = page.getByLabel("Restore into");
    await target.selectOption({ label: `${new URL(sandbox).host} (sandbox)` });
    await accessible("restore form (sandbox target)");
    await page.getByRole("button", { name: "Preview the plan" }).click();
    await heading("Restore plan");
    const plan = page.getByRole("table", { name: /^Writes the restore would make/ });
    await plan.getByText("create").first().waitFor();
    await page.getByRole("button", { name: "Approve and apply" }).click();
    await page.getByRole("heading", { name: "Receipt" }).waitFor({ timeout: 120_000 });
    const progress = await page.locator(".progress").textContent();
    assert(/Restore complete/.test(progress) && /0 failed/.test(progress), `sandbox restore: ${progress}`);
    const restored = (await sandboxGroups()).find((g) => g.profile.name === group.profile.name);
    assert(restored, "the group was not created in the sandbox org");
    // The receipt's way back leads to the target, the sandbox connection.
    assert((await page.getByRole("link", { name: "Back to the connection" }).getAttribute("href")) === new URL(sandboxUrl).hash, "the restore's target is not the sandbox");
    await accessible("sandbox restore receipt");
  });

  await step("configure and run a drill from the drills page and see its report", async () => {
    await page.goto(connectionUrl);
    await heading(new URL(okta).host);
    await page.getByRole("link", { name: "Recovery drills" }).click();
    await heading(/^Recovery drills: /);
    await page.getByText("Run a drill to see its report.").waitFor();
    await accessible("drills (none yet)");
    await page.getByLabel("Sandbox org").selectOption({ label: new URL(sandbox).host });
    await page.getByLabel("RTO objective (minutes)").fill("30");
    await page.getByRole("button", { name: "Save the drill settings" }).click();
    await page.getByText("Saved: objective 30 min, weekly drills on.").waitFor();
    await page.getByRole("button", { name: "Run a drill now" }).click();
    const live = page.locator(".progress");
    await live.filter({ hasText: /Drill (passed|failed)/ }).waitFor({ timeout: 300_000 });
    const text = await live.textContent();
    const report = page.getByRole("region", { name: /^Drill report of / });
    assert(/Drill passed/.test(text), `drill: ${text}\n${await report.textContent()}`);
    await report.getByRole("table", { name: "Fidelity per type" }).getByRole("cell", { name: "groups", exact: true }).waitFor();
    await report.getByText("No failure.").waitFor();
    const fact = (name) => report.locator("dt", { hasText: name }).locator("xpath=following-sibling::dd[1]").textContent();
    const differences = await fact("Differences");
    assert(/^0 unexplained, [1-9]\d* documented$/.test(differences), `differences: ${differences}`);
    const rto = await fact("RTO");
    assert(/^\d+ (d|h|min|s)( \d+ (d|h|min|s))* \(objective 30 min\)$/.test(rto), `RTO fact: ${rto}`);
    const rpo = await fact("RPO");
    assert(/^\d/.test(rpo), `RPO fact: ${rpo}`);
    assert(/^[0-9a-f]{64}$/.test(await fact("Receipt SHA-256")), "no restore receipt in the report");
    await report.getByRole("table", { name: "Documented differences" }).waitFor();
    await page.getByRole("table", { name: "Drills, newest first" }).getByText("passed").waitFor();
    await page.getByText(/^1 finished: 1 passed, 0 failed, 0 over the objective/).waitFor();
    await page.getByRole("img", { name: /^RTO per drill/ }).waitFor();
    await accessible("drills (report)");
    // The page's top (settings, run, the report's facts): the full page lists every documented difference.
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("drills", false);
  });

  await step("drift alerts page", async () => {
    await page.goto(connectionUrl);
    await page.getByRole("link", { name: "Drift alerts" }).click();
    await heading("Drift alerts");
    await accessible("drift");
  });

  await step("run the compliance checks and acknowledge a failing finding", async () => {
    await page.getByRole("link", { name: "Compliance", exact: true }).click();
    await heading("Compliance");
    // Two connections now: the findings are the demo org's.
    await page.getByLabel("Connection", { exact: true }).selectOption({ label: new URL(okta).host });
    // Wait for the view rendered for that choice (its option selected by default), not the old one.
    await page.waitForFunction((host) => {
      const chosen = document.querySelector("select[name=connection]")?.selectedOptions[0];
      return chosen && chosen.defaultSelected && chosen.textContent === host;
    }, new URL(okta).host);
    await heading("Compliance");
    await page.getByRole("button", { name: "Run the checks now" }).click();
    await page.getByText(/Latest run .*passed/).waitFor({ timeout: 120_000 });
    const form = page.locator("form[aria-label^='Remediation of ']").first();
    const label = await form.getAttribute("aria-label");
    const check = label.replace("Remediation of ", "");
    await form.getByRole("combobox").first().selectOption("acknowledged");
    await form.getByRole("button", { name: "Apply" }).click();
    await form.getByText(`${check} is now acknowledged.`).waitFor();
    await accessible("compliance");
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot("compliance", false);
  });

  await step("export a signed audit pack", async () => {
    await page.getByRole("link", { name: "Audit", exact: true }).click();
    await heading("Audit evidence");
    await accessible("audit");
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export the audit pack" }).click()]);
    const path = await download.path();
    const bytes = readFileSync(path);
    assert(bytes.length > 100 && bytes.subarray(0, 2).toString() === "PK", "the audit pack is not a zip");
    await page.getByText(/Audit pack ready/).waitFor();
    await page.getByRole("button", { name: "Verify the activity chain" }).click();
    await page.getByText(/Activity chain verified: intact/).waitFor();
    await shot("audit");
  });

  await step("team, invitations, API keys and billing pages", async () => {
    await page.getByRole("link", { name: "Team", exact: true }).click();
    await heading(/^Team: /);
    await page.getByRole("form", { name: "Invite a member" }).getByLabel("Email").fill("new.member@butterfly.test");
    await page.getByRole("button", { name: "Send invitation" }).click();
    await page.getByRole("table", { name: "Open invitations" }).getByText("new.member@butterfly.test").waitFor();
    await accessible("team");
    await shot("team");
    await page.getByRole("link", { name: "API keys", exact: true }).click();
    await heading("API keys");
    await page.getByLabel("Name").fill("ci");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByText("Copy the key now: it is shown only once.").waitFor();
    const key = await page.locator("code.secret").textContent();
    assert(key.startsWith("bfk_"), "no key shown");
    await accessible("api keys");
    await page.getByRole("link", { name: "Billing", exact: true }).click();
    await heading("Billing");
    await accessible("billing");
    await shot("billing");
  });

  await step("no CSP violation and no script error on any page", async () => {
    assert(!violations.length, violations.join("\n"));
  });
} finally {
  await context.close().catch(() => {});
  rmSync(userData, { recursive: true, force: true });
  console.log(`browser: ${passed} passed, ${failed} failed`);
}
process.exit(failed ? 1 : 0);

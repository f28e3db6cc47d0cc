#!/usr/bin/env node
// Drives headless Chromium (the system's, through puppeteer-core: no browser download) through
// the browser run of the quickstart, and fails unless every step passes.
//
// Two pages, both served by serve.mjs:
//  1. PAGE_ORIGIN/#mode=quickstart&...: the official JS SDKs (entry.mjs, bundled) run every step
//     of ../steps.mjs against the emulator over https. The page's origin is not the emulator's,
//     so each SDK call with an authorization or x-ms-* header is preflighted by the browser; the
//     emulator must allow PAGE_ORIGIN (--cors-origin).
//  2. The same page from OTHER_ORIGIN (the same server as http://localhost:PORT, another origin
//     to a browser), #mode=cors-refused: the browser must refuse the emulator's answer there.
// Chromium trusts the emulator's CA through the NSS database in $BROWSER_HOME/.pki/nssdb (made by
// .ci/browser.sh with certutil); certificate verification stays on.
//
// Environment
//   CHROMIUM               the Chromium binary                                (default: chromium)
//   BROWSER_HOME           HOME for Chromium: its NSS database trusts the emulator's CA (required)
//   PAGE_ORIGIN            origin serve.mjs printed, e.g. http://127.0.0.1:PORT      (required)
//   ACS_ENDPOINT           the emulator's https endpoint                              (required)
//   ACS_CONNECTION_STRING  endpoint=https://...;accesskey=<base64>                   (required)
//   ACS_RETRY_TOTAL        maxRetries of the SDK clients' retry policy (CI uses 0)
//   BROWSER_TIMEOUT_S      how long a page may take to report (default 120)
//
// Prints each page's result lines, then "N passed, M failed" over both pages; exit status 0 only
// when every step passed. A page that never reports counts as one failed step.
import puppeteer from "puppeteer-core";

const SUMMARY = /^(\d+) passed, (\d+) failed$/;

const env = process.env;
const missing = ["BROWSER_HOME", "PAGE_ORIGIN", "ACS_ENDPOINT", "ACS_CONNECTION_STRING"].filter((k) => !env[k]);
if (missing.length) {
  console.log(`FAIL setup: set ${missing.join(", ")}`);
  console.log("0 passed, 1 failed");
  process.exit(1);
}
const timeoutMs = Number(env.BROWSER_TIMEOUT_S || 120) * 1000;
const accessKey = /accesskey=([^;]+)/i.exec(env.ACS_CONNECTION_STRING)?.[1] ?? "";

/** `text` without the access key, in any of the forms a URL or a message may carry it. */
function redact(text) {
  let out = String(text);
  for (const form of [accessKey, encodeURIComponent(accessKey)]) {
    if (form) out = out.split(form).join("<access key>");
  }
  return out;
}

/** Opens `url` in a new page, echoes its result lines, and resolves to its summary counts. */
async function runPage(browser, label, url) {
  const page = await browser.newPage();
  let settle;
  const reported = new Promise((resolve) => (settle = resolve));
  page.on("console", (msg) => {
    const text = redact(msg.text());
    if (msg.type() === "log") {
      console.log(text);
      const m = SUMMARY.exec(text);
      if (m) settle({ passed: Number(m[1]), failed: Number(m[2]) });
    } else {
      console.error(`${label}: console.${msg.type()}: ${text}`);
    }
  });
  page.on("pageerror", (e) => console.error(`${label}: page error: ${redact(e.message)}`));
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => {
      console.log(`FAIL ${label}: the page reported no result within ${timeoutMs / 1000} s`);
      resolve({ passed: 0, failed: 1 });
    }, timeoutMs);
  });
  try {
    await page.goto(url, { waitUntil: "load", timeout: timeoutMs });
    return await Promise.race([reported, timedOut]);
  } catch (e) {
    console.log(`FAIL ${label}: ${redact(e.message)}`);
    return { passed: 0, failed: 1 };
  } finally {
    clearTimeout(timer);
    await page.close().catch(() => {});
  }
}

async function main() {
  const origin = new URL(env.PAGE_ORIGIN);
  const other = new URL(env.PAGE_ORIGIN);
  other.hostname = "localhost";
  const quickstart = new URLSearchParams({
    mode: "quickstart",
    endpoint: env.ACS_ENDPOINT,
    connectionString: env.ACS_CONNECTION_STRING,
  });
  if (env.ACS_RETRY_TOTAL) quickstart.set("retryTotal", env.ACS_RETRY_TOTAL);
  const refused = new URLSearchParams({ mode: "cors-refused", endpoint: env.ACS_ENDPOINT });

  const browser = await puppeteer.launch({
    executablePath: env.CHROMIUM || "chromium",
    headless: true,
    pipe: true,
    // Chromium's sandbox cannot start as root (CI runs as root); it is a process sandbox,
    // nothing to do with certificate checks.
    args: process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [],
    env: { ...env, HOME: env.BROWSER_HOME },
  });
  const total = { passed: 0, failed: 0 };
  try {
    console.error(`browser: ${await browser.version()}`);
    for (const [label, url] of [
      ["quickstart", `${origin.origin}/index.html#${quickstart}`],
      ["cors-refused", `${other.origin}/index.html#${refused}`],
    ]) {
      const r = await runPage(browser, label, url);
      total.passed += r.passed;
      total.failed += r.failed;
    }
  } finally {
    await browser.close();
  }
  console.log(`${total.passed} passed, ${total.failed} failed`);
  return total.failed === 0 && total.passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL setup: ${redact(e && e.stack ? e.stack : e)}`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  },
);

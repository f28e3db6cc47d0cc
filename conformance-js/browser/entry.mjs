// The browser entry of the quickstart: the steps of ../steps.mjs (the same ones flow.mjs runs in
// Node) with the OFFICIAL, UNMODIFIED JavaScript SDKs, bundled for the browser by esbuild (see
// ../package.json's "bundle:browser"), loaded by index.html.
//
// The page's URL fragment says what to do (it is never sent to the page's server, so the
// access key stays in the browser):
//   #mode=quickstart&endpoint=https://...&connectionString=endpoint=...;accesskey=...&retryTotal=0
//     runs every step against the emulator;
//   #mode=cors-refused&endpoint=https://...
//     from an origin the emulator was NOT told to allow: checks that the browser refuses the
//     emulator's answer, which shows that the quickstart passes because of --cors-origin.
// Each result line goes to the console (run.mjs reads it) and to <pre id="results">, ending with
// "N passed, M failed". Over https only: no allowInsecureConnection, no pipeline policy, nothing
// that would let a bearer token travel over http.
import { AzureKeyCredential } from "@azure/core-auth";
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { describe, runQuickstart } from "../steps.mjs";

const results = document.getElementById("results");

function log(line) {
  console.log(line);
  results.textContent += line + "\n";
}

/** From an origin the emulator does not allow: the emulator is reachable and its certificate
 * trusted (an opaque no-cors request succeeds), yet a request with an authorization header,
 * which the browser preflights, fails. So the failure is the CORS check's, nothing else's. */
async function corsRefused(endpoint) {
  const url = `${endpoint}/chat/threads?api-version=2025-03-15`;
  const name = "cors.other_origin_refused";
  try {
    await fetch(url, { mode: "no-cors" });
  } catch (e) {
    log(`FAIL ${name}: the emulator is not reachable from ${location.origin} at all: ${describe(e)}`);
    log("0 passed, 1 failed");
    return;
  }
  try {
    const r = await fetch(url, { headers: { authorization: "Bearer not-a-token" } });
    log(`FAIL ${name}: the browser let ${location.origin} read the answer (HTTP ${r.status})`);
    log("0 passed, 1 failed");
  } catch (e) {
    if (e instanceof TypeError) {
      log(`OK ${name} (${location.origin}: ${e.message})`);
      log("1 passed, 0 failed");
    } else {
      log(`FAIL ${name}: ${describe(e)}`);
      log("0 passed, 1 failed");
    }
  }
}

async function main() {
  const params = new URLSearchParams(location.hash.slice(1));
  const mode = params.get("mode");
  const endpoint = params.get("endpoint") || "";
  if (!endpoint.startsWith("https://")) {
    log(`FAIL setup: the endpoint must be https:// (got ${JSON.stringify(endpoint)})`);
    log("0 passed, 1 failed");
    return;
  }
  if (mode === "cors-refused") {
    await corsRefused(endpoint);
    return;
  }
  if (mode !== "quickstart" || !params.get("connectionString")) {
    log("FAIL setup: the fragment needs mode=quickstart, endpoint and connectionString");
    log("0 passed, 1 failed");
    return;
  }
  const retryTotal = params.get("retryTotal");
  await runQuickstart({
    sdk: { ChatClient, CommunicationIdentityClient, AzureCommunicationTokenCredential, AzureKeyCredential },
    endpoint,
    connectionString: params.get("connectionString"),
    clientOptions: () => (retryTotal ? { retryOptions: { maxRetries: Number(retryTotal) } } : {}),
    log,
    debug: (e) => console.error(e),
  });
}

main().catch((e) => {
  log(`FAIL setup: ${describe(e)}`);
  log("0 passed, 1 failed");
});

#!/usr/bin/env node
// Runs every step of the ACS Chat quickstart (steps.mjs: the same steps as
// ../shared/conformance/python_sdk_flow.py) with the OFFICIAL, UNMODIFIED JavaScript SDKs
// (@azure/communication-chat, -identity, -common; versions pinned in package.json) against any
// endpoint, typically the acs-chat emulator on 127.0.0.1.
//
// Environment
//   ACS_ENDPOINT           chat endpoint, e.g. http://127.0.0.1:8080            (required)
//   ACS_CONNECTION_STRING  endpoint=http://127.0.0.1:8080/;accesskey=<base64>  (required):
//                          the identity SDK creates the users and tokens (HMAC-SHA256)
//   ACS_ALLOW_HTTP=1       allow plain http:// endpoints (see "Plain http" below)
//   ACS_RETRY_TOTAL        maxRetries of the clients' retry policy (CI uses 0)
//   ACS_DEBUG=1            print the stack of a failed step
//
// Usage: node flow.mjs   -> one "OK <step>" / "FAIL <step>: why" line per step, then
//                           "N passed, M failed"; exit status 0 only when every step passed.
//
// Plain http. Two things in the JS pipeline stand in the way, and neither is the emulator's doing:
//  1. The node HTTP client refuses http:// unless the request has allowInsecureConnection; the
//     clients' `allowInsecureConnection: true` option sets it on every request (documented
//     CommonClientOptions). That is all the identity client needs: its HMAC policy has no https
//     check, and it takes the http endpoint from the connection string as is.
//  2. The chat clients authenticate with core-rest-pipeline's bearerTokenAuthenticationPolicy,
//     which throws "Bearer token authentication is not permitted for non-TLS protected (non-https)
//     URLs" for every http:// URL, with no opt-out (Python's azure-core has
//     context["enforce_https"]; JS has nothing). So, for loopback http endpoints only, the script
//     adds two policies through the public `additionalPolicies` option: a perCall one (runs before
//     the bearer policy) that presents the URL as https://, and a perRetry one (runs after it, just
//     before the HTTP client) that puts http:// back for the wire and restores the https:// view
//     afterwards. No SDK file is modified and nothing else about the request changes; nextLinks
//     the server returns go through the same two policies.
import { AzureKeyCredential } from "@azure/core-auth";
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { describe, runQuickstart } from "./steps.mjs";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const allowHttp = process.env.ACS_ALLOW_HTTP === "1";

/** Requests whose http:// URL the perCall policy presented as https://. */
const presentedAsHttps = new WeakSet();

const presentHttpAsHttps = {
  name: "conformancePresentLoopbackHttpAsHttps",
  async sendRequest(request, next) {
    const url = new URL(request.url);
    if (url.protocol === "http:" && LOOPBACK.has(url.hostname)) {
      url.protocol = "https:";
      request.url = url.toString();
      presentedAsHttps.add(request);
    }
    return next(request);
  },
};

const sendHttpOnTheWire = {
  name: "conformanceSendLoopbackHttp",
  async sendRequest(request, next) {
    if (!presentedAsHttps.has(request) || !request.url.startsWith("https://")) {
      return next(request);
    }
    const secureView = request.url;
    request.url = "http://" + secureView.slice("https://".length);
    try {
      return await next(request);
    } finally {
      request.url = secureView;
    }
  },
};

function clientOptions({ bearer }) {
  const options = {};
  if (process.env.ACS_RETRY_TOTAL) {
    options.retryOptions = { maxRetries: Number(process.env.ACS_RETRY_TOTAL) };
  }
  if (allowHttp) {
    options.allowInsecureConnection = true;
    if (bearer) {
      options.additionalPolicies = [
        { policy: presentHttpAsHttps, position: "perCall" },
        { policy: sendHttpOnTheWire, position: "perRetry" },
      ];
    }
  }
  return options;
}

async function main() {
  const endpoint = process.env.ACS_ENDPOINT;
  const connectionString = process.env.ACS_CONNECTION_STRING;
  if (!endpoint || !connectionString) {
    console.log("FAIL setup: set ACS_ENDPOINT and ACS_CONNECTION_STRING");
    console.log("0 passed, 1 failed");
    return 1;
  }
  const { failed } = await runQuickstart({
    sdk: { ChatClient, CommunicationIdentityClient, AzureCommunicationTokenCredential, AzureKeyCredential },
    endpoint,
    connectionString,
    clientOptions,
    log: (line) => console.log(line),
    debug: process.env.ACS_DEBUG ? (e) => console.error(e) : undefined,
  });
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL setup: ${describe(e)}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
// Runs every step of the ACS Chat quickstart (the same steps as
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
import { randomUUID } from "node:crypto";
import { AzureKeyCredential } from "@azure/core-auth";
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";
import { CommunicationIdentityClient } from "@azure/communication-identity";

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

function parseConnectionString(cs) {
  const parts = {};
  for (const p of cs.split(";")) {
    const i = p.indexOf("=");
    if (i > 0) parts[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
  }
  return parts;
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

function describe(e) {
  const status = e && e.statusCode ? `HTTP ${e.statusCode} ` : "";
  const code = e && e.code ? `[${e.code}] ` : "";
  const msg = String((e && e.message) || e).replace(/\s+/g, " ").slice(0, 400);
  return `${(e && e.name) || "Error"}: ${status}${code}${msg}`;
}

class Flow {
  constructor() {
    this.passed = 0;
    this.failed = 0;
  }

  async step(name, fn) {
    try {
      const detail = await fn();
      this.passed += 1;
      console.log(`OK ${name}${detail ? ` (${detail})` : ""}`);
      return true;
    } catch (e) {
      this.failed += 1;
      console.log(`FAIL ${name}: ${describe(e)}`);
      if (process.env.ACS_DEBUG) console.error(e);
      return false;
    }
  }
}

async function collectPages(pager, settings) {
  const pages = [];
  for await (const page of pager.byPage(settings)) pages.push(page);
  return pages;
}

async function main() {
  const endpoint = process.env.ACS_ENDPOINT;
  const cs = process.env.ACS_CONNECTION_STRING;
  if (!endpoint || !cs) {
    console.log("FAIL setup: set ACS_ENDPOINT and ACS_CONNECTION_STRING");
    console.log("0 passed, 1 failed");
    return 1;
  }
  const flow = new Flow();
  const c = {};

  // -- identity (HMAC-SHA256 with the connection string's key) --
  // The connection-string constructor keeps the endpoint's scheme, so it works over http too;
  // the step below also exercises the plain constructor with AzureKeyCredential.
  c.identity = new CommunicationIdentityClient(cs, clientOptions({ bearer: false }));
  const csParts = parseConnectionString(cs);

  await flow.step("identity.create_user_and_token", async () => {
    const r = await c.identity.createUserAndToken(["chat"], { tokenExpiresInMinutes: 24 * 60 });
    c.user1 = r.user;
    c.token = r.token;
    check(r.token.split(".").length === 3, "token is not a JWT");
    check(r.expiresOn instanceof Date && !isNaN(r.expiresOn), `expiresOn ${r.expiresOn}`);
    return `user=${r.user.communicationUserId} expiresOn=${r.expiresOn.toISOString()}`;
  });
  await flow.step("identity.create_user (endpoint + AzureKeyCredential)", async () => {
    const plain = new CommunicationIdentityClient(
      csParts.endpoint.replace(/\/+$/, ""),
      new AzureKeyCredential(csParts.accesskey),
      clientOptions({ bearer: false }),
    );
    c.user2 = await plain.createUser();
    check(/^8:acs:/.test(c.user2.communicationUserId), `user id ${c.user2.communicationUserId}`);
    return `user=${c.user2.communicationUserId}`;
  });
  await flow.step("identity.get_token", async () => {
    const t = await c.identity.getToken(c.user2, ["chat"], { tokenExpiresInMinutes: 60 });
    const minutes = (t.expiresOn.getTime() - Date.now()) / 60000;
    check(minutes > 55 && minutes <= 61, `expiresOn ${t.expiresOn.toISOString()} is not ~60 min away`);
    return `expiresOn=${t.expiresOn.toISOString()}`;
  });
  if (!c.token) {
    console.log("FAIL setup: no user token");
    console.log(`${flow.passed} passed, ${flow.failed + 1} failed`);
    return 1;
  }

  const tStart = new Date(Date.now() - 5 * 60 * 1000);
  const topic = "quickstart topic " + randomUUID().slice(0, 8);
  const idem = randomUUID();
  const chatOptions = clientOptions({ bearer: true });

  const steps = [
    ["chat_client.create (AzureCommunicationTokenCredential)", async () => {
      c.cred = new AzureCommunicationTokenCredential(c.token);
      c.chat = new ChatClient(endpoint, c.cred, chatOptions);
      const t = await c.cred.getToken();
      // Decoded from the JWT's exp: an undecodable token would get a 10-minute fallback.
      const hours = (t.expiresOnTimestamp - Date.now()) / 3600000;
      check(hours > 23 && hours <= 24.1, `token expiry ${hours.toFixed(2)} h away, not ~24 h`);
      return `expiresOnTimestamp=${t.expiresOnTimestamp}`;
    }],
    ["create_chat_thread", async () => {
      const r = await c.chat.createChatThread({ topic }, {
        participants: [{ id: c.user1, displayName: "Alice", shareHistoryTime: new Date() }],
        idempotencyToken: idem,
      });
      check(!r.invalidParticipants || r.invalidParticipants.length === 0,
        `unexpected invalid participants ${JSON.stringify(r.invalidParticipants)}`);
      check(r.chatThread, "no chatThread in the result");
      check(r.chatThread.topic === topic, `topic mismatch ${r.chatThread.topic}`);
      c.threadId = r.chatThread.id;
      return `thread_id=${c.threadId}`;
    }],
    ["create_chat_thread.same_idempotency_token", async () => {
      const r = await c.chat.createChatThread({ topic }, {
        participants: [{ id: c.user1, displayName: "Alice" }],
        idempotencyToken: idem,
      });
      check(r.chatThread && r.chatThread.id === c.threadId,
        `same idempotencyToken gave another thread ${r.chatThread && r.chatThread.id}`);
      return "same thread id";
    }],
    ["get_chat_thread_client", async () => {
      c.tc = c.chat.getChatThreadClient(c.threadId);
      check(c.tc.threadId === c.threadId, "thread id");
    }],
    ["get_properties", async () => {
      const p = await c.tc.getProperties();
      check(p.id === c.threadId && p.topic === topic, `properties ${p.id}/${p.topic}`);
      check(p.createdOn instanceof Date && !isNaN(p.createdOn), `createdOn ${p.createdOn}`);
      check(p.createdBy && p.createdBy.communicationUserId === c.user1.communicationUserId,
        `createdBy ${JSON.stringify(p.createdBy)}`);
      return `created_on=${p.createdOn.toISOString()} created_by=${p.createdBy.communicationUserId}`;
    }],
    ["list_chat_threads.by_page", async () => {
      const pages = await collectPages(c.chat.listChatThreads({ maxPageSize: 1, startTime: tStart }), {});
      const items = pages.flat();
      check(items.some((t) => t.id === c.threadId), "created thread not listed");
      return `${items.length} items in ${pages.length} pages`;
    }],
    ["send_message.text", async () => {
      const r = await c.tc.sendMessage({ content: "Hello world!" }, {
        senderDisplayName: "Alice",
        type: "text",
        metadata: { tag: "quickstart", n: "1" },
      });
      c.msgId = r.id;
      check(/^\d+$/.test(r.id), `message id ${r.id}`);
      return `id=${r.id}`;
    }],
    ["send_message.html", async () => {
      const r = await c.tc.sendMessage({ content: "<p><b>Hello</b> html</p>" }, {
        senderDisplayName: "Alice",
        type: "html",
      });
      c.htmlId = r.id;
      return `id=${r.id}`;
    }],
    ["get_message", async () => {
      const m = await c.tc.getMessage(c.msgId);
      check(m.id === c.msgId, "id");
      check(m.content && m.content.message === "Hello world!", `content ${JSON.stringify(m.content)}`);
      check(m.type === "text", `type ${m.type}`);
      check(m.senderDisplayName === "Alice", `senderDisplayName ${m.senderDisplayName}`);
      check(m.metadata && m.metadata.tag === "quickstart", `metadata ${JSON.stringify(m.metadata)}`);
      check(m.sender && m.sender.communicationUserId === c.user1.communicationUserId,
        `sender ${JSON.stringify(m.sender)}`);
      return `type=${m.type} seq=${m.sequenceId} created_on=${m.createdOn.toISOString()}`;
    }],
    ["list_messages.by_page", async () => {
      const pages = await collectPages(c.tc.listMessages({ maxPageSize: 2, startTime: tStart }), {});
      const ids = new Set(pages.flat().map((m) => m.id));
      check(ids.has(c.msgId) && ids.has(c.htmlId), "sent messages not listed");
      check(pages.length > 1, `expected several pages of 2, got ${pages.length}`);
      return `${ids.size} items in ${pages.length} pages`;
    }],
    ["update_message", async () => {
      await c.tc.updateMessage(c.msgId, { content: "Hello (edited)", metadata: { tag: "edited" } });
      const m = await c.tc.getMessage(c.msgId);
      check(m.content && m.content.message === "Hello (edited)", `edited content ${JSON.stringify(m.content)}`);
      check(m.editedOn instanceof Date, "editedOn not set");
      check(m.metadata && m.metadata.tag === "edited" && m.metadata.n === "1",
        `metadata not merged: ${JSON.stringify(m.metadata)}`);
      return `edited_on=${m.editedOn.toISOString()}`;
    }],
    ["update_topic", async () => {
      await c.tc.updateTopic(topic + " (renamed)");
      const p = await c.tc.getProperties();
      check(p.topic === topic + " (renamed)", `topic ${p.topic}`);
    }],
    ["send_read_receipt", async () => {
      await c.tc.sendReadReceipt({ chatMessageId: c.msgId });
    }],
    ["list_read_receipts", async () => {
      const pages = await collectPages(c.tc.listReadReceipts({ maxPageSize: 10, skip: 0 }), {});
      const receipts = pages.flat();
      check(receipts.some((r) => r.chatMessageId === c.msgId), `no read receipt for ${c.msgId}`);
      return `${receipts.length} receipts`;
    }],
    ["send_typing_notification", async () => {
      const sent = await c.tc.sendTypingNotification({ senderDisplayName: "Alice" });
      check(sent === true, "the SDK did not send the typing notification");
    }],
    ["list_participants", async () => {
      const ids = [];
      for await (const p of c.tc.listParticipants({ maxPageSize: 10, skip: 0 })) {
        ids.push(p.id.communicationUserId);
      }
      check(ids.includes(c.user1.communicationUserId), "creator missing from participants");
      return `${ids.length} participants`;
    }],
    ["add_participants", async () => {
      const r = await c.tc.addParticipants({
        participants: [{ id: c.user2, displayName: "Bob", shareHistoryTime: new Date() }],
      });
      check(!r.invalidParticipants || r.invalidParticipants.length === 0,
        `unexpected failures ${JSON.stringify(r.invalidParticipants)}`);
    }],
    ["add_participants.partial_failure", async () => {
      const badId = `8:acs:invalid-${randomUUID()}`;
      const r = await c.tc.addParticipants({
        participants: [
          { id: c.user2, displayName: "Bob" },
          { id: { communicationUserId: badId }, displayName: "Nobody" },
        ],
      });
      const failed = r.invalidParticipants || [];
      const targets = failed.map((e) => e.target);
      check(targets.includes(badId), `expected a per-participant error for ${badId}, got ${JSON.stringify(targets)}`);
      check(!targets.includes(c.user2.communicationUserId), "the valid participant was reported as failed");
      return `failures=${JSON.stringify(failed.map((e) => [e.target, e.code, e.message]))}`;
    }],
    ["remove_participant", async () => {
      await c.tc.removeParticipant(c.user2);
      const ids = [];
      for await (const p of c.tc.listParticipants()) ids.push(p.id.communicationUserId);
      check(!ids.includes(c.user2.communicationUserId), "user2 still a participant");
    }],
    ["delete_message", async () => {
      await c.tc.deleteMessage(c.htmlId);
      const m = await c.tc.getMessage(c.htmlId);
      check(m.deletedOn instanceof Date, `deletedOn not set on ${JSON.stringify(m)}`);
    }],
    ["delete_chat_thread", async () => {
      await c.chat.deleteChatThread(c.threadId);
    }],
    // The JS SDK speaks api-version 2025-03-15 (the Python SDK 2024-03-07), so these steps
    // cover what only that version has, as the JS SDK's own recorded tests use it: thread
    // metadata and retention policy, participant metadata.
    ["v2025.create_chat_thread.metadata_retention", async () => {
      const r = await c.chat.createChatThread({ topic: topic + " v2025" }, {
        participants: [{ id: c.user1, displayName: "Alice", metadata: { userType: "C1" } }],
        metadata: { threadType: "primary", secondaryThread: "test-id" },
        retentionPolicy: { kind: "threadCreationDate", deleteThreadAfterDays: 90 },
      });
      check(r.chatThread, "no chatThread in the result");
      c.thread2 = r.chatThread.id;
      check(r.chatThread.metadata && r.chatThread.metadata.threadType === "primary",
        `metadata ${JSON.stringify(r.chatThread.metadata)}`);
      const rp = r.chatThread.retentionPolicy;
      check(rp && rp.kind === "threadCreationDate" && rp.deleteThreadAfterDays === 90,
        `retentionPolicy ${JSON.stringify(rp)}`);
      return `thread_id=${c.thread2}`;
    }],
    ["v2025.update_properties", async () => {
      const tc = c.chat.getChatThreadClient(c.thread2);
      await tc.updateProperties({
        metadata: { threadType: "secondary" },
        retentionPolicy: { kind: "none" },
      });
      const p = await tc.getProperties();
      check(p.metadata && p.metadata.threadType === "secondary", `metadata ${JSON.stringify(p.metadata)}`);
      check(p.retentionPolicy && p.retentionPolicy.kind === "none",
        `retentionPolicy ${JSON.stringify(p.retentionPolicy)}`);
    }],
    ["v2025.participant_metadata", async () => {
      const tc = c.chat.getChatThreadClient(c.thread2);
      const r = await tc.addParticipants({ participants: [{ id: c.user2, metadata: { userType: "C2" } }] });
      check(!r.invalidParticipants || r.invalidParticipants.length === 0,
        `unexpected failures ${JSON.stringify(r.invalidParticipants)}`);
      const seen = {};
      for await (const p of tc.listParticipants()) seen[p.id.communicationUserId] = p;
      const p2 = seen[c.user2.communicationUserId];
      check(p2 && p2.metadata && p2.metadata.userType === "C2", `participant ${JSON.stringify(p2)}`);
      check(p2.displayName === undefined, `displayName ${JSON.stringify(p2.displayName)} though none was set`);
      await c.chat.deleteChatThread(c.thread2);
    }],
    ["identity.delete_user", async () => {
      await c.identity.deleteUser(c.user2);
    }],
  ];
  for (const [name, fn] of steps) await flow.step(name, fn);
  console.log(`${flow.passed} passed, ${flow.failed} failed`);
  return flow.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL setup: ${describe(e)}`);
    process.exit(1);
  },
);

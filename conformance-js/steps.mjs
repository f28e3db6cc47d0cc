// The ACS Chat quickstart's steps (the same steps as ../shared/conformance/python_sdk_flow.py),
// written once for both runs of the OFFICIAL, UNMODIFIED JavaScript SDKs: flow.mjs in Node and
// browser/entry.mjs bundled for headless Chromium. The steps take the SDK's classes and the
// clients' options from the caller and use nothing of Node or of a browser but
// globalThis.crypto.randomUUID, so both runs check exactly the same things.
//
// runQuickstart(...) logs one "OK <step>" / "FAIL <step>: why" line per step, then
// "N passed, M failed", and resolves to { passed, failed }.

const randomUUID = () => globalThis.crypto.randomUUID();

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

export function describe(e) {
  const status = e && e.statusCode ? `HTTP ${e.statusCode} ` : "";
  const code = e && e.code ? `[${e.code}] ` : "";
  const msg = String((e && e.message) || e).replace(/\s+/g, " ").slice(0, 400);
  return `${(e && e.name) || "Error"}: ${status}${code}${msg}`;
}

class Flow {
  constructor(log, debug) {
    this.log = log;
    this.debug = debug;
    this.passed = 0;
    this.failed = 0;
  }

  async step(name, fn) {
    try {
      const detail = await fn();
      this.passed += 1;
      this.log(`OK ${name}${detail ? ` (${detail})` : ""}`);
      return true;
    } catch (e) {
      this.failed += 1;
      this.log(`FAIL ${name}: ${describe(e)}`);
      if (this.debug) this.debug(e);
      return false;
    }
  }
}

async function collectPages(pager, settings) {
  const pages = [];
  for await (const page of pager.byPage(settings)) pages.push(page);
  return pages;
}

/**
 * Runs every step against `endpoint` and resolves to `{ passed, failed }`.
 *
 * @param {object} o
 * @param {object} o.sdk `{ ChatClient, CommunicationIdentityClient,
 *   AzureCommunicationTokenCredential, AzureKeyCredential }` from the official packages
 * @param {string} o.endpoint the chat endpoint
 * @param {string} o.connectionString `endpoint=...;accesskey=...` for the identity client
 * @param {(a: {bearer: boolean}) => object} o.clientOptions each client's options
 *   (`bearer`: a chat client, which authenticates with a bearer token)
 * @param {(line: string) => void} o.log where each result line goes
 * @param {((e: unknown) => void) | undefined} o.debug gets each failed step's error
 */
export async function runQuickstart({ sdk, endpoint, connectionString: cs, clientOptions, log, debug }) {
  const { ChatClient, CommunicationIdentityClient, AzureCommunicationTokenCredential, AzureKeyCredential } = sdk;
  const flow = new Flow(log, debug);
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
    log("FAIL setup: no user token");
    log(`${flow.passed} passed, ${flow.failed + 1} failed`);
    return { passed: flow.passed, failed: flow.failed + 1 };
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
  log(`${flow.passed} passed, ${flow.failed} failed`);
  return { passed: flow.passed, failed: flow.failed };
}

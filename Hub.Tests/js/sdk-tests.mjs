// Tests of the JS SDK (wwwroot/js/collab-client.js) against a running Hub.Server, under node with the real
// @microsoft/signalr client. Run by Hub.Tests/JsSdkTests.cs; by hand:
//
//   node sdk-tests.mjs http://127.0.0.1:PORT/hubs/collab
//   COLLAB_HUB_URL=http://127.0.0.1:PORT/hubs/collab node --test sdk-tests.mjs
//
// Network failures come from a TCP proxy (tcp-proxy.mjs) between a client and the server: it cuts connections,
// refuses new ones, and drops or rewrites chosen SignalR messages from the server (a lost event, a lost answer).
// The server should run with the test settings of Hub.Tests (MaxPageItems 20, JoinMessages 5) so that paging is
// exercised, but the tests pass with the defaults too.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import * as signalR from "@microsoft/signalr";
import { CollabClient, CollabHubError, errorCode, parseHubError } from "../../wwwroot/js/collab-client.js";
import net from "node:net";
import { startProxy } from "./tcp-proxy.mjs";

const hubUrl = process.argv.slice(2).find(a => /^https?:\/\//.test(a)) ?? process.env.COLLAB_HUB_URL;
if (!hubUrl) {
  console.error("usage: node sdk-tests.mjs <hub url, e.g. http://127.0.0.1:5000/hubs/collab> (or set COLLAB_HUB_URL)");
  process.exit(2);
}

// The SDK must not write to the console in normal operation: record every console call it might make.
const consoleCalls = [];
for (const method of ["log", "info", "warn", "error", "debug", "trace"]) {
  const original = console[method].bind(console);
  console[method] = (...args) => {
    consoleCalls.push({ method, text: args.map(String).join(" ") });
    original(...args);
  };
}

const FAST = { baseDelayMs: 20, maxDelayMs: 300 };
const TEST_TIMEOUT = 30_000;
const cleanups = [];

// Each test stops its clients and proxies when it ends (a user may hold only MaxConnectionsPerUser connections).
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await Promise.race([cleanup().catch(() => {}), delay(2_000)]);
  }
});

let userCounter = 0;
/** A user name of its own (rate limits are per user: a test that writes a lot does not slow the next one down). */
function uniqueUser(base) {
  return `${base}-${process.pid}-${++userCounter}`;
}

function delay(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

function roomId(tag) {
  return `sdk-${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls until condition() is truthy; fails with `what` after the timeout. */
async function waitFor(condition, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value;
    try {
      value = condition();
    } catch {
      value = false;
    }
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await delay(10);
  }
}

function makeClient(name, options = {}) {
  const client = new CollabClient({ url: hubUrl, signalR, name, reconnect: FAST, ...options });
  cleanups.push(() => client.stop());
  return client;
}

async function makeProxy() {
  const proxy = await startProxy(hubUrl);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A client behind its own proxy, WebSockets straight (negotiation skipped), so the proxy can read the frames. */
async function proxiedClient(name, options = {}) {
  const proxy = await makeProxy();
  const client = makeClient(name, { url: proxy.hubUrl, skipNegotiation: true, ...options });
  return { proxy, client };
}

/** Records a room's "applied" events and checks that positions follow each other (from = previous to + 1): no gap, no repeat. */
function trackApplied(room) {
  const events = [];
  let last = room.seq;
  const problems = [];
  room.on("applied", e => {
    events.push(e);
    if (e.full ? e.from !== 1 : e.from !== last + 1) {
      problems.push(`applied ${JSON.stringify(e)} does not start right after the previous (${last})`);
    }
    if (!e.full && e.to < e.from) {
      problems.push(`applied ${JSON.stringify(e)} does not move forward`);
    }
    last = e.to;
  });
  return {
    events,
    check() {
      assert.deepEqual(problems, [], problems.join("\n"));
    },
  };
}

function keyVersions(entries) {
  return Object.fromEntries(entries.map(e => [e.key, e.version]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function hubErrorMessage(method, text) {
  return `An unexpected error occurred invoking '${method}' on the server. HubException: ${text}`;
}

// ---------------------------------------------------------------------------------------------------------------

test("error codes are read after the first HubException marker", () => {
  const message = hubErrorMessage("Set", "invalid_argument: mutationId 'x HubException: too_large: y' is bad");
  assert.equal(parseHubError(message).code, "invalid_argument");
  assert.equal(errorCode(new Error(message)), "invalid_argument");
  assert.equal(errorCode(new Error("too_large: value is larger")), "too_large");
  assert.equal(errorCode(new Error("Failed to invoke 'Set' due to an error on the server.")), null);
  assert.equal(errorCode(new Error(hubErrorMessage("X", "Method does not exist."))), null);
  assert.equal(errorCode(new CollabHubError("queue_full", "full")), "queue_full");
});

test("bad arguments give clear errors", { timeout: TEST_TIMEOUT }, async () => {
  assert.throws(() => new CollabClient(), /options object/);
  assert.throws(() => new CollabClient({ signalR }), /option url/);
  assert.throws(() => new CollabClient({ url: hubUrl, signalR: {} }), /no SignalR library/);
  assert.throws(() => new CollabClient({ url: hubUrl, signalR, maxQueuedWrites: 0 }), /maxQueuedWrites/);
  assert.throws(() => new CollabClient({ url: hubUrl, signalR, name: "" }), /name/);

  const idle = makeClient("ada");
  await assert.rejects(idle.join("room"), { code: "not_started" });

  const client = makeClient("ada");
  await client.start();
  await assert.rejects(client.join("bad room!"), { code: "invalid_room" });
  await assert.rejects(client.join(42), { code: "invalid_room" });
  const room = await client.join(roomId("args"));
  await assert.rejects(room.set(7, 1), { code: "invalid_key" });
  await assert.rejects(room.set("", 1), { code: "invalid_key" });
  await assert.rejects(room.set("k"), { code: "invalid_argument" });
  await assert.rejects(room.set("k", 1, { expectedVersion: -1 }), { code: "invalid_argument" });
  await assert.rejects(room.set("k", 1n), { code: "invalid_argument" });
  await assert.rejects(room.post(undefined), { code: "invalid_argument" });
  await assert.rejects(room.signal(undefined), { code: "invalid_argument" });
  assert.throws(() => room.on("change"), /needs a function/);
  assert.equal(client.pending, 0);

  // A message larger than the server takes would close the connection: it fails at once instead.
  const small = makeClient("ada", { maxMessageBytes: 2_000 });
  await small.start();
  const smallRoom = await small.join(room.roomId);
  await assert.rejects(smallRoom.set("big", "é".repeat(1_000)), { code: "too_large" });
  await assert.rejects(smallRoom.post({ text: "x".repeat(5_000) }), { code: "too_large" });
  await assert.rejects(smallRoom.signal("x".repeat(5_000)), { code: "too_large" });
  assert.equal((await smallRoom.set("fits", "é".repeat(500))).applied, true);
  assert.equal(small.pending, 0);
  assert.equal(small.state, "connected");

  // A value larger than maxValueBytes (the server's MaxValueBytes; .NET's option of that name) fails at once and is
  // not queued: a set's value, a post's body, any value of a batch.
  const strict = makeClient("ada", { maxValueBytes: 100 });
  await strict.start();
  const strictRoom = await strict.join(room.roomId);
  await assert.rejects(strictRoom.set("big", "é".repeat(60)), { code: "too_large" });
  await assert.rejects(strictRoom.post({ text: "x".repeat(200) }), { code: "too_large" });
  await assert.rejects(strictRoom.batch([{ op: "set", key: "a", value: 1 }, { op: "set", key: "b", value: "x".repeat(200) }]), { code: "too_large" });
  assert.equal(strictRoom.get("a"), undefined);
  assert.equal((await strictRoom.set("fits", "é".repeat(40))).applied, true);
  assert.equal(strict.pending, 0);
  assert.throws(() => new CollabClient({ url: hubUrl, signalR, maxValueBytes: 0 }), /maxValueBytes/);

  // The server's own refusals are permanent errors with the code: a key with a control character.
  await assert.rejects(room.set("bad\u0001key", 1), err => err instanceof CollabHubError && err.code === "invalid_key"
    && err.message.startsWith("invalid_key:"));
  assert.equal(client.pending, 0);
});

test("two clients: join, set, get, change events, delete", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("basic");
  const ada = makeClient("ada");
  const bob = makeClient("bob", { skipNegotiation: true });
  await Promise.all([ada.start(), bob.start()]);
  assert.equal(ada.state, "connected");
  const a = await ada.join(id);
  const b = await bob.join(id);
  assert.equal(a.roomId, id);
  assert.equal(a.seq, 0);
  assert.deepEqual(a.entries(), []);
  assert.equal(await ada.join(id), a, "joining again gives the same CollabRoom");
  assert.deepEqual(ada.rooms, [a]);

  const bChanges = [];
  b.on("change", c => bChanges.push(c));
  const tracked = trackApplied(b);

  const result = await a.set("title", { text: "Plan" });
  assert.equal(result.applied, true);
  assert.equal(result.conflict, false);
  assert.equal(result.duplicate, false);
  assert.equal(result.seq, 1);
  assert.deepEqual(result.entry.value, { text: "Plan" });

  await waitFor(() => b.get("title"), "bob to see title");
  assert.deepEqual(b.get("title").value, { text: "Plan" });
  assert.equal(b.get("title").version, 1);
  assert.equal(b.get("title").by, "ada");
  assert.equal(b.seq, 1);
  assert.equal(bChanges.length, 1);
  assert.equal(bChanges[0].key, "title");
  assert.equal(bChanges[0].source, "remote");
  assert.equal(bChanges[0].previous, null);

  await b.set("count", 2);
  await waitFor(() => a.get("count")?.value === 2, "ada to see count");
  const del = await a.delete("title");
  assert.equal(del.applied, true);
  assert.equal(del.entry.deleted, true);
  await waitFor(() => b.get("title") === undefined, "bob to see the delete");
  assert.equal(b.has("title"), false);
  assert.equal(bChanges.at(-1).key, "title");
  assert.equal(bChanges.at(-1).entry, null);
  assert.deepEqual(b.entries().map(e => e.key), ["count"]);
  assert.equal(b.seq, 3);
  tracked.check();

  // A third client joining later gets the state in its Join answer.
  const carol = makeClient("carol");
  await carol.start();
  const c = await carol.join(id);
  assert.equal(c.seq, 3);
  assert.deepEqual(keyVersions(c.entries()), keyVersions(b.entries()));
});

test("writes go in order, pipelined, and results come back per write", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("order");
  const ada = makeClient(uniqueUser("ada")); // 60 writes: within the server's write burst (100 by default)
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const tracked = trackApplied(b);
  const pendingCounts = [];
  ada.on("pending", n => pendingCounts.push(n));
  const writes = [];
  for (let i = 1; i <= 60; i++) {
    writes.push(i % 10 === 0 ? a.post({ i }) : a.set("counter", i));
  }
  assert.equal(ada.pending, 60);
  const results = await Promise.all(writes);
  const seqs = results.map(r => r.seq);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "results in call order");
  assert.equal(new Set(seqs).size, 60);
  assert.equal(ada.pending, 0);
  assert.equal(pendingCounts.at(-1), 0);
  assert.equal(Math.max(...pendingCounts), 60);
  await waitFor(() => b.seq === 60, "bob to reach seq 60");
  assert.equal(b.get("counter").value, 59);
  assert.equal(a.get("counter").value, 59);
  tracked.check();
});

test("post and messages: kept by seq, bounded by maxMessages", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("msg");
  const ada = makeClient("ada");
  const bob = makeClient("bob", { maxMessages: 3 });
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const received = [];
  b.on("message", m => received.push(m));

  const posted = [];
  for (let i = 1; i <= 5; i++) {
    posted.push(await a.post({ text: `hello ${i}` }));
  }
  assert.equal(posted[0].duplicate, false);
  assert.equal(posted[0].message.body.text, "hello 1");
  assert.match(posted[0].message.id, /^[0-9a-f]{32}$/);
  await waitFor(() => received.length === 5, "bob to receive 5 messages");
  assert.deepEqual(received.map(m => m.body.text), ["hello 1", "hello 2", "hello 3", "hello 4", "hello 5"]);
  assert.deepEqual(b.messages.map(m => m.seq), posted.slice(2).map(p => p.seq), "bob keeps the last 3");
  await waitFor(() => a.messages.length === 5, "ada to keep all 5");
  assert.deepEqual(a.messages.map(m => m.id), posted.map(p => p.message.id));
});

test("presence: the Join answer's list, then PresenceDelta events, with presenceCount", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("presence");
  const ada = makeClient("ada");
  const bob = makeClient("bob");
  const bob2 = makeClient("bob");
  await Promise.all([ada.start(), bob.start(), bob2.start()]);
  const a = await ada.join(id);
  assert.deepEqual(a.presence.map(p => p.userId), ["ada"]);
  assert.equal(a.presenceCount, 1);
  const seen = [];
  a.on("presence", (p, count) => seen.push([p.map(x => `${x.userId}:${x.connections}`), count]));
  const b = await bob.join(id);
  assert.deepEqual(b.presence.map(p => p.userId), ["ada", "bob"]);
  assert.equal(b.presenceCount, 2);
  await waitFor(() => a.presence.length === 2, "ada to see bob");
  assert.deepEqual(seen.at(-1), [["ada:1", "bob:1"], 2]);
  const b2 = await bob2.join(id);
  await waitFor(() => a.presence.find(p => p.userId === "bob")?.connections === 2, "ada to see bob's second connection");
  assert.equal(a.presenceCount, 2);
  await b2.leave();
  await b.leave();
  await waitFor(() => a.presence.length === 1, "ada to see bob leave");
  assert.deepEqual(a.presence.map(p => p.userId), ["ada"]);
  assert.equal(a.presenceCount, 1);
  assert.deepEqual(seen.at(-1), [["ada:1"], 1]);
  assert.deepEqual(bob.rooms, []);
  await assert.rejects(b.set("k", 1), { code: "not_joined" });
});

// TestSettings.MaxListedPresence in Hub.Tests/Infrastructure/ServerFixture.cs: the test server lists rooms of up to 4 users.
const MAX_LISTED = 4;

test("presence: above MaxListed counted, not listed; back under it, the whole list again", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("crowd");
  const names = ["u1", "u2", "u3", "u4", "u5", "u6"];
  const clients = names.map(name => makeClient(name));
  await Promise.all(clients.map(c => c.start()));
  const first = await clients[0].join(id);
  const rooms = [first];
  for (const client of clients.slice(1)) {
    rooms.push(await client.join(id));
  }
  const last = rooms.at(-1);
  assert.equal(last.presenceCount, names.length);
  assert.deepEqual(last.presence.map(p => p.userId), names.slice(0, MAX_LISTED), "the first MAX_LISTED by userId");
  await waitFor(() => first.presenceCount === names.length, "the first member to count everyone");
  assert.ok(first.presence.length <= MAX_LISTED, "a counted room's deltas carry no list");

  for (const room of rooms.slice(3)) {
    await room.leave();
  }
  await waitFor(() => first.presenceCount === 3, "the count back to 3");
  await waitFor(() => first.presence.length === 3, "the whole list again");
  assert.deepEqual(first.presence.map(p => p.userId), ["u1", "u2", "u3"]);
});

test("signal: reaches the others, not the sender, and is not stored", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("signal");
  const ada = makeClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const atBob = [];
  const atAda = [];
  b.on("signal", s => atBob.push(s));
  a.on("signal", s => atAda.push(s));
  assert.equal(await a.signal({ x: 10, y: 20 }), true);
  await waitFor(() => atBob.length === 1, "bob to get the signal");
  assert.equal(atBob[0].from, "ada");
  assert.deepEqual(atBob[0].payload, { x: 10, y: 20 });
  await delay(100);
  assert.equal(atAda.length, 0);
  assert.equal(a.seq, 0);
  assert.equal(b.seq, 0);
});

test("compare-and-set: a conflict is a result, and the optimistic value rolls back", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("cas");
  const ada = makeClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  await b.set("doc", "bob's");
  await waitFor(() => a.get("doc"), "ada to see doc");

  const changes = [];
  a.on("change", c => changes.push(c));
  const write = a.set("doc", "ada's", { expectedVersion: 0 });
  assert.equal(a.get("doc").value, "ada's", "the view shows the pending value at once");
  assert.equal(a.get("doc").pending, true);
  assert.equal(a.getConfirmed("doc").value, "bob's", "the confirmed replica is apart");
  const result = await write;
  assert.equal(result.applied, false);
  assert.equal(result.conflict, true);
  assert.equal(result.entry.value, "bob's");
  assert.equal(a.get("doc").value, "bob's");
  assert.equal(a.get("doc").pending, undefined);
  assert.deepEqual(changes.map(c => c.source), ["local", "rollback"]);

  // With the right version it applies.
  const ok = await a.set("doc", "ada's", { expectedVersion: a.getConfirmed("doc").version });
  assert.equal(ok.applied, true);
  await waitFor(() => b.get("doc").value === "ada's", "bob to see ada's write");
  // Delete with a stale version conflicts too.
  const stale = await b.delete("doc", { expectedVersion: 1 });
  assert.equal(stale.conflict, true);
  assert.equal(b.get("doc").value, "ada's");
});

test("batch: shown whole at once, applied together by other replicas, all or nothing, queued offline and sent once", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("batch");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  await a.set("n1.text", "hi");
  await waitFor(() => b.seq === 1, "bob at seq 1");

  // What bob's view holds each time it reports a change, and the steps its replica moves by: never half a batch.
  const seen = [];
  b.on("change", () => seen.push([b.get("n1.x")?.value, b.get("n1.y")?.value, b.has("n1.text")]));
  const steps = [];
  b.on("applied", r => steps.push([r.from, r.to]));
  const move = a.batch([{ op: "set", key: "n1.x", value: 10 }, { op: "set", key: "n1.y", value: 20 }, { op: "delete", key: "n1.text" }]);
  assert.deepEqual([a.get("n1.x").value, a.get("n1.y").value, a.has("n1.text")], [10, 20, false], "the view shows the batch whole at once");
  const moved = await move;
  assert.equal(moved.applied, true);
  assert.deepEqual(moved.entries.map(e => [e.key, e.version, e.batch.from, e.batch.to]), [["n1.x", 2, 2, 4], ["n1.y", 3, 2, 4], ["n1.text", 4, 2, 4]]);
  await waitFor(() => b.seq === 4, "bob at seq 4");
  assert.deepEqual(seen, [[10, 20, false], [10, 20, false], [10, 20, false]]);
  assert.deepEqual(steps, [[2, 4]], "positions 2 to 4, both included");

  // Offline, two batches queue; the second's compare-and-set fails once the first is in: it rolls every key back.
  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada to be reconnecting");
  const x = a.getConfirmed("n1.x").version;
  const first = a.batch([{ op: "set", key: "n1.x", value: 5, expectedVersion: x }, { op: "set", key: "n1.y", value: 6 }]);
  const second = a.batch([{ op: "set", key: "n1.x", value: 7, expectedVersion: x }, { op: "set", key: "n1.y", value: 8 }]);
  assert.deepEqual([a.get("n1.x").value, a.get("n1.y").value], [7, 8]);
  proxy.unblock();
  const [applied, refused] = await Promise.all([first, second]);
  assert.equal(applied.applied, true);
  assert.equal(refused.conflict, true);
  assert.deepEqual(refused.entries.map(e => e.key), ["n1.x"]);
  await waitFor(() => a.seq === applied.seq && b.seq === applied.seq, "both replicas at the batch's seq");
  assert.deepEqual([a.get("n1.x").value, a.get("n1.y").value], [5, 6]);
  assert.deepEqual([b.get("n1.x").value, b.get("n1.y").value], [5, 6]);
  assert.equal(ada.pending, 0);

  // Refused at once on the client: no operations, a key twice, an unknown op.
  await assert.rejects(a.batch([]), { code: "invalid_argument" });
  await assert.rejects(a.batch([{ op: "set", key: "k", value: 1 }, { op: "delete", key: "k" }]), { code: "invalid_argument" });
  await assert.rejects(a.batch([{ op: "merge", key: "k", value: 1 }]), { code: "invalid_argument" });
});

test("optimistic view: pending values at once, confirmed on ack, rolled back on error; optimistic:false", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("optimistic");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);

  const changes = [];
  a.on("change", c => changes.push(`${c.key}:${c.source}:${c.entry?.value ?? "-"}`));
  const write = a.set("x", 1);
  assert.deepEqual(a.get("x").value, 1);
  assert.equal(a.get("x").pending, true);
  assert.deepEqual(a.confirmedEntries(), []);
  await write;
  await waitFor(() => a.getConfirmed("x"), "ada's confirmed replica to get x");
  assert.equal(a.get("x").pending, undefined);
  assert.equal(a.get("x").version, 1);

  // Offline: the pending layer shows queued writes; the confirmed replica does not.
  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada to be reconnecting");
  const queued = [a.set("x", 2), a.set("y", "new"), a.delete("x")];
  assert.equal(a.get("x"), undefined, "the queued delete shows");
  assert.equal(a.get("y").value, "new");
  assert.deepEqual(a.confirmedEntries().map(e => e.key), ["x"]);
  assert.deepEqual(a.entries().map(e => e.key), ["y"]);
  proxy.unblock();
  const results = await Promise.all(queued);
  assert.ok(results.every(r => r.applied));
  await waitFor(() => a.seq === 4, "ada to reach seq 4");
  assert.deepEqual(keyVersions(a.entries()), keyVersions(a.confirmedEntries()));
  assert.deepEqual(a.entries().map(e => e.key), ["y"]);

  // An error rolls back.
  changes.length = 0;
  await assert.rejects(a.set("bad\u0002", 1), { code: "invalid_key" });
  assert.deepEqual(changes, ["bad\u0002:local:1", "bad\u0002:rollback:-"]);
  assert.equal(a.get("bad\u0002"), undefined);

  // optimistic: false shows only confirmed values.
  const carol = makeClient("carol", { optimistic: false });
  await carol.start();
  const c = await carol.join(id);
  const w = c.set("z", 1);
  assert.equal(c.get("z"), undefined);
  await w;
  await waitFor(() => c.get("z")?.value === 1, "carol to see z once confirmed");
  await waitFor(() => b.get("z"), "bob to see z");
});

test("state events, and a first start that fails keeps retrying", { timeout: TEST_TIMEOUT }, async () => {
  const proxy = await makeProxy();
  proxy.block();
  const ada = makeClient("ada", { url: proxy.hubUrl });
  const states = [];
  ada.on("state", s => states.push(s));
  assert.equal(ada.state, "disconnected");
  let started = false;
  const start = ada.start().then(() => {
    started = true;
  });
  await waitFor(() => proxy.stats.refused >= 3, "three refused attempts");
  assert.equal(started, false, "start() waits for the connection");
  assert.equal(ada.state, "reconnecting");
  proxy.unblock();
  await start;
  assert.equal(ada.state, "connected");
  const room = await ada.join(roomId("state"));

  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "reconnecting after the cut");
  const write = room.set("k", "v");
  assert.equal(ada.pending, 1);
  proxy.unblock();
  await waitFor(() => ada.state === "connected", "connected again");
  assert.equal((await write).applied, true);
  await ada.stop();
  assert.equal(ada.state, "disconnected");
  // Each failed attempt says "reconnecting" again (with its reason); the changes of state are these.
  assert.deepEqual(states.filter((s, i) => s !== states[i - 1]),
    ["connecting", "reconnecting", "connected", "reconnecting", "connected", "disconnected"]);

  // A capped retry policy gives up: start() rejects and the state is disconnected.
  proxy.block();
  const capped = makeClient("ada", { url: proxy.hubUrl, reconnect: { ...FAST, maxAttempts: 2 } });
  await assert.rejects(capped.start());
  assert.equal(capped.state, "disconnected");
  // stop() before connecting rejects start().
  const stopped = makeClient("ada", { url: proxy.hubUrl });
  const pending = stopped.start();
  await delay(50);
  await stopped.stop();
  await assert.rejects(pending, { code: "stopped" });
});

test("queue while disconnected, then exactly once, in order, after the reconnect", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("offline");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const bTracked = trackApplied(b);
  const aTracked = trackApplied(a);
  await a.set("before", 0);

  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada reconnecting");
  const writes = [];
  for (let i = 0; i < 25; i++) {
    writes.push(i % 5 === 4 ? a.post(`m${i}`) : a.set(`k${i % 3}`, i));
  }
  assert.equal(ada.pending, 25);
  await delay(200);
  assert.equal(b.seq, 1, "nothing went while the network was down");
  proxy.unblock();
  const results = await Promise.all(writes);
  assert.equal(ada.pending, 0);
  const seqs = results.map(r => r.seq);
  assert.deepEqual(seqs, Array.from({ length: 25 }, (_, i) => i + 2), "applied once each, in order");
  assert.ok(results.every(r => !r.duplicate));
  await waitFor(() => b.seq === 26 && a.seq === 26, "both at seq 26");
  await delay(100);
  assert.equal(b.seq, 26, "no write applied twice");
  assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
  assert.equal(b.messages.length, 5);
  bTracked.check();
  aTracked.check();
});

test("cuts in the middle of a pipelined burst (and rate limits): every write settles once, none fails, the last write of a key wins", { timeout: 60_000 }, async () => {
  const id = roomId("burst");
  const { proxy, client: ada } = await proxiedClient(uniqueUser("ada"));
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const tracked = trackApplied(b);
  const lastValue = new Map();
  const writes = [];
  let answered = 0;
  const write = i => {
    const key = `k${i % 7}`;
    let promise;
    if (i % 4 === 3) {
      promise = a.post({ i });
    } else {
      lastValue.set(key, i);
      promise = a.set(key, i);
    }
    writes.push(promise.then(r => {
      answered++;
      return r;
    }));
  };
  // 400 writes at once: more than the server's write burst (100 by default), so some are refused with
  // rate_limited and retried, while three cuts lose answers and sends.
  for (let i = 0; i < 400; i++) {
    write(i);
  }
  for (const at of [20, 120, 250]) {
    await waitFor(() => answered >= at, `${at} answers`, 30_000);
    proxy.cut();
  }
  // Then keep writing, about one write a millisecond, across more cuts (plain and graceful: some sends meet a socket
  // that is already closing while SignalR still reports Connected).
  for (let round = 0; round < 4; round++) {
    await waitFor(() => ada.state === "connected", "ada connected", 30_000);
    const until = Date.now() + 40;
    let cut = false;
    while (Date.now() < until) {
      write(writes.length);
      if (!cut && Date.now() > until - 30) {
        cut = true;
        proxy.cut({ graceful: round % 2 === 0 });
      }
      await delay(1);
    }
  }
  const settled = await Promise.allSettled(writes);
  const failures = settled.filter(r => r.status === "rejected").map(r => `${r.reason?.code}: ${r.reason?.message}`);
  assert.deepEqual(failures, []);
  const results = settled.map(r => r.value);
  const applied = results.filter(r => !r.superseded);
  const seqs = applied.map(r => r.seq);
  assert.equal(new Set(seqs).size, seqs.length, "one seq per applied write");
  await waitFor(() => ada.pending === 0 && b.seq === a.seq && b.seq >= Math.max(...seqs), "everything applied", 30_000);
  await delay(100);
  assert.equal(b.seq, seqs.length, "every write applied exactly once (superseded ones not at all)");
  for (const [key, value] of lastValue) {
    assert.equal(b.get(key).value, value, `${key} holds the last value ada wrote`);
  }
  assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
  tracked.check();
});

test("a write refused for a while does not overwrite a later write of the same key that overtook it", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("supersede");
  const ada = makeClient("ada");
  await ada.start();
  const a = await ada.join(id);
  const conn = ada.connection;
  const invoke = conn.invoke.bind(conn);
  const sent = [];
  conn.invoke = (method, ...args) => {
    if (method === "Set") {
      sent.push(args[0].value);
      if (args[0].value === "old" && sent.filter(v => v === "old").length === 1) {
        // Refused (as a full bucket refuses): the next write, already on the wire, is applied meanwhile.
        return new Promise((_, reject) => setTimeout(() => reject(new Error(hubErrorMessage("Set", "rate_limited: slow down"))), 50));
      }
    }
    return invoke(method, ...args);
  };
  const older = a.set("k", "old");
  const newer = a.set("k", "new");
  const other = a.set("j", "other");
  const [olderResult, newerResult, otherResult] = await Promise.all([older, newer, other]);
  assert.equal(newerResult.applied, true);
  assert.equal(olderResult.applied, false);
  assert.equal(olderResult.superseded, true, "the older write gives way to the newer one");
  assert.equal(olderResult.seq, newerResult.seq);
  assert.equal(otherResult.applied, true);
  assert.deepEqual(sent, ["old", "new", "other"], "the older write was not sent again");
  await waitFor(() => a.seq === 2, "ada at 2");
  assert.equal(a.get("k").value, "new");
  assert.equal(ada.pending, 0);
});

test("a write whose answer was lost is sent again with its mutationId and applied once (duplicate result)", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("lost-answer");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const tracked = trackApplied(a);

  const undrop = proxy.drop(m => m.type === 3); // every completion (answer) to ada
  const write = a.set("once", "value");
  const post = a.post("once");
  await waitFor(() => b.seq === 2, "the server to commit both");
  assert.equal(ada.pending, 2, "no answer reached ada");
  undrop();
  proxy.cut();
  const [setResult, postResult] = await Promise.all([write, post]);
  assert.equal(setResult.duplicate, true);
  assert.equal(setResult.seq, 1);
  assert.equal(postResult.duplicate, true);
  assert.equal(postResult.seq, 2);
  await delay(150);
  assert.equal(b.seq, 2, "applied once");
  assert.equal(a.seq, 2);
  assert.equal(a.messages.length, 1);
  tracked.check();
});

test("a change handler attached when join() resolves sees only later changes, every time", { timeout: TEST_TIMEOUT }, async () => {
  const ada = makeClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  for (let run = 0; run < 20; run++) {
    const id = roomId(`attach-${run}`);
    const b = await bob.join(id);
    await b.batch(Array.from({ length: 20 }, (_, i) => ({ op: "set", key: `k${i}`, value: i })));
    const a = await ada.join(id);
    const seen = [];
    a.on("change", e => seen.push([e.key, e.source]));
    assert.equal(a.entries().length, 20);
    await b.set("later", run);
    await waitFor(() => seen.length > 0, `run ${run}: the later change`);
    await delay(20);
    assert.deepEqual(seen, [["later", "remote"]]);
    await Promise.all([a.leave(), b.leave()]);
  }
});

test("the app's own mutationId: a post or set made again with it is applied once", { timeout: TEST_TIMEOUT }, async () => {
  const ada = makeClient("ada");
  await ada.start();
  const a = await ada.join(roomId("own-mutation-id"));
  const first = await a.post("hello", { mutationId: "app-post-1" });
  const again = await a.post("hello", { mutationId: "app-post-1" });
  assert.deepEqual([first.duplicate, again.duplicate, again.seq], [false, true, first.seq]);
  const set = await a.set("k", 1, { mutationId: "app-set-1" });
  const setAgain = await a.set("k", 1, { mutationId: "app-set-1" });
  assert.deepEqual([set.applied, setAgain.duplicate, setAgain.seq], [true, true, set.seq]);
  await assert.rejects(a.post("x", { mutationId: 7 }), { code: "invalid_argument" });
  await ada.stop();
});

test("while the server is unreachable, each failed attempt's state event says why", { timeout: TEST_TIMEOUT }, async () => {
  // A port nothing listens on: bind one, then close it.
  const server = net.createServer();
  await new Promise(resolve => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise(resolve => server.close(resolve));
  const ada = makeClient("ada", { url: `http://127.0.0.1:${port}/hubs/collab` });
  const reasons = [];
  ada.on("state", (state, detail) => reasons.push([state, detail.error?.message ?? null]));
  const start = ada.start();
  await waitFor(() => reasons.filter(([state]) => state === "reconnecting").length >= 2, "two failed attempts reported");
  await ada.stop();
  await assert.rejects(start, { code: "stopped" });
  assert.deepEqual(reasons[0], ["connecting", null]);
  for (const [state, reason] of reasons.slice(1, 3)) {
    assert.equal(state, "reconnecting");
    // @microsoft/signalr words a refused connection as a failed negotiation fetch (a browser's fetch says no more).
    assert.match(reason, /negotiation.*fetch failed|refused/i);
  }
});

test("temporary errors are retried with the same mutationId; permanent ones fail", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("retry");
  const ada = makeClient("ada");
  await ada.start();
  const a = await ada.join(id);
  // The first Set of "t" commits, but its answer is replaced by "unavailable": the retry must come back as a
  // duplicate with the first seq. A Set of "f" is refused with "forbidden", which is for good.
  const conn = ada.connection;
  const invoke = conn.invoke.bind(conn);
  const ids = [];
  conn.invoke = (method, ...args) => {
    if (method === "Set" && args[0]?.key === "t") {
      ids.push(args[0].mutationId);
      if (ids.length === 1) {
        const unavailable = () => {
          throw new Error(hubErrorMessage("Set", "unavailable: the store is busy"));
        };
        return invoke(method, ...args).then(unavailable, unavailable);
      }
    }
    if (method === "Set" && args[0]?.key === "f") {
      return Promise.reject(new Error(hubErrorMessage("Set", "forbidden: not yours")));
    }
    return invoke(method, ...args);
  };
  const errors = [];
  a.on("error", e => errors.push(e.code));
  const result = await a.set("t", 1);
  assert.equal(ids.length, 2, "sent twice");
  assert.equal(ids[0], ids[1], "with the same mutationId");
  assert.equal(result.duplicate, true);
  assert.equal(result.seq, 1);
  await assert.rejects(a.set("f", 1), err => err.code === "forbidden" && err.message === "forbidden: not yours");
  assert.equal(a.get("f"), undefined);
  assert.equal(ada.pending, 0);
  assert.deepEqual(errors, ["forbidden"]);
  await waitFor(() => a.seq === 1, "ada at 1");
});

test("a send that fails in the transport (socket closing, SignalR still 'Connected') is a lost connection, not an error", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("send-fail");
  const ada = makeClient("ada");
  await ada.start();
  const a = await ada.join(id);
  const first = ada.connection;
  const invoke = first.invoke.bind(first);
  let failed = 0;
  first.invoke = (method, ...args) => {
    if (method === "Set" && failed === 0) {
      failed++;
      // What @microsoft/signalr's WebSocketTransport.send returns when the socket is no longer OPEN.
      return Promise.reject("WebSocket is not in the OPEN state");
    }
    return invoke(method, ...args);
  };
  const states = [];
  ada.on("state", s => states.push(s));
  const errors = [];
  a.on("error", e => errors.push(e.code));
  const result = await a.set("k", 1);
  assert.equal(failed, 1);
  assert.equal(result.applied, true);
  assert.equal(result.seq, 1);
  assert.deepEqual(errors, []);
  assert.notEqual(ada.connection, first, "the SDK dropped the broken connection and made a new one");
  assert.deepEqual(states, ["reconnecting", "connected"]);
  await waitFor(() => a.seq === 1, "ada at 1");
});

test("queue_full: a write beyond maxQueuedWrites fails at once", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("full");
  const { proxy, client: ada } = await proxiedClient("ada", { maxQueuedWrites: 3 });
  await ada.start();
  const a = await ada.join(id);
  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada reconnecting");
  const pendingEvents = [];
  ada.on("pending", n => pendingEvents.push(n));
  const writes = [a.set("a", 1), a.delete("b"), a.post("c")];
  const t0 = Date.now();
  await assert.rejects(a.set("d", 4), err => err instanceof CollabHubError && err.code === "queue_full");
  assert.ok(Date.now() - t0 < 100, "rejected at once");
  assert.equal(a.get("d"), undefined, "nothing queued, nothing shown");
  assert.equal(ada.pending, 3);
  assert.deepEqual(pendingEvents, [1, 2, 3]);
  proxy.unblock();
  const results = await Promise.all(writes);
  assert.equal(results[0].applied, true);
  assert.equal(results[1].applied, false, "deleting an absent key changes nothing");
  assert.equal(results[2].seq, 2);
  assert.equal(ada.pending, 0);
  assert.equal((await a.set("d", 4)).applied, true);
});

test("gap fill: a lost event is found by the next one and filled with Sync, one fill at a time", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("gap");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const tracked = trackApplied(a);

  // Count ada's Sync calls and how many run at once.
  const conn = ada.connection;
  const invoke = conn.invoke.bind(conn);
  let syncs = 0;
  let running = 0;
  let maxRunning = 0;
  conn.invoke = async (method, ...args) => {
    if (method !== "Sync") {
      return invoke(method, ...args);
    }
    syncs++;
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      return await invoke(method, ...args);
    } finally {
      running--;
    }
  };

  const undrop = proxy.drop(m => m.type === 1 && ((m.target === "Changed" && m.arguments?.[1]?.key === "lost")
    || (m.target === "Posted" && m.arguments?.[1]?.body === "lost")));
  await b.set("lost", 1);
  await b.post("lost");
  await delay(100);
  assert.equal(a.seq, 0, "ada missed both");
  assert.equal(a.get("lost"), undefined);
  for (let i = 0; i < 5; i++) {
    await b.set(`after${i}`, i);
  }
  await waitFor(() => a.seq === 7, "ada to catch up to 7");
  undrop();
  assert.equal(a.getConfirmed("lost").value, 1);
  assert.deepEqual(a.messages.map(m => m.body), ["lost"]);
  assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
  assert.ok(syncs >= 1, "a Sync filled the gap");
  assert.equal(maxRunning, 1, "one fill at a time");
  assert.ok(tracked.events.some(e => e.source === "sync"), "positions came from a Sync");
  assert.ok(proxy.stats.dropped >= 2);
  tracked.check();
});

test("gap fill: a write answer above the replica's seq triggers a fill", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("gap-own");
  const { proxy, client: ada } = await proxiedClient("ada");
  await ada.start();
  const a = await ada.join(id);
  const tracked = trackApplied(a);
  proxy.drop(m => m.type === 1 && m.target === "Changed" && m.arguments?.[1]?.key === "own");
  const result = await a.set("own", "mine");
  assert.equal(result.seq, 1);
  await waitFor(() => a.getConfirmed("own"), "the fill to bring ada's own write");
  assert.equal(a.seq, 1);
  assert.equal(tracked.events.length, 1);
  assert.equal(tracked.events[0].source, "sync");
  tracked.check();
});

test("reconnect: rejoin with sinceSeq brings the delta (paged), tombstones included, no gap, no repeat", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("delta");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  await b.set("keep", 1);
  await b.set("gone", 1);
  await waitFor(() => a.seq === 2, "ada at 2");
  const tracked = trackApplied(a);
  const messages = [];
  a.on("message", m => messages.push(m.body));

  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada reconnecting");
  await b.delete("gone");
  for (let i = 0; i < 45; i++) {
    await (i % 9 === 0 ? b.post(`p${i}`) : b.set(`k${i % 30}`, i));
  }
  assert.equal(a.seq, 2);
  proxy.unblock();
  await waitFor(() => ada.state === "connected" && a.seq === b.seq, "ada to catch up");
  assert.equal(a.seq, 48);
  assert.equal(a.get("gone"), undefined, "the tombstone removed the key");
  assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
  assert.deepEqual(messages, ["p0", "p9", "p18", "p27", "p36"]);
  assert.ok(tracked.events.every(e => e.source === "join"), JSON.stringify(tracked.events));
  assert.equal(tracked.events[0].from, 3, "the delta starts right after the position ada had");
  tracked.check();
});

test("join pages through a full snapshot larger than one page", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("pages");
  const bob = makeClient("bob");
  await bob.start();
  const b = await bob.join(id);
  const writes = [];
  for (let i = 0; i < 45; i++) {
    writes.push(b.set(`key${String(i).padStart(2, "0")}`, { i }));
  }
  await Promise.all(writes);
  const carol = makeClient("carol");
  await carol.start();
  const c = await carol.join(id);
  assert.equal(c.seq, 45);
  assert.equal(c.entries().length, 45);
  assert.deepEqual(keyVersions(c.entries()), keyVersions(b.entries()));
});

test("events that arrive while the Join answer is outstanding are held, then applied in order", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("hold");
  const ada = makeClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const b = await bob.join(id);
  await b.set("early", 0);
  // Ada's Join answer is held back while bob writes: bob's events reach ada before it.
  const conn = ada.connection;
  const invoke = conn.invoke.bind(conn);
  let joinAnswered = false;
  let release;
  const released = new Promise(resolve => {
    release = resolve;
  });
  conn.invoke = async (method, ...args) => {
    const answer = await invoke(method, ...args);
    if (method === "Join") {
      await released;
      joinAnswered = true;
    }
    return answer;
  };
  const joining = ada.join(id);
  const a = ada.room(id);
  const tracked = trackApplied(a);
  const remoteChanges = [];
  a.on("change", c => remoteChanges.push(c.source));
  await waitFor(() => b.presence.length === 2, "ada to be in the room");
  for (let i = 0; i < 5; i++) {
    await b.set(`during${i}`, i);
  }
  await b.post("during");
  await delay(100);
  assert.equal(a.seq, 0, "nothing applied before the Join answer");
  assert.equal(joinAnswered, false);
  release();
  assert.equal(await joining, a);
  await waitFor(() => a.seq === 7, "ada to apply the held events");
  assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
  assert.deepEqual(a.messages.map(m => m.body), ["during"]);
  assert.equal(tracked.events[0].source, "join");
  tracked.check();
});

test("leave sends the room's queued writes first; discardPending cancels queued writes", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("leave");
  const { proxy, client: ada } = await proxiedClient("ada");
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada reconnecting");
  const write = a.set("last", "word");
  await a.leave();
  assert.deepEqual(ada.rooms, []);
  await assert.rejects(a.set("more", 1), { code: "not_joined" });
  proxy.unblock();
  assert.equal((await write).applied, true);
  await waitFor(() => b.get("last") && b.presence.length === 1, "bob to get the write, then see ada leave");

  // discardPending: queued writes fail with "cancelled" and their optimistic values go.
  const again = await ada.join(id);
  proxy.block();
  proxy.cut();
  await waitFor(() => ada.state === "reconnecting", "ada reconnecting");
  const dropped = [again.set("x", 1), again.post("y")];
  assert.equal(again.get("x").value, 1);
  ada.discardPending();
  assert.equal(ada.pending, 0);
  assert.equal(again.get("x"), undefined);
  for (const p of dropped) {
    await assert.rejects(p, { code: "cancelled" });
  }
  proxy.unblock();
  await waitFor(() => ada.state === "connected", "ada connected");
  await delay(100);
  assert.equal(b.get("x"), undefined);
});

test("AccessChanged: the role is kept; with none the room is dropped, its writes fail, and it is not rejoined", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("access");
  const { proxy, client: ada } = await proxiedClient("ada", { maxInFlight: 1 });
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  assert.equal(a.role, "editor", "open rooms make everyone an editor");
  await waitFor(() => b.presence.length === 2, "bob to see ada");
  const access = [];
  a.on("access", e => access.push(e.role));
  const errors = [];
  a.on("error", e => errors.push(e.code));

  // A role change (as an owner's Grant in a private room sends it).
  assert.equal(proxy.inject({ type: 1, target: "AccessChanged", arguments: [id, { role: "viewer" }] }), 1);
  await waitFor(() => a.role === "viewer", "ada's role to change");
  assert.deepEqual(access, ["viewer"]);

  // Revoked while one write is on the wire (its answer held back) and one waits behind it (window of one).
  const undrop = proxy.drop(m => m.type === 3);
  const onTheWire = a.set("k1", 1);
  const waiting = a.set("k2", 2);
  await waitFor(() => b.get("k1"), "the first write to be applied");
  assert.equal(proxy.inject({ type: 1, target: "AccessChanged", arguments: [id, { role: "none" }] }), 1);
  await assert.rejects(waiting, { code: "forbidden" });
  assert.deepEqual(access, ["viewer", "none"]);
  assert.equal(a.joined, false);
  assert.deepEqual(ada.rooms, []);
  await assert.rejects(a.set("k3", 3), { code: "not_joined" });
  // The write on the wire lost its answer with the connection: it cannot be sent again without the room.
  undrop();
  proxy.cut();
  await assert.rejects(onTheWire, err => err.code === "forbidden" && /may or may not have been applied/.test(err.message));
  // After the reconnect the room is not joined again.
  await waitFor(() => ada.state === "connected", "ada connected again");
  await waitFor(() => b.presence.length === 1, "ada to be gone from presence");
  await delay(200);
  assert.deepEqual(b.presence.map(p => p.userId), ["bob"]);
  assert.equal(ada.pending, 0);
  assert.ok(errors.includes("forbidden"));
});

test("persisted queue: writes survive a reload (new client, same storage) and are applied once", { timeout: TEST_TIMEOUT }, async () => {
  const id = roomId("persist");
  const store = new Map();
  const storage = {
    getItem: k => (store.has(k) ? store.get(k) : null),
    setItem: (k, v) => store.set(k, String(v)),
    removeItem: k => store.delete(k),
  };
  const { proxy, client: first } = await proxiedClient("ada", { storageKey: "collab-queue", storage });
  const bob = makeClient("bob");
  await Promise.all([first.start(), bob.start()]);
  const a = await first.join(id);
  const b = await bob.join(id);

  // The first write reaches the server but its answer is lost; the others never leave.
  proxy.drop(m => m.type === 3);
  a.set("sent", "yes");
  await waitFor(() => b.seq === 1, "the server to commit the first write");
  proxy.block();
  proxy.cut();
  a.set("queued", 2);
  a.post("offline hello");
  await Promise.resolve(); // the queue is stored in a microtask (once per burst of writes)
  const saved = JSON.parse(store.get("collab-queue"));
  assert.deepEqual(saved.writes.map(w => w.op), ["Set", "Set", "Post"]);
  await first.stop(); // the page goes away

  const second = makeClient("ada", { storageKey: "collab-queue", storage });
  assert.equal(second.pending, 3, "restored at construction");
  const settled = [];
  second.on("settled", s => settled.push(s));
  await second.start();
  await waitFor(() => settled.length === 3, "the restored writes to be answered");
  // Answers of writes in one commit may come back in any order; their seqs show the order they committed in.
  const committed = [...settled].sort((x, y) => x.result.seq - y.result.seq);
  assert.deepEqual(committed.map(s => s.mutationId), saved.writes.map(w => w.mutationId), "same ids, committed in the same order");
  assert.equal(committed[0].result.duplicate, true, "the write that had gone is not applied again");
  assert.equal(committed[1].result.applied, true);
  assert.equal(committed[2].result.seq, 3);
  assert.equal(store.has("collab-queue"), false, "the stored queue is empty again");
  await waitFor(() => b.seq === 3, "bob at 3");
  await delay(100);
  assert.equal(b.seq, 3);
  assert.equal(b.get("queued").value, 2);
  assert.deepEqual(b.messages.map(m => m.body), ["offline hello"]);
  // The app can join the room the restored writes kept joined.
  const again = await second.join(id);
  assert.equal(again.get("sent").value, "yes");
  assert.equal(second.pending, 0);
});

test("statefulReconnect: the connection resumes after a cut without losing anything", { timeout: TEST_TIMEOUT }, async () => {
  assert.throws(() => new CollabClient({ url: hubUrl, signalR, statefulReconnect: true, skipNegotiation: true }), /negotiation/);
  const id = roomId("stateful");
  // Stateful reconnect is agreed in negotiate: no skipNegotiation here (the proxy passes negotiate through).
  const { proxy, client: ada } = await proxiedClient("ada", { statefulReconnect: true, skipNegotiation: false });
  const bob = makeClient("bob");
  await Promise.all([ada.start(), bob.start()]);
  const a = await ada.join(id);
  const b = await bob.join(id);
  const states = [];
  ada.on("state", s => states.push(s));
  const tracked = trackApplied(a);
  const connection = ada.connection;
  const connectionId = connection.connectionId;
  await a.set("one", 1);
  proxy.cut();
  const writes = [a.set("two", 2), b.set("three", 3)];
  await Promise.all(writes);
  await waitFor(() => a.seq === 3 && b.seq === 3, "both at 3");
  assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
  assert.equal(ada.state, "connected");
  assert.deepEqual(states, [], "SignalR resumed the same connection: the SDK never saw it drop");
  assert.equal(ada.connection, connection);
  assert.equal(ada.connection.connectionId, connectionId);
  assert.ok(proxy.stats.cut >= 1);
  tracked.check();
});

// The SDK on SignalR's other transports: negotiated, with only one transport allowed, so that nothing falls back.
for (const [label, transport] of [["Long Polling", "LongPolling"], ["Server-Sent Events", "ServerSentEvents"]]) {
  test(`${label}: live changes both ways, then a cut: writes queued meanwhile go once, in order, and the replica catches up`, { timeout: TEST_TIMEOUT }, async () => {
    const id = roomId(transport);
    const { proxy, client: ada } = await proxiedClient(uniqueUser("ada"), { skipNegotiation: false, transport: signalR.HttpTransportType[transport] });
    const bob = makeClient(uniqueUser("bob"), { skipNegotiation: true });
    await Promise.all([ada.start(), bob.start()]);
    assert.equal(ada.state, "connected");
    const a = await ada.join(id);
    const b = await bob.join(id);
    const aTracked = trackApplied(a);
    const bTracked = trackApplied(b);

    assert.equal((await a.set("from-ada", 1)).seq, 1);
    assert.equal((await b.set("from-bob", 2)).seq, 2);
    await waitFor(() => a.get("from-bob")?.value === 2 && b.get("from-ada")?.value === 1, "each to see the other's change");

    proxy.block();
    proxy.cut();
    await waitFor(() => ada.state === "reconnecting", "ada reconnecting");
    const writes = [a.set("k", "offline 1"), a.post("posted offline"), a.set("k", "offline 2")];
    assert.equal(ada.pending, 3);
    assert.equal((await b.set("while-cut", true)).seq, 3);
    proxy.unblock();

    const results = await Promise.all(writes);
    assert.deepEqual(results.map(r => r.seq), [4, 5, 6], "applied once each, in order, after bob's write");
    assert.ok(results.every(r => !r.duplicate));
    await waitFor(() => a.seq === 6 && b.seq === 6, "both at seq 6");
    assert.equal(a.get("while-cut")?.value, true, "ada caught up on what she missed");
    assert.equal(a.get("k")?.value, "offline 2");
    assert.deepEqual(keyVersions(a.confirmedEntries()), keyVersions(b.confirmedEntries()));
    assert.deepEqual(a.messages.map(m => m.body), ["posted offline"]);
    aTracked.check();
    bTracked.check();
  });
}

test("the SDK wrote nothing to the console", () => {
  assert.deepEqual(consoleCalls, []);
});

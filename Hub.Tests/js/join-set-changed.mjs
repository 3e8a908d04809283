// Drives a running Hub.Server with the real @microsoft/signalr JS client, as a browser app would.
//
//   node join-set-changed.mjs http://127.0.0.1:PORT/hubs/collab
//
// Three connections join one new room: ada and bob connect straight over WebSockets with negotiation skipped
// (the load-balancer set-up), carol uses the client's defaults (negotiate, then the best transport). Ada sets a
// key; bob and carol must each receive Changed(roomId, entry) with that key, value and version. Then a Set on an
// invalid room id must be rejected with an `invalid_room:` error.
//
// Prints one JSON summary line on stdout. Exit code 0 on success; 1 on a failed check (the reason on stderr and in
// the summary); 2 on bad usage; 3 when the whole run takes longer than the hard timeout.

import { isDeepStrictEqual } from "node:util";
import * as signalR from "@microsoft/signalr";

const HARD_TIMEOUT_MS = 20_000;
const EVENT_TIMEOUT_MS = 10_000;

const hubUrl = process.argv[2];
if (!hubUrl || !/^https?:\/\//.test(hubUrl)) {
  console.error("usage: node join-set-changed.mjs <hub url, e.g. http://127.0.0.1:5000/hubs/collab>");
  process.exit(2);
}

const steps = [];
const connections = [];

const hardTimeout = setTimeout(() => {
  fail(`hard timeout: the run took longer than ${HARD_TIMEOUT_MS / 1000} s (steps done: ${steps.join(", ") || "none"})`, 3);
}, HARD_TIMEOUT_MS);

function fail(message, code = 1) {
  console.error(`FAIL: ${message}`);
  console.log(JSON.stringify({ ok: false, error: message, steps }));
  process.exit(code);
}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

function step(name) {
  steps.push(name);
}

function connect(name, options) {
  const connection = new signalR.HubConnectionBuilder()
    .withUrl(`${hubUrl}?name=${encodeURIComponent(name)}`, options)
    .configureLogging(signalR.LogLevel.Warning)
    .build();
  // Every connection in the room receives these; no-op handlers keep the client from warning about them.
  for (const event of ["Changed", "Posted", "Signaled", "PresenceDelta"]) {
    connection.on(event, () => {});
  }
  connections.push(connection);
  return connection;
}

/** Resolves with the first Changed(roomId, entry) for this room and key, or rejects after EVENT_TIMEOUT_MS. */
function nextChanged(connection, who, roomId, key) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => {
      connection.off("Changed", handler);
      reject(new Error(`${who} received no Changed for ${roomId}/${key} within ${EVENT_TIMEOUT_MS / 1000} s; saw ${JSON.stringify(seen)}`));
    }, EVENT_TIMEOUT_MS);
    function handler(changedRoom, entry) {
      seen.push({ roomId: changedRoom, entry });
      if (changedRoom === roomId && entry?.key === key) {
        clearTimeout(timer);
        connection.off("Changed", handler);
        resolve(entry);
      }
    }
    connection.on("Changed", handler);
  });
}

function checkEntry(who, entry, expected) {
  const fields = ["key", "value", "version", "deleted", "by", "at"];
  for (const field of fields) {
    check(entry !== null && typeof entry === "object" && field in entry, `${who}: the entry has no '${field}' field: ${JSON.stringify(entry)}`);
  }
  check(entry.key === expected.key, `${who}: entry.key is ${JSON.stringify(entry.key)}, expected ${JSON.stringify(expected.key)}`);
  check(isDeepStrictEqual(entry.value, expected.value), `${who}: entry.value is ${JSON.stringify(entry.value)}, expected ${JSON.stringify(expected.value)}`);
  check(entry.version === expected.version, `${who}: entry.version is ${entry.version}, expected ${expected.version}`);
  check(entry.deleted === false, `${who}: entry.deleted is ${entry.deleted}, expected false`);
  check(entry.by === expected.by, `${who}: entry.by is ${JSON.stringify(entry.by)}, expected ${JSON.stringify(expected.by)}`);
  check(typeof entry.at === "string" && !Number.isNaN(Date.parse(entry.at)), `${who}: entry.at is not a timestamp: ${JSON.stringify(entry.at)}`);
}

function transportName(connection) {
  // Not public API: only used to report which transport negotiation picked.
  try {
    return connection.connection?.transport?.constructor?.name ?? "unknown";
  } catch {
    return "unknown";
  }
}

async function main() {
  const direct = { skipNegotiation: true, transport: signalR.HttpTransportType.WebSockets };
  const ada = connect("ada", direct);
  const bob = connect("bob", direct);
  const carol = connect("carol", {});

  const start = (who, connection, how) => connection.start().catch(error => {
    throw new Error(`${who} could not connect (${how}) to ${hubUrl}: ${error?.message ?? error}`);
  });
  await Promise.all([
    start("ada", ada, "WebSockets, negotiation skipped"),
    start("bob", bob, "WebSockets, negotiation skipped"),
    start("carol", carol, "default negotiate"),
  ]);
  check(ada.state === signalR.HubConnectionState.Connected, `ada is ${ada.state}, not Connected`);
  step("connected");

  const roomId = `js-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  for (const [who, connection] of [["ada", ada], ["bob", bob], ["carol", carol]]) {
    const joined = await connection.invoke("Join", { roomId });
    check(joined?.roomId === roomId, `${who}: Join returned roomId ${JSON.stringify(joined?.roomId)}, expected ${roomId}`);
    check(joined.full === true && joined.seq === 0, `${who}: Join of a new room should be a full snapshot at seq 0: ${JSON.stringify(joined)}`);
    check(Array.isArray(joined.presence) && joined.presence.some(p => p.userId === who), `${who}: Join's presence does not list ${who}: ${JSON.stringify(joined.presence)}`);
  }
  step("joined");

  const key = "doc.title";
  const value = { text: "Plan ✓", tags: ["a", "b"], n: 1.5, nested: { ok: true, nothing: null } };
  const bobSees = nextChanged(bob, "bob", roomId, key);
  const carolSees = nextChanged(carol, "carol", roomId, key);

  const result = await ada.invoke("Set", { roomId, key, value });
  check(result?.applied === true && result.duplicate === false && result.conflict === false,
    `Set result should be applied, not duplicate, not conflict: ${JSON.stringify(result)}`);
  check(result.seq === 1, `Set result seq is ${result.seq}, expected 1`);
  const expected = { key, value, version: result.seq, by: "ada" };
  checkEntry("ada (WriteResult)", result.entry, expected);
  step("set");

  const [bobEntry, carolEntry] = await Promise.all([bobSees, carolSees]);
  checkEntry("bob (Changed)", bobEntry, expected);
  checkEntry("carol (Changed)", carolEntry, expected);
  step("changed");

  let errorMessage = null;
  try {
    await ada.invoke("Set", { roomId: "bad room!", key: "k", value: 1 });
  } catch (error) {
    errorMessage = String(error?.message ?? error);
  }
  check(errorMessage !== null, "Set on room 'bad room!' succeeded; expected an invalid_room: error");
  check(errorMessage.includes("invalid_room:"), `Set on room 'bad room!' failed with ${JSON.stringify(errorMessage)}; expected it to contain 'invalid_room:'`);
  // SignalR prefixes a HubException's message ("An unexpected error occurred invoking 'Set' on the server.
  // HubException: "); the stable code starts what follows, as Hub.Client's ErrorCodes reads it.
  const marker = errorMessage.indexOf("HubException: ");
  const hubMessage = marker >= 0 ? errorMessage.slice(marker + "HubException: ".length) : errorMessage;
  check(hubMessage.startsWith("invalid_room:"), `the HubException message should start with 'invalid_room:': ${JSON.stringify(errorMessage)}`);
  check(ada.state === signalR.HubConnectionState.Connected, `ada is ${ada.state} after the rejected Set; the error should not close the connection`);
  step("error");

  return {
    ok: true,
    roomId,
    seq: result.seq,
    entry: bobEntry,
    negotiatedTransport: transportName(carol),
    error: errorMessage,
    errorCode: hubMessage.slice(0, hubMessage.indexOf(":")),
    steps,
  };
}

try {
  const summary = await main();
  await Promise.allSettled(connections.map(c => c.stop()));
  clearTimeout(hardTimeout);
  console.log(JSON.stringify(summary));
  process.exit(0);
} catch (error) {
  await Promise.race([
    Promise.allSettled(connections.map(c => c.stop())),
    new Promise(resolve => setTimeout(resolve, 2_000)),
  ]);
  if (error?.stack) {
    console.error(error.stack);
  }
  fail(error?.message ?? String(error));
}

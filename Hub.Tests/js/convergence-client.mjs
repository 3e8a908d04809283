// One JS SDK client (wwwroot/js/collab-client.js over the real @microsoft/signalr) driven by the convergence test
// (Hub.Tests/Convergence/ConvergenceTests.cs) over stdin/stdout, one JSON object per line.
//
//   node convergence-client.mjs
//
// Commands (stdin), answered on stdout:
//   { "cmd": "start", "url", "name", "room", "skipNegotiation"?, "baseDelayMs"?, "maxDelayMs"? }
//        -> { "ev": "started", "seq" }            once connected and the room is joined
//   { "cmd": "write", "id", "op": "Set"|"Delete"|"Post", "key"?, "value"?, "body"?, "cas"? }
//        -> { "ev": "settled", "id", "offline", "expectedVersion"?, "result" } or { ..., "error": { code, message } }
//           (cas: the write carries expectedVersion = the confirmed version of the key now, 0 when absent;
//           offline: the client was not connected when the write was made)
//   { "cmd": "status", "req" }   -> { "ev": "status", "req", "state", "pending", "roomPending", "seq", "unsettled" }
//   { "cmd": "snapshot", "req" } -> { "ev": "snapshot", "req", "seq", "entries", "messages", "applied", "reconnects", ... }
//   { "cmd": "exit" }            -> stops the client and exits 0
// Anything unexpected ends the process with { "ev": "fatal", "message" } and exit code 1.

import readline from "node:readline";
import * as signalR from "@microsoft/signalr";
import { CollabClient, errorCode } from "../../wwwroot/js/collab-client.js";

let client = null;
let room = null;
const unsettled = new Set();
const applied = { count: 0, fulls: 0, last: 0, problems: [] };
const states = [];
let connects = 0;
const errors = {};

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function fatal(error) {
  send({ ev: "fatal", message: String(error?.stack ?? error) });
  process.exit(1);
}

process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);

/** The room's positions must follow each other: each step starts right after the previous one ended. */
function trackApplied(r) {
  applied.last = r.seq;
  r.on("applied", e => {
    applied.count++;
    if (e.full) {
      applied.fulls++;
      applied.problems.push(`unexpected full snapshot ${JSON.stringify(e)} after seq ${applied.last}`);
    } else {
      if (e.from !== applied.last + 1) {
        applied.problems.push(`applied ${JSON.stringify(e)} does not start right after the previous (${applied.last})`);
      }
      if (!(e.to >= e.from)) {
        applied.problems.push(`applied ${JSON.stringify(e)} does not move forward`);
      }
    }
    if (applied.problems.length > 50) {
      applied.problems.length = 50;
    }
    applied.last = e.to;
  });
}

async function start(cmd) {
  client = new CollabClient({
    url: cmd.url,
    signalR,
    name: cmd.name,
    skipNegotiation: !!cmd.skipNegotiation,
    reconnect: { baseDelayMs: cmd.baseDelayMs ?? 100, maxDelayMs: cmd.maxDelayMs ?? 1000 },
    maxMessages: 1_000_000,
    maxQueuedWrites: 100_000,
  });
  client.on("state", state => {
    states.push(state);
    if (state === "connected") {
      connects++;
    }
  });
  client.on("error", error => {
    const code = errorCode(error) ?? "unknown";
    errors[`client:${code}`] = (errors[`client:${code}`] ?? 0) + 1;
  });
  await client.start();
  room = await client.join(cmd.room);
  room.on("error", error => {
    const code = errorCode(error) ?? "unknown";
    errors[code] = (errors[code] ?? 0) + 1;
  });
  trackApplied(room);
  send({ ev: "started", seq: room.seq });
}

function write(cmd) {
  let promise;
  let expectedVersion;
  const offline = client.state !== "connected";
  switch (cmd.op) {
    case "Set":
      if (cmd.cas) {
        expectedVersion = room.getConfirmed(cmd.key)?.version ?? 0;
        promise = room.set(cmd.key, cmd.value, { expectedVersion });
      } else {
        promise = room.set(cmd.key, cmd.value);
      }
      break;
    case "Delete":
      promise = room.delete(cmd.key);
      break;
    case "Post":
      promise = room.post(cmd.body);
      break;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
  unsettled.add(cmd.id);
  promise.then(
    result => {
      unsettled.delete(cmd.id);
      send({ ev: "settled", id: cmd.id, offline, expectedVersion, result });
    },
    error => {
      unsettled.delete(cmd.id);
      send({ ev: "settled", id: cmd.id, offline, expectedVersion, error: { code: errorCode(error) ?? "unknown", message: String(error?.message ?? error) } });
    });
}

function status(cmd) {
  send({
    ev: "status",
    req: cmd.req,
    state: client?.state ?? "none",
    pending: client?.pending ?? 0,
    roomPending: room?.pending ?? 0,
    seq: room?.seq ?? 0,
    unsettled: [...unsettled],
  });
}

function snapshot(cmd) {
  send({
    ev: "snapshot",
    req: cmd.req,
    state: client.state,
    pending: client.pending,
    seq: room.seq,
    entries: room.confirmedEntries().map(e => ({ key: e.key, value: e.value, version: e.version, deleted: !!e.deleted })),
    messages: room.messages.map(m => ({ seq: m.seq, id: m.id, body: m.body })),
    applied,
    reconnects: Math.max(0, connects - 1),
    states,
    errors,
  });
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", line => {
  if (!line.trim()) {
    return;
  }
  const cmd = JSON.parse(line);
  switch (cmd.cmd) {
    case "start":
      start(cmd).catch(fatal);
      break;
    case "write":
      write(cmd);
      break;
    case "status":
      status(cmd);
      break;
    case "snapshot":
      snapshot(cmd);
      break;
    case "exit":
      Promise.race([client ? client.stop() : Promise.resolve(), new Promise(resolve => setTimeout(resolve, 2000))])
        .finally(() => process.exit(0));
      break;
    default:
      fatal(new Error(`unknown command ${line}`));
  }
});
lines.on("close", () => process.exit(0));

// The JS SDK's answer to a rejoin from below the server's retention: the server says full: true, and the replica is
// replaced wholesale, messages included, with the events apps expect. Run by Hub.Tests/RetentionRejoinTests.cs
// against a server that keeps 3 messages per room and purges every second; by hand:
//
//   COLLAB_HUB_URL=http://127.0.0.1:PORT/hubs/collab node --test rejoin-full-tests.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import * as signalR from "@microsoft/signalr";
import { CollabClient } from "../../wwwroot/js/collab-client.js";
import { startProxy } from "./tcp-proxy.mjs";

const hubUrl = process.env.COLLAB_HUB_URL;
const FAST = { baseDelayMs: 20, maxDelayMs: 300 };

async function waitFor(condition, what, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise(resolve => setTimeout(resolve, 50));
  }
}

test("a rejoin from below the retention horizon replaces entries and messages and reports it", { timeout: 60_000 }, async () => {
  assert.ok(hubUrl, "set COLLAB_HUB_URL");
  const roomId = `full-${Date.now().toString(36)}`;
  const proxy = await startProxy(hubUrl);
  const ada = new CollabClient({ url: proxy.hubUrl, skipNegotiation: true, signalR, name: "ada", reconnect: FAST });
  const bob = new CollabClient({ url: hubUrl, signalR, name: "bob", reconnect: FAST });
  const probe = new signalR.HubConnectionBuilder().withUrl(`${hubUrl}?name=probe`).build();
  try {
    await Promise.all([ada.start(), bob.start(), probe.start()]);
    const a = await ada.join(roomId);
    const b = await bob.join(roomId);
    await b.set("a", 1);
    await b.set("b", 2);
    await b.post("m0");
    await waitFor(() => a.seq === b.seq, "ada to catch up");
    const since = a.seq;
    assert.deepEqual(a.messages.map(m => m.body), ["m0"]);

    const applied = [];
    const changes = [];
    const messages = [];
    a.on("applied", e => applied.push(e));
    a.on("change", e => changes.push({ key: e.key, value: e.entry?.value }));
    a.on("message", m => messages.push(m.body));

    proxy.block();
    proxy.cut();
    await waitFor(() => ada.state === "reconnecting", "ada to lose her connection");
    await b.delete("a");
    await b.set("c", 3);
    for (let i = 1; i <= 5; i++) {
      await b.post(`m${i}`);
    }
    // The purge (every second) removes all but the newest 3 messages and raises the horizon above ada's position.
    // A purge that ran while m1..m5 were being posted can already answer full with more than 3 messages, so wait for
    // one that ran after the last post.
    await waitFor(async () => {
      const probed = await probe.invoke("Join", { roomId, sinceSeq: since });
      return probed.full === true && probed.messages.map(m => m.body).join() === "m3,m4,m5";
    }, "a purge after the last post to pass ada's position");

    proxy.unblock();
    await waitFor(() => ada.state === "connected" && a.seq === b.seq, "ada to rejoin");
    assert.ok(applied.some(e => e.full && e.source === "join" && e.to === b.seq), JSON.stringify(applied));
    assert.deepEqual(a.entries().map(e => [e.key, e.value]).sort(), [["b", 2], ["c", 3]]);
    assert.deepEqual(a.messages.map(m => m.body), ["m3", "m4", "m5"], "the messages are the server's, not the old ones");
    assert.deepEqual(messages, ["m3", "m4", "m5"]);
    assert.deepEqual(changes.filter(c => c.key !== "b").sort((x, y) => x.key.localeCompare(y.key)),
      [{ key: "a", value: undefined }, { key: "c", value: 3 }]);
  } finally {
    await Promise.allSettled([ada.stop(), bob.stop(), probe.stop()]);
    await proxy.close();
  }
});

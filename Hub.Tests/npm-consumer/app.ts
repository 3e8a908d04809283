// An app that uses @collabhub/client as an installed package, with its types, in strict mode: it connects, joins a
// room, writes a key, waits for the write to come back through the room's replica, posts, and stops its client.
// Usage: node dist/app.js <hub url> <room id>
import * as signalR from "@microsoft/signalr";
import {
  CollabClient,
  CollabHubError,
  errorCode,
  type ChangeEvent,
  type CollabClientOptions,
  type ConnectionState,
  type Entry,
  type Json,
  type CollabRoom,
  type WriteResult,
} from "@collabhub/client";

const [url, roomId] = process.argv.slice(2);
if (url === undefined || roomId === undefined) {
  throw new Error("usage: node dist/app.js <hub url> <room id>");
}

const options: CollabClientOptions = { url, signalR, name: "grace", reconnect: { maxAttempts: 5 } };
const client = new CollabClient(options);
const states: ConnectionState[] = [];
client.on("state", (state: ConnectionState) => states.push(state));

// The SDK's types reach the app: a key must be a string, and a value must be JSON.
// @ts-expect-error a number is not a key
void (() => client.room("x")?.set(42, "value"));
// @ts-expect-error a function is not JSON
void (() => client.room("x")?.set("key", () => 1));

try {
  await client.start();
  const room: CollabRoom = await client.join(roomId);
  const confirmed = new Promise<Entry>(resolve => {
    const off = room.on("change", ({ key, entry, source }: ChangeEvent) => {
      if (key === "title" && source === "confirm" && entry !== null && !("pending" in entry)) {
        off();
        resolve(entry);
      }
    });
  });

  const title: Json = { text: "Planning", by: "grace" };
  const write: WriteResult = await room.set("title", title);
  const entry = await confirmed;
  const back = room.getConfirmed("title");
  if (!write.applied || back === undefined || back.version !== write.seq || JSON.stringify(back.value) !== JSON.stringify(title)) {
    throw new Error(`the write did not come back: ${JSON.stringify({ write, back })}`);
  }
  const posted = await room.post({ text: "hello from TypeScript" });
  console.log(`joined ${room.roomId}; wrote title at seq ${write.seq} (confirmed version ${entry.version}); posted at seq ${posted.seq}`);
  console.log(`states: ${states.join(" -> ")}`);
} catch (error: unknown) {
  const code: string | null = error instanceof CollabHubError ? error.code : errorCode(error);
  console.error(`failed (${code ?? "no code"}):`, error);
  process.exitCode = 1;
} finally {
  await client.stop();
}

// CollabHub JS SDK: rooms with a replica of their versioned store and message log, presence, signals, and an
// ordered, exactly-once write queue, over @microsoft/signalr. It follows "Client behaviour" in docs/protocol.md.
//
// ES modules with no build step, served as they are at /js/ and packed as they are: this one (CollabClient, a thin
// facade that wires the parts), connection.js (the connection loop), write-queue.js (the write queue: what a write is,
// its scheduling and its persistence), room.js (CollabRoom, the replica of a room, and the set of rooms), errors.js,
// internal.js (shared helpers, and the room's interface to the other parts) and protocol.js (the contract's names).
// Each part keeps its own state. Import this one; it re-exports the public rest. It takes the SignalR library as the
// `signalR` option, or uses `globalThis.signalR` (the script build of @microsoft/signalr sets it). Runs in browsers
// and in node (>= 18).
//
//   import { CollabClient } from "/js/collab-client.js";
//   const client = new CollabClient({ url: "/hubs/collab", signalR });
//   await client.start();
//   const room = await client.join("demo");
//   room.on("change", ({ key, entry }) => render(key, entry));
//   await room.set("title", "Planning");
//
// Types and the full contract: collab-client.d.ts beside this file.

import { CollabHubError } from "./errors.js";
import { Emitter, RoomInternal, positiveInteger, checkRoomId } from "./internal.js";
import { Connection } from "./connection.js";
import { WriteQueue } from "./write-queue.js";
import { RoomSet } from "./room.js";

export { CollabHubError, parseHubError, errorCode, isServerError } from "./errors.js";
export { CollabRoom } from "./room.js";

// ---------------------------------------------------------------------------------------------------------------
// CollabClient
// ---------------------------------------------------------------------------------------------------------------

export class CollabClient extends Emitter {
  #connection;
  #rooms;
  #queue;

  /**
   * @param {object} options see CollabClientOptions in collab-client.d.ts
   */
  constructor(options) {
    super();
    if (options === null || typeof options !== "object") {
      throw new TypeError("CollabClient: new CollabClient({ url, signalR?, name?, accessTokenFactory?, ... }) needs an options object");
    }
    const emit = (event, ...args) => this._emit(event, ...args);
    // The parts reach each other through this record: a room joins through the connection and writes through the
    // queue; the queue sends through the connection and settles each write into its room.
    const parts = { connection: null, rooms: null, queue: null, maxMessages: 0 };
    parts.connection = new Connection(options, emit, {
      receive: (name, roomId, arg) => parts.rooms.get(roomId)?.[RoomInternal.receive](name, arg),
      rejoin: gen => parts.rooms.rejoin(gen),
      live: () => parts.queue.pump(),
      lost: () => {
        parts.queue.connectionLost();
        parts.rooms.disconnected();
      },
      stopping: () => {
        parts.rooms.disconnected();
        parts.queue.pause();
      },
      abandon: error => parts.rooms.abandonJoins(error),
    });
    parts.maxMessages = positiveInteger(options.maxMessages, "maxMessages", 1000);
    parts.rooms = new RoomSet(parts);
    parts.queue = new WriteQueue(options, parts, emit);
    this.#connection = parts.connection;
    this.#rooms = parts.rooms;
    this.#queue = parts.queue;
  }

  /** "disconnected" | "connecting" | "connected" | "reconnecting" (docs/protocol.md, "The two SDKs"). */
  get state() {
    return this.#connection.state;
  }

  /** Writes made and not yet answered (queued or in flight), over all rooms. */
  get pending() {
    return this.#queue.size;
  }

  /** The underlying HubConnection of the current connection, or null (for diagnostics and tests). */
  get connection() {
    return this.#connection.current;
  }

  /** The rooms the app has joined. */
  get rooms() {
    return this.#rooms.heldByApp();
  }

  /** The joined room with this id, or undefined. */
  room(roomId) {
    const room = this.#rooms.get(roomId);
    return room && room[RoomInternal.appJoined] ? room : undefined;
  }

  /**
   * Starts connecting, and retries until connected (forever by default). Resolves once connected and the rooms are
   * joined (state "connected"); rejects if stop() is called first or reconnect.maxAttempts is exhausted.
   */
  start() {
    return this.#connection.start();
  }

  /**
   * Closes the connection; state becomes "disconnected". Queued writes stay queued (and persisted): they go when the
   * client starts again, and their promises stay pending until then (see discardPending()).
   */
  stop() {
    return this.#connection.stop();
  }

  /**
   * Joins a room and resolves with its CollabRoom once the Join answer is applied (waits for the connection when not
   * connected). Joining a room already joined returns the same CollabRoom.
   */
  async join(roomId) {
    checkRoomId(roomId);
    if (!this.#connection.started) {
      throw new CollabHubError("not_started", "CollabClient: call start() before join()");
    }
    return this.#rooms.open(roomId)[RoomInternal.appJoin]();
  }

  /** Rejects every queued write with code "cancelled", rolls back their optimistic values, and clears the stored queue. */
  discardPending() {
    this.#queue.discard();
  }
}

export default CollabClient;

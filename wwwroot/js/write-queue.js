// The write queue of the CollabHub JS SDK: what a queued write is (the hub request it is sent as, and the record it
// is stored as with storageKey, so that a reload sends it again with the same mutationId), and WriteQueue, which
// schedules the writes (in order, pipelined up to maxInFlight, retried after a temporary refusal, superseded by a later
// write of the same key) and persists them. Part of collab-client.js, which wires it to the connection and the rooms.

import { ErrorCodes, HubMethods, TEMPORARY_CODES as TEMPORARY } from "./protocol.js";
import { CollabHubError, parseHubError, hubError, argumentError } from "./errors.js";
import { RoomInternal, newMutationId, backoff, positiveInteger, defaultStorage, handled, utf8Bytes } from "./internal.js";

/** How long the write window stays at one after a temporary refusal. */
const THROTTLE_MS = 1_000;

/** The version of the stored queue's format. */
const STORED_QUEUE_VERSION = 1;

const WRITE_METHODS = Object.freeze([HubMethods.Set, HubMethods.Delete, HubMethods.Post, HubMethods.Batch]);

/** The keys a queued write changes: one for a Set or Delete, one per operation for a Batch, none for a Post. */
function keysOf(item) {
  return item.op === HubMethods.Batch ? item.ops.map(o => o.key) : item.op === HubMethods.Post ? [] : [item.key];
}

/** The answer of a write that gave way to a later write of the same key by this client (see WriteQueue's #supersede). */
function supersededResult(later) {
  return { applied: false, duplicate: false, conflict: false, superseded: true, seq: later.seq, entry: later.entry ?? null };
}

/** The request a queued write is sent as (its method is item.op). */
function writeRequest(item) {
  switch (item.op) {
    case HubMethods.Batch:
      return { roomId: item.roomId, ops: item.ops, mutationId: item.mutationId };
    case HubMethods.Post:
      return { roomId: item.roomId, body: item.body, mutationId: item.mutationId };
    default: {
      const request = item.op === HubMethods.Set
        ? { roomId: item.roomId, key: item.key, value: item.value, mutationId: item.mutationId }
        : { roomId: item.roomId, key: item.key, mutationId: item.mutationId };
      if (item.expectedVersion !== undefined) {
        request.expectedVersion = item.expectedVersion;
      }
      return request;
    }
  }
}

/** The record a queued write is stored as: what it does, without its promise and its sending state. */
function storedWrite(item) {
  return { op: item.op, ...writeRequest(item) };
}

/** A stored queue's writes as queue items (marked restored), skipping records that are not writes. */
function restoredWrites(text) {
  let saved;
  try {
    saved = text ? JSON.parse(text) : null;
  } catch {
    return [];
  }
  if (!saved || saved.v !== STORED_QUEUE_VERSION || !Array.isArray(saved.writes)) {
    return [];
  }
  return saved.writes
    .filter(w => w && typeof w.mutationId === "string" && typeof w.roomId === "string" && WRITE_METHODS.includes(w.op)
      && (w.op !== HubMethods.Batch || Array.isArray(w.ops)))
    .map(w => ({ ...storedWrite(w), restored: true }));
}

/** The text a queue is stored as. */
function storedQueue(items) {
  return JSON.stringify({ v: STORED_QUEUE_VERSION, writes: items.map(storedWrite) });
}

// ---------------------------------------------------------------------------------------------------------------
// WriteQueue: the client's writes, over all rooms, in the order they were made
// ---------------------------------------------------------------------------------------------------------------

export class WriteQueue {
  #connection;
  #rooms;
  #emit;
  #optimistic;
  #storageKey;
  #storage;
  #maxQueuedWrites;
  #maxValueBytes;
  #maxInFlight;
  #items = [];
  #inFlight = 0;
  #throttleUntil = 0;
  #sendCounter = 0;
  #persistScheduled = false;

  /**
   * Restores a stored queue (with storageKey) at once.
   * @param {object} options the client's options; this reads optimistic, storageKey, storage, maxQueuedWrites, maxInFlight, maxValueBytes
   * @param {object} parts the client's parts: the connection (connection.js) and the rooms (room.js's RoomSet)
   * @param {(event: string, ...args: unknown[]) => void} emit the client's events ("pending", "settled", "error")
   */
  constructor(options, { connection, rooms }, emit) {
    if (options.optimistic !== undefined && typeof options.optimistic !== "boolean") {
      throw new TypeError("CollabClient: option optimistic must be a boolean");
    }
    if (options.storageKey !== undefined && options.storageKey !== null && (typeof options.storageKey !== "string" || !options.storageKey)) {
      throw new TypeError("CollabClient: option storageKey must be a non-empty string");
    }
    this.#connection = connection;
    this.#rooms = rooms;
    this.#emit = emit;
    this.#maxQueuedWrites = positiveInteger(options.maxQueuedWrites, "maxQueuedWrites", 1000);
    this.#maxInFlight = positiveInteger(options.maxInFlight, "maxInFlight", 100);
    this.#maxValueBytes = positiveInteger(options.maxValueBytes, "maxValueBytes", 65_536);
    this.#optimistic = options.optimistic ?? true;
    this.#storageKey = options.storageKey ?? null;
    this.#storage = this.#storageKey ? (options.storage ?? defaultStorage()) : null;
    this.#restore();
  }

  /** Writes made and not yet answered (queued or in flight), over all rooms. */
  get size() {
    return this.#items.length;
  }

  /**
   * Queues the write `describe()` makes (it throws for bad arguments) for the room; resolves with its answer. The
   * promise is marked handled, and rejects at once for bad arguments, a full queue or a frame too large.
   */
  write(roomId, describe) {
    let request;
    try {
      request = describe();
      this.#checkValues(request);
      if (this.#items.length >= this.#maxQueuedWrites) {
        throw new CollabHubError(ErrorCodes.QueueFull, `CollabClient: the write queue is full (${this.#maxQueuedWrites} writes waiting)`);
      }
    } catch (error) {
      return handled(Promise.reject(error));
    }
    const item = { ...request, roomId, mutationId: request.mutationId ?? newMutationId() };
    try {
      this.#connection.checkFrame(item.op, writeRequest(item));
    } catch (error) {
      return handled(Promise.reject(error));
    }
    const promise = new Promise((resolve, reject) => {
      item.resolve = resolve;
      item.reject = reject;
    });
    this.#enqueue(item);
    return handled(promise);
  }

  /** Fails a value or body larger than the server takes (maxValueBytes), as the .NET SDK does, before it is queued. */
  #checkValues(request) {
    const values = request.op === HubMethods.Batch ? request.ops.filter(o => o.value !== undefined).map(o => o.value)
      : request.op === HubMethods.Post ? [request.body]
        : request.value === undefined ? [] : [request.value];
    for (const value of values) {
      const text = JSON.stringify(value);
      if (text.length * 3 > this.#maxValueBytes && utf8Bytes(text) > this.#maxValueBytes) {
        throw argumentError(ErrorCodes.TooLarge, `a value is larger than ${this.#maxValueBytes} bytes of JSON (maxValueBytes)`);
      }
    }
  }

  /** Rejects every queued write with `cancelled` (client.discardPending). */
  discard() {
    for (const item of [...this.#items]) {
      this.#settle(item, null, new CollabHubError(ErrorCodes.Cancelled, "CollabClient: the write was discarded (discardPending)"));
    }
  }

  /** The room failed for good: its writes not in flight fail with `error` (one in flight keeps its answer). */
  failWaiting(roomId, error) {
    for (const item of [...this.#items]) {
      if (item.roomId === roomId && item.state !== "inflight") {
        this.#settle(item, null, error);
      }
    }
  }

  /** The connection closed: writes in flight are sent again, with the same mutationId, on the next one. */
  connectionLost() {
    for (const item of this.#items) {
      if (item.state === "inflight") {
        this.#requeue(item);
      }
    }
  }

  /** The client stopped: every write waits, queued, for the next start (no retry timer runs). */
  pause() {
    for (const item of this.#items) {
      clearTimeout(item.retryTimer);
      item.retryTimer = null;
      if (item.state !== "queued") {
        this.#requeue(item);
      }
    }
  }

  /**
   * Sends queued writes in order, pipelined, stopping at the first one that cannot go yet. After a temporary refusal
   * (rate_limited, overloaded, unavailable) the window is one write for a while (stop-and-wait), so that retries
   * cannot overtake each other.
   */
  pump() {
    if (!this.#connection.live) {
      return;
    }
    const window = Date.now() < this.#throttleUntil ? 1 : this.#maxInFlight;
    for (let i = 0; i < this.#items.length; i++) {
      const item = this.#items[i];
      if (item.state === "inflight" || item.settled) {
        continue;
      }
      if (item.state === "waiting") {
        break; // retried after a temporary error: later writes wait, so order holds
      }
      const room = this.#rooms.get(item.roomId);
      if (!room || item.overtakenBy) {
        // Its room is gone (revoked, failed or left while it was in flight), or a later write of its key was applied
        // while it was on the wire and its own answer was lost: end it, then look again from the start.
        queueMicrotask(() => this.#endStranded(item));
        break;
      }
      if (!room.joined || this.#inFlight >= window) {
        break;
      }
      if (item.refused && this.#laterSameKeyInFlight(i)) {
        break; // a later write of this key overtook it: its answer decides (see #supersede)
      }
      this.#send(item);
    }
  }

  #enqueue(item) {
    item.state = "queued";
    item.sendId = 0;
    item.attempts = 0;
    item.retryTimer = null;
    item.settled = false;
    this.#items.push(item);
    this.#rooms.get(item.roomId)[RoomInternal.writeQueued](item, this.#optimistic);
    this.#persist();
    this.#emit("pending", this.#items.length);
    this.pump();
  }

  #endStranded(item) {
    if (item.settled || item.state === "inflight") {
      return;
    }
    if (item.overtakenBy) {
      this.#settle(item, supersededResult(item.overtakenBy), null);
      return;
    }
    if (!this.#rooms.get(item.roomId)) {
      const reason = this.#rooms.whyGone(item.roomId);
      this.#settle(item, null, item.sent
        ? new CollabHubError(reason.code, `${reason.message}; the write was sent but its answer was lost, so it may or may not have been applied`)
        : reason);
    }
  }

  /** Whether a write after items[index] to the same key is in flight. */
  #laterSameKeyInFlight(index) {
    const item = this.#items[index];
    const keys = new Set(keysOf(item));
    if (keys.size === 0) {
      return false;
    }
    for (let j = index + 1; j < this.#items.length; j++) {
      const later = this.#items[j];
      if (later.state === "inflight" && later.roomId === item.roomId && keysOf(later).some(k => keys.has(k))) {
        return true;
      }
    }
    return false;
  }

  /**
   * A Set/Delete was applied while earlier writes of the same key, refused for a while, still wait: sending them
   * now would let an older value overwrite a newer one. They end instead, as superseded by the later write.
   */
  #supersede(item, result, index) {
    const keys = new Set(keysOf(item));
    for (const earlier of this.#items.slice(0, index)) {
      // Only single writes are superseded: a batch is all or nothing, so it is never ended for one of its keys.
      if ((earlier.op !== HubMethods.Set && earlier.op !== HubMethods.Delete) || earlier.roomId !== item.roomId || !keys.has(earlier.key)) {
        continue;
      }
      if (earlier.state === "inflight") {
        earlier.overtakenBy = result; // decided by its own answer; superseded if that is a refusal or lost
      } else {
        this.#settle(earlier, supersededResult(result), null);
      }
    }
  }

  #send(item) {
    const connection = this.#connection;
    const gen = connection.gen;
    const sendId = (item.sendId = ++this.#sendCounter);
    item.state = "inflight";
    item.sent = true;
    item.gen = gen;
    this.#inFlight++;
    connection.invoke(gen, item.op, writeRequest(item)).then(
      result => this.#settle(item, result, null),
      error => {
        if (item.settled || item.sendId !== sendId || item.state !== "inflight") {
          return; // requeued by the close: sent again on the next connection
        }
        if (connection.isConnectionLoss(error, gen)) {
          this.#requeue(item); // sent again, with the same mutationId, after the reconnect
          return;
        }
        const code = parseHubError(error?.message ?? error).code;
        if (code && TEMPORARY.has(code) && item.overtakenBy) {
          this.#settle(item, supersededResult(item.overtakenBy), null);
          return;
        }
        if (code && TEMPORARY.has(code)) {
          this.#inFlight--;
          item.state = "waiting";
          item.refused = true;
          this.#throttleUntil = Date.now() + THROTTLE_MS;
          item.retryTimer = setTimeout(() => {
            item.retryTimer = null;
            if (item.state === "waiting") {
              item.state = "queued";
              this.pump();
            }
          }, backoff({ baseDelayMs: Math.max(50, connection.retry.baseDelayMs / 5), maxDelayMs: connection.retry.maxDelayMs }, item.attempts++));
          return;
        }
        this.#settle(item, null, hubError(error));
      });
  }

  #requeue(item) {
    if (item.state === "inflight") {
      this.#inFlight--;
    }
    item.state = "queued";
    item.sendId = 0;
  }

  /** Ends a write: takes it out of the queue, updates its room (overlay, gap fill), settles the promise. */
  #settle(item, result, error) {
    if (item.settled) {
      return;
    }
    item.settled = true;
    clearTimeout(item.retryTimer);
    if (item.state === "inflight") {
      this.#inFlight--;
    }
    item.state = "done";
    const i = this.#items.indexOf(item);
    if (i >= 0) {
      this.#items.splice(i, 1);
    }
    if (result && result.applied && !result.conflict && item.op !== HubMethods.Post && i > 0) {
      this.#supersede(item, result, i);
    }
    const room = this.#rooms.get(item.roomId);
    room?.[RoomInternal.writeAnswered](item, result);
    this.#persist();
    this.#emit("pending", this.#items.length);
    const outcome = {
      mutationId: item.mutationId, roomId: item.roomId, op: item.op, key: item.key,
      result: result ?? undefined, error: error ?? undefined,
    };
    this.#emit("settled", outcome);
    room?.[RoomInternal.writeSettled](error);
    if (error) {
      item.reject?.(error);
    } else {
      item.resolve?.(result);
    }
    this.pump();
  }

  // --- persistence --------------------------------------------------------------------------------------------

  /** Stores the queue once per tick (a burst of writes is stored once, before any other event is handled). */
  #persist() {
    if (!this.#storage || this.#persistScheduled) {
      return;
    }
    this.#persistScheduled = true;
    queueMicrotask(() => {
      this.#persistScheduled = false;
      this.#persistNow();
    });
  }

  #persistNow() {
    try {
      if (this.#items.length === 0) {
        this.#storage.removeItem(this.#storageKey);
        return;
      }
      this.#storage.setItem(this.#storageKey, storedQueue(this.#items));
    } catch (error) {
      // Quota exceeded or storage disabled: the queue still lives in memory.
      this.#emit("error", new CollabHubError("storage_failed", `CollabClient: could not store the write queue (${error?.message ?? error})`, { cause: error }));
    }
  }

  #restore() {
    if (!this.#storage) {
      return;
    }
    let text;
    try {
      text = this.#storage.getItem(this.#storageKey);
    } catch {
      return;
    }
    for (const item of restoredWrites(text)) {
      // Its room is kept joined (not visible in client.rooms) until its writes are answered, or the app joins it.
      this.#rooms.open(item.roomId);
      this.#enqueue(item);
    }
  }
}

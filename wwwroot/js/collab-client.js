// CollabHub JS SDK: rooms with a replica of their versioned store and message log, presence, signals, and an
// ordered, exactly-once write queue, over @microsoft/signalr. It follows "Client behaviour" in docs/protocol.md.
//
// An ES module with no build step; it imports only the contract's names (protocol.js beside it). It takes the
// SignalR library as the `signalR` option, or uses `globalThis.signalR` (the script build of @microsoft/signalr sets
// it). Runs in browsers and in node (>= 18).
//
//   import { CollabClient } from "/js/collab-client.js";
//   const client = new CollabClient({ url: "/hubs/collab", signalR });
//   await client.start();
//   const room = await client.join("demo");
//   room.on("change", ({ key, entry }) => render(key, entry));
//   await room.set("title", "Planning");
//
// Types and the full contract: collab-client.d.ts beside this file.

import { ErrorCodes, HubEvents, ROOM_ID_PATTERN as ROOM_ID, TEMPORARY_CODES as TEMPORARY } from "./protocol.js";

const HUB_MARKER = "HubException: ";

/** How long the write window stays at one after a temporary refusal. */
const THROTTLE_MS = 1_000;

const STATES = Object.freeze({ connecting: "connecting", connected: "connected", reconnecting: "reconnecting", disconnected: "disconnected" });

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** An error with a stable machine-readable `code` (a server code such as `invalid_key`, or a client one). */
export class CollabHubError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "CollabHubError";
    this.code = code;
  }
}

/**
 * Splits a SignalR error message into the hub's code and text: the text after the FIRST "HubException: " (or the
 * whole message), the code being what precedes its first ":" when that is only a-z and _. Code null when none.
 */
export function parseHubError(message) {
  const m = typeof message === "string" ? message : String(message?.message ?? message ?? "");
  const at = m.indexOf(HUB_MARKER);
  const text = at >= 0 ? m.slice(at + HUB_MARKER.length) : m;
  const match = /^([a-z_]+):/.exec(text);
  return { code: match ? match[1] : null, text };
}

/** The hub's error code of an error (or message), or null. */
export function errorCode(error) {
  if (error instanceof CollabHubError) {
    return error.code;
  }
  return parseHubError(error?.message ?? error).code;
}

/**
 * Whether a failed call was answered by the server (a completion with an error), as opposed to failing on the way
 * (a send on a closing socket, a cancelled call when the connection closed). SignalR builds server errors from the
 * completion's text, which is the hub's "HubException: code: ..." or SignalR's own server-side wording.
 */
export function isServerError(error) {
  const m = typeof error === "string" ? error : String(error?.message ?? "");
  return m.includes(HUB_MARKER)
    || /^An unexpected error occurred invoking '[^']*' on the server\./.test(m)
    || /^Failed to invoke '[^']*'/.test(m)
    || /^Unknown hub method/.test(m)
    || /^Invocation provides \d+ argument/.test(m);
}

function hubError(error) {
  const { code, text } = parseHubError(error?.message ?? error);
  return new CollabHubError(code ?? "unknown", text || String(error?.message ?? error), { cause: error });
}

function argumentError(code, message) {
  return new CollabHubError(code, `CollabClient: ${message}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------------

class Emitter {
  #handlers = new Map();

  /** Adds a handler; returns a function that removes it. */
  on(event, handler) {
    if (typeof event !== "string") {
      throw new TypeError("CollabClient: on(event, handler) needs an event name");
    }
    if (typeof handler !== "function") {
      throw new TypeError(`CollabClient: on("${event}", handler) needs a function`);
    }
    let set = this.#handlers.get(event);
    if (!set) {
      set = new Set();
      this.#handlers.set(event, set);
    }
    // Wrap, so that one function added twice is called twice and removed one at a time.
    const entry = { handler };
    set.add(entry);
    return () => set.delete(entry);
  }

  /** Removes a handler added with on(). */
  off(event, handler) {
    const set = this.#handlers.get(event);
    if (set) {
      for (const entry of set) {
        if (entry.handler === handler) {
          set.delete(entry);
          return;
        }
      }
    }
  }

  /** Like on(), for the next event only. */
  once(event, handler) {
    const remove = this.on(event, (...args) => {
      remove();
      handler(...args);
    });
    return remove;
  }

  _hasHandlers(event) {
    return (this.#handlers.get(event)?.size ?? 0) > 0;
  }

  _emit(event, ...args) {
    const set = this.#handlers.get(event);
    if (!set || set.size === 0) {
      return;
    }
    for (const entry of [...set]) {
      try {
        entry.handler(...args);
      } catch (error) {
        // An app handler's bug must not break the replica; report it the way the platform does.
        reportAppError(error);
      }
    }
  }
}

function reportAppError(error) {
  if (typeof globalThis.reportError === "function") {
    globalThis.reportError(error);
  } else {
    setTimeout(() => {
      throw error;
    });
  }
}

function newMutationId() {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  // crypto.randomUUID is missing in insecure browser contexts (plain http on another host); getRandomValues is not.
  const bytes = new Uint8Array(16);
  if (crypto && typeof crypto.getRandomValues === "function") {
    crypto.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i++) {
      bytes[i] = Math.floor(Math.random() * 256);
    }
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map(b => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Full jitter: a random wait between 0 and min(max, base * 2^attempt). */
function backoff(policy, attempt) {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.random() * step);
}

function positiveInteger(value, name, fallback) {
  if (value === undefined || value === null) {
    return fallback;
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`CollabClient: option ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeNumber(value, name, fallback) {
  if (value === undefined || value === null) {
    return fallback;
  }
  if (typeof value !== "number" || !(value >= 0)) {
    throw new TypeError(`CollabClient: option ${name} must be a number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isBrowser() {
  return typeof window === "object" && window !== null && typeof window.document === "object";
}

function defaultStorage() {
  if (!isBrowser()) {
    return null;
  }
  try {
    const storage = window.localStorage;
    return storage && typeof storage.getItem === "function" ? storage : null;
  } catch {
    return null; // e.g. a sandboxed iframe
  }
}

/** Two view entries show the same thing (a confirmed version is unique per key). */
function sameView(a, b) {
  if (a === b) {
    return true;
  }
  if (!a || !b || a.pending || b.pending) {
    return false;
  }
  return a.key === b.key && a.version === b.version && a.deleted === b.deleted;
}

function checkJson(value, what, code = "invalid_argument") {
  if (value === undefined) {
    throw argumentError(code, `${what} is required (use null for a JSON null)`);
  }
  try {
    if (JSON.stringify(value) === undefined) {
      throw new Error("not representable");
    }
  } catch (error) {
    throw argumentError(code, `${what} must be JSON-serializable (${error?.message ?? error})`);
  }
}

function checkKey(key) {
  if (typeof key !== "string" || key.length === 0) {
    throw argumentError("invalid_key", `key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
}

function checkRoomId(roomId) {
  if (typeof roomId !== "string" || !ROOM_ID.test(roomId)) {
    throw argumentError("invalid_room",
      `room id must be a string matching ${ROOM_ID} (letters, digits, . _ ~ -), got ${JSON.stringify(roomId)}`);
  }
}

/** The app's own mutationId of a write (options.mutationId), or undefined: the SDK makes one then. */
function checkMutationId(options) {
  const id = options?.mutationId;
  if (id === undefined || id === null) {
    return undefined;
  }
  if (typeof id !== "string" || id.length === 0) {
    throw argumentError("invalid_argument", `mutationId must be a non-empty string, got ${JSON.stringify(id)}`);
  }
  return id;
}

function checkExpectedVersion(options) {
  if (options === undefined || options === null) {
    return undefined;
  }
  if (typeof options !== "object") {
    throw argumentError("invalid_argument", "write options must be an object such as { expectedVersion: 3 }");
  }
  const v = options.expectedVersion;
  if (v === undefined || v === null) {
    return undefined;
  }
  if (!Number.isSafeInteger(v) || v < 0) {
    throw argumentError("invalid_argument", `expectedVersion must be an integer >= 0, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Checks a batch's operations and copies them as the wire takes them: [{ op: "set"|"delete", key, value?, expectedVersion? }]. */
function checkOps(ops) {
  if (!Array.isArray(ops) || ops.length === 0) {
    throw argumentError("invalid_argument", "a batch needs an array of at least one operation");
  }
  const keys = new Set();
  return ops.map((o, i) => {
    if (!o || (o.op !== "set" && o.op !== "delete")) {
      throw argumentError("invalid_argument", `ops[${i}].op must be "set" or "delete"`);
    }
    checkKey(o.key);
    if (keys.has(o.key)) {
      throw argumentError("invalid_argument", `key ${JSON.stringify(o.key)} is in the batch more than once`);
    }
    keys.add(o.key);
    const copy = { op: o.op, key: o.key };
    if (o.op === "set") {
      checkJson(o.value, `ops[${i}].value`);
      copy.value = o.value;
    } else if (o.value !== undefined) {
      throw argumentError("invalid_argument", `ops[${i}] is a delete and takes no value`);
    }
    const expectedVersion = checkExpectedVersion(o);
    if (expectedVersion !== undefined) {
      copy.expectedVersion = expectedVersion;
    }
    return copy;
  });
}

/** The keys a queued write changes: one for a Set or Delete, one per operation for a Batch, none for a Post. */
function keysOf(item) {
  return item.op === "Batch" ? item.ops.map(o => o.key) : item.op === "Post" ? [] : [item.key];
}

const encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;

/** The UTF-8 size of a string (exact when TextEncoder exists; an upper bound otherwise). */
function utf8Bytes(text) {
  if (text.length * 3 <= 1024 || !encoder) {
    return text.length * 3;
  }
  return encoder.encode(text).length;
}

/** Fails a call whose SignalR frame would be larger than the server takes (the server would close the connection). */
function checkFrame(client, method, request) {
  const limit = client._maxMessageBytes;
  if (!limit) {
    return;
  }
  const text = JSON.stringify(request);
  if (text.length + 120 <= limit / 3) {
    return;
  }
  const bytes = utf8Bytes(text) + 120; // + the invocation envelope
  if (bytes > limit) {
    throw argumentError("too_large",
      `the ${method} message would be about ${bytes} bytes, more than maxMessageBytes (${limit}); the server would close the connection`);
  }
}

/** The answer of a write that gave way to a later write of the same key by this client (see _supersede). */
function supersededResult(later) {
  return { applied: false, duplicate: false, conflict: false, superseded: true, seq: later.seq, entry: later.entry ?? null };
}

/** A promise that the platform does not report as unhandled when it rejects; awaiting it still throws. */
function handled(promise) {
  promise.catch(() => {});
  return promise;
}

// ---------------------------------------------------------------------------------------------------------------
// CollabRoom: the replica of one room
// ---------------------------------------------------------------------------------------------------------------

export class CollabRoom extends Emitter {
  #client;
  #id;

  /** @internal */
  constructor(client, id) {
    super();
    this.#client = client;
    this.#id = id;
    this._seq = 0;
    this._hasState = false;           // a Join answer was applied once: later joins send sinceSeq
    this._confirmed = new Map();      // key -> Entry (live only): what the server has acknowledged
    this._overlay = new Map();        // key -> [op]: queued or acknowledged-but-not-yet-confirmed writes
    this._messages = [];              // sorted by seq, at most maxMessages
    this._messageSeqs = new Set();
    this._presence = new Map();       // userId -> PresenceEntry: the listed members
    this._presenceList = [];          // the same, sorted by userId (null when it must be made again)
    this._presenceCount = 0;          // the room's number of users (may exceed the listed ones)
    this._role = null;                // "owner" | "editor" | "viewer" from the Join answer and AccessChanged
    this._held = new Map();           // position -> { kind, item }: events waiting for their turn
    this._heldPresence = null;        // PresenceDelta events merged while a Join is answered: { full, changes, count }
    this._busy = null;                // token of the Join or Sync fill that runs, or null
    this._fillTarget = 0;             // a write answer's seq the replica must reach
    this._fillRetry = null;           // timer of a fill retried after a temporary error
    this._fillAttempts = 0;
    this._joinRetry = null;
    this._joinAttempts = 0;
    this._joinedGen = 0;              // the connection generation this room is joined on (0 = none)
    this._attemptGen = 0;             // the connection generation of the last Join sent
    this._appJoined = false;          // the app holds this room (client.join); else only queued writes keep it
    this._released = false;
    this._queued = 0;                 // writes of this room in the client's queue
    this._ackedOps = 0;
    this._ready = null;               // { promise, resolve, reject } until the first Join answer is applied
  }

  /** The room id. */
  get roomId() {
    return this.#id;
  }

  /** The last position (room seq) applied to the confirmed replica. */
  get seq() {
    return this._seq;
  }

  /** Whether the room is joined on the current connection and caught up to its Join answer. */
  get joined() {
    return this._joinedGen !== 0 && this._joinedGen === this.#client._gen;
  }

  /** Writes of this room not yet answered. */
  get pending() {
    return this._queued;
  }

  /** The messages kept (the most recent maxMessages), ordered by seq. A copy. */
  get messages() {
    return this._messages.slice();
  }

  /** This user's role in the room ("owner", "editor", "viewer"), from the Join answer and AccessChanged; null before. */
  get role() {
    return this._role;
  }

  /**
   * The room's members: [{ userId, name, connections }] sorted by userId, as last reported. In a room with more users
   * than the server lists (CollabHub:Presence:MaxListed), only part of them, as last listed: see presenceCount.
   */
  get presence() {
    this._presenceList ??= [...this._presence.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    return this._presenceList.slice();
  }

  /** How many users are in the room, as last reported (also when fewer are listed in presence). */
  get presenceCount() {
    return this._presenceCount;
  }

  /** The entry of `key` as the app sees it (pending writes included), or undefined when absent. */
  get(key) {
    const view = this._view(key);
    return view ?? undefined;
  }

  /** Whether `key` is present in the view. */
  has(key) {
    return this._view(key) !== null;
  }

  /** The live entries as the app sees them (pending writes included). */
  entries() {
    const out = [];
    for (const key of this._viewKeys()) {
      const view = this._view(key);
      if (view) {
        out.push(view);
      }
    }
    return out;
  }

  /** The keys present in the view. */
  keys() {
    return this.entries().map(e => e.key);
  }

  /** The confirmed entry of `key` (what the server has acknowledged through events and Sync), or undefined. */
  getConfirmed(key) {
    return this._confirmed.get(key);
  }

  /** The confirmed live entries (no pending writes). */
  confirmedEntries() {
    return [...this._confirmed.values()];
  }

  /**
   * Sets `key` to `value` (any JSON). Resolves with the WriteResult once acknowledged. `options.mutationId` replaces
   * the random one the SDK makes: a write made again with the same id (after a restart, say) is applied once.
   */
  set(key, value, options) {
    return this.#client._write(this, () => {
      checkKey(key);
      checkJson(value, "value");
      const expectedVersion = checkExpectedVersion(options);
      return { op: "Set", key, value, expectedVersion, mutationId: checkMutationId(options) };
    });
  }

  /** Deletes `key` (leaves a tombstone). Resolves with the WriteResult once acknowledged. */
  delete(key, options) {
    return this.#client._write(this, () => {
      checkKey(key);
      const expectedVersion = checkExpectedVersion(options);
      return { op: "Delete", key, expectedVersion, mutationId: checkMutationId(options) };
    });
  }

  /**
   * Sets and deletes several keys at once, all or none: `ops` is [{ op: "set", key, value, expectedVersion? } |
   * { op: "delete", key, expectedVersion? }], each key at most once. Queued like set() (offline too, exactly once, in
   * order); the view shows all its keys at once, and other clients' replicas apply its entries together. Resolves with
   * the BatchResult; a failed compare-and-set is a result with conflict: true (nothing stored, the view rolled back).
   * `options.mutationId` as set().
   */
  batch(ops, options) {
    return this.#client._write(this, () => ({ op: "Batch", ops: checkOps(ops), mutationId: checkMutationId(options) }));
  }

  /**
   * Appends `body` (any JSON) to the message log. Resolves with the PostResult once acknowledged. `options.mutationId`
   * as set().
   */
  post(body, options) {
    return this.#client._write(this, () => {
      checkJson(body, "body");
      return { op: "Post", body, mutationId: checkMutationId(options) };
    });
  }

  /**
   * Sends an ephemeral signal to the other connections in the room. Not queued: resolves true when the server took
   * it, false when not connected (it is dropped); rejects with a CollabHubError on a server error (e.g. too_large).
   */
  signal(payload) {
    return handled(this.#client._signal(this, payload));
  }

  /** Leaves the room. Writes of the room still queued are sent first; the Leave follows them. */
  leave() {
    return this.#client._leave(this);
  }

  // --- view (confirmed entries + optimistic overlay) ------------------------------------------------------

  _view(key) {
    const ops = this._overlay.get(key);
    if (ops && ops.length > 0) {
      const top = ops[ops.length - 1];
      const entry = top.acked ? top.ackEntry : top.entry;
      return entry && !entry.deleted ? entry : null;
    }
    return this._confirmed.get(key) ?? null;
  }

  _viewKeys() {
    const keys = new Set(this._confirmed.keys());
    for (const key of this._overlay.keys()) {
      keys.add(key);
    }
    return keys;
  }

  /** Runs fn, then emits "change" for each of `keys` whose view changed. */
  _changing(keys, source, fn) {
    const list = [...new Set(keys)];
    const before = list.map(k => this._view(k));
    const result = fn();
    if (this._appJoined) {
      list.forEach((key, i) => {
        const after = this._view(key);
        if (!sameView(before[i], after)) {
          this._emit("change", { key, entry: after, previous: before[i], source });
        }
      });
    }
    return result;
  }

  /** Shows a queued Set or Delete (or every key of a Batch, together) in the view. */
  _addOverlay(item) {
    const writes = item.op === "Batch"
      ? item.ops.map(o => ({ key: o.key, set: o.op === "set", value: o.value }))
      : [{ key: item.key, set: item.op === "Set", value: item.value }];
    item.overlays = writes.map(w => ({
      item,
      key: w.key,
      acked: false,
      ackSeq: 0,
      ackEntry: null,
      entry: { key: w.key, value: w.set ? w.value : null, version: this._confirmed.get(w.key)?.version ?? 0, deleted: !w.set,
        by: this.#client._name ?? null, at: null, pending: true, mutationId: item.mutationId },
    }));
    this._changing(writes.map(w => w.key), "local", () => {
      for (const op of item.overlays) {
        const ops = this._overlay.get(op.key);
        if (ops) {
          ops.push(op);
        } else {
          this._overlay.set(op.key, [op]);
        }
      }
    });
  }

  _removeOverlay(op, source) {
    const key = op.key;
    this._changing([key], source, () => {
      const ops = this._overlay.get(key);
      if (!ops) {
        return;
      }
      const i = ops.indexOf(op);
      if (i >= 0) {
        ops.splice(i, 1);
        if (op.acked) {
          this._ackedOps--;
        }
      }
      if (ops.length === 0) {
        this._overlay.delete(key);
      }
    });
  }

  /** An applied write's answer: show its entry until the confirmed replica reaches its seq. */
  _ackOverlay(op, seq, entry) {
    if (!entry || seq <= this._seq) {
      this._removeOverlay(op, "confirm");
      return;
    }
    this._changing([op.key], "confirm", () => {
      op.acked = true;
      op.ackSeq = seq;
      op.ackEntry = entry;
      this._ackedOps++;
    });
  }

  /** Drops acknowledged overlay ops the confirmed replica has reached. */
  _settleAcked(source) {
    if (this._ackedOps === 0) {
      return;
    }
    for (const [, ops] of [...this._overlay]) {
      for (const op of ops.filter(o => o.acked && o.ackSeq <= this._seq)) {
        this._removeOverlay(op, source);
      }
    }
  }

  // --- confirmed replica: events, pages, ordering and gaps ------------------------------------------------

  _setPosition(to, source, full) {
    const previous = this._seq;
    this._seq = to;
    if (previous !== to || full) {
      // The positions applied, both ends included (as .NET's AppliedRange): a full snapshot accounts for 1..to.
      this._emit("applied", { from: full ? 1 : previous + 1, to, source, full: !!full });
    }
  }

  _addMessage(message, emit) {
    if (!message || typeof message.seq !== "number" || this._messageSeqs.has(message.seq)) {
      return;
    }
    const max = this.#client._maxMessages;
    const list = this._messages;
    if (list.length >= max && message.seq < list[0].seq) {
      return; // older than everything kept
    }
    let i = list.length;
    while (i > 0 && list[i - 1].seq > message.seq) {
      i--;
    }
    list.splice(i, 0, message);
    this._messageSeqs.add(message.seq);
    while (list.length > max) {
      this._messageSeqs.delete(list.shift().seq);
    }
    if (emit && this._appJoined && this._messageSeqs.has(message.seq)) {
      this._emit("message", message);
    }
  }

  /** Applies a Join or Sync answer (one page). A full page replaces entries and messages. */
  _applyPage(page, source) {
    const entries = Array.isArray(page.entries) ? page.entries : [];
    const messages = Array.isArray(page.messages) ? page.messages : [];
    if (page.full) {
      const keys = [...this._confirmed.keys(), ...entries.map(e => e.key)];
      this._changing(keys, source, () => {
        this._confirmed = new Map();
        for (const entry of entries) {
          if (!entry.deleted) {
            this._confirmed.set(entry.key, entry);
          }
        }
      });
      const old = this._messageSeqs;
      this._messages = [];
      this._messageSeqs = new Set();
      for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
        this._addMessage(message, false);
      }
      if (this._appJoined) {
        for (const message of this._messages) {
          if (!old.has(message.seq)) {
            this._emit("message", message);
          }
        }
      }
    } else {
      this._changing(entries.map(e => e.key), source, () => {
        for (const entry of entries) {
          const current = this._confirmed.get(entry.key);
          if (current && current.version >= entry.version) {
            continue;
          }
          if (entry.deleted) {
            this._confirmed.delete(entry.key);
          } else {
            this._confirmed.set(entry.key, entry);
          }
        }
      });
      for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
        this._addMessage(message, true);
      }
    }
    this._hasState = true;
    if (typeof page.seq === "number") {
      this._setPosition(page.seq, source, page.full);
    }
    this._settleAcked(source);
  }

  /** Applies the held Changed events of one batch (positions from..to) in one step: one "change" per key, one "applied". */
  _applyBatch(from, to) {
    const entries = [];
    for (let p = from; p <= to; p++) {
      entries.push(this._held.get(p).item);
      this._held.delete(p);
    }
    this._changing(entries.map(e => e.key), "remote", () => {
      for (const entry of entries) {
        if (entry.deleted) {
          this._confirmed.delete(entry.key);
        } else {
          this._confirmed.set(entry.key, entry);
        }
      }
    });
    this._setPosition(to, "event", false);
    this._settleAcked("remote");
  }

  /** Whether every position from the next one to `to` is held. */
  _holdsUpTo(to) {
    for (let p = this._seq + 1; p <= to; p++) {
      if (!this._held.has(p)) {
        return false;
      }
    }
    return true;
  }

  _applyEvent(event) {
    if (event.kind === "Changed") {
      const entry = event.item;
      this._changing([entry.key], "remote", () => {
        if (entry.deleted) {
          this._confirmed.delete(entry.key);
        } else {
          this._confirmed.set(entry.key, entry);
        }
      });
      this._setPosition(event.position, "event", false);
    } else {
      this._setPosition(event.position, "event", false);
      this._addMessage(event.item, true);
    }
    this._settleAcked("remote");
  }

  /** A Changed or Posted event from the server. */
  _onEvent(kind, item) {
    const position = kind === "Changed" ? item?.version : item?.seq;
    if (!Number.isSafeInteger(position)) {
      return;
    }
    if (this._busy) {
      // A Join or a fill runs: hold everything; the answer decides what still applies.
      if (!this._held.has(position)) {
        this._held.set(position, { kind, item, position });
      }
      return;
    }
    if (position <= this._seq) {
      return; // already applied
    }
    if (!this._held.has(position)) {
      this._held.set(position, { kind, item, position });
    }
    this._drain();
  }

  /**
   * PresenceDelta: { upserts, removed, count } (or only { count } while the room is counted; full: the whole list).
   * While a Join is answered, held and merged per user: the answer's list comes first, then what was held.
   */
  _onPresence(delta) {
    if (typeof delta?.count !== "number") {
      return;
    }
    const listed = Array.isArray(delta.upserts);
    if (this._busy?.kind === "join") {
      const held = (this._heldPresence ??= { full: null, changes: new Map(), count: null });
      held.count = delta.count;
      if (listed && delta.full) {
        held.full = delta.upserts;
        held.changes.clear();
      } else if (listed) {
        for (const userId of delta.removed ?? []) {
          held.changes.set(userId, null);
        }
        for (const entry of delta.upserts) {
          held.changes.set(entry.userId, entry);
        }
      }
      return;
    }
    this._presenceCount = delta.count;
    if (listed) {
      if (delta.full) {
        this._presence.clear();
      }
      for (const userId of delta.removed ?? []) {
        this._presence.delete(userId);
      }
      for (const entry of delta.upserts) {
        this._presence.set(entry.userId, entry);
      }
    }
    this._presenceChanged();
  }

  /** AccessChanged: the user's role in the room changed; "none" means the server took the connection out. */
  _onAccess(change) {
    const role = change?.role;
    if (typeof role !== "string") {
      return;
    }
    this._role = role;
    if (this._appJoined) {
      this._emit("access", { role });
    }
    if (role === "none") {
      this.#client._revoked(this);
    }
  }

  /** The Join answer's presence, then the deltas held meanwhile. */
  _setJoinedPresence(presence, count) {
    const held = this._heldPresence;
    this._heldPresence = null;
    this._presence = new Map((held?.full ?? presence).map(entry => [entry.userId, entry]));
    this._presenceCount = count;
    if (held) {
      for (const [userId, entry] of held.changes) {
        if (entry) {
          this._presence.set(userId, entry);
        } else {
          this._presence.delete(userId);
        }
      }
      this._presenceCount = held.count ?? count;
    }
    this._presenceChanged();
  }

  _presenceChanged() {
    this._presenceList = null;
    if (this._appJoined) {
      this._emit("presence", this.presence, this._presenceCount);
    }
  }

  /** Applies held events that now follow; starts a fill when some are still ahead. */
  _drain() {
    if (this._busy) {
      return;
    }
    for (;;) {
      for (const position of [...this._held.keys()]) {
        if (position <= this._seq) {
          this._held.delete(position);
        }
      }
      const next = this._held.get(this._seq + 1);
      if (!next) {
        break;
      }
      const batch = next.kind === "Changed" ? next.item.batch : null;
      if (batch && Number.isSafeInteger(batch.to) && batch.to > next.position) {
        // A batch's entries are applied together, once all of them are here.
        if (!this._holdsUpTo(batch.to)) {
          break;
        }
        this._applyBatch(next.position, batch.to);
        continue;
      }
      this._held.delete(next.position);
      this._applyEvent(next);
    }
    const first = this._held.get(this._seq + 1);
    const awaitingBatch = first?.kind === "Changed" && first.item.batch
      && Math.max(...this._held.keys()) <= first.item.batch.to;
    if (awaitingBatch && this._fillTarget <= this._seq) {
      return; // the rest of the batch is on its way: not a gap (a later event that is not part of it shows one)
    }
    if (this._held.size > 0 || this._fillTarget > this._seq) {
      this._requestFill(0);
    } else {
      this._fillTarget = 0;
      this._fillAttempts = 0;
    }
  }

  /** Fills the gap up to at least `target` (0: up to the held events) with paged Sync; one fill at a time. */
  _requestFill(target) {
    if (target > this._fillTarget) {
      this._fillTarget = target;
    }
    if (this._busy || this._fillRetry || !this.joined) {
      return; // the running Join/fill checks again when done; a rejoin catches up anyway
    }
    if (this._held.size === 0 && this._fillTarget <= this._seq) {
      return;
    }
    this._runFill();
  }

  async _runFill() {
    const client = this.#client;
    const gen = client._gen;
    const token = { kind: "fill" };
    this._busy = token;
    const startSeq = this._seq;
    let retry = false;
    try {
      for (;;) {
        const page = await client._invoke(gen, "Sync", { roomId: this.#id, sinceSeq: this._seq });
        if (gen !== client._gen || this._released) {
          return;
        }
        this._applyPage(page, "sync");
        if (!page.hasMore) {
          break;
        }
      }
    } catch (error) {
      if (gen !== client._gen || this._released || client._isConnectionLoss(error, gen)) {
        return; // the rejoin after the reconnect catches up
      }
      const code = errorCode(error);
      if (code === "not_joined") {
        // The server lost this connection's membership: join again (with sinceSeq), which also fills.
        if (this._busy === token) {
          this._busy = null;
        }
        this._joinedGen = 0;
        this._join(gen);
        return;
      }
      retry = true;
      client._reportError(this, error);
    } finally {
      if (this._busy === token) {
        this._busy = null;
      }
    }
    const stillBehind = this._held.size > 0 || this._fillTarget > this._seq;
    if (retry || (stillBehind && this._seq === startSeq)) {
      // No progress (a temporary error, or the server is behind its own events): try again after a wait.
      const delay = backoff(client._retry, this._fillAttempts++);
      this._fillRetry = setTimeout(() => {
        this._fillRetry = null;
        this._drain();
      }, delay);
      return;
    }
    this._drain();
  }

  /** Joins on connection `gen` (with sinceSeq once it has state), applies the answer and its pages, then the held events. */
  async _join(gen) {
    const client = this.#client;
    clearTimeout(this._joinRetry);
    this._joinRetry = null;
    const token = { kind: "join" };
    this._busy = token;
    this._heldPresence = null;
    this._joinedGen = 0;
    this._attemptGen = gen;
    const request = this._hasState ? { roomId: this.#id, sinceSeq: this._seq } : { roomId: this.#id };
    let ok = false;
    try {
      let page = await client._invoke(gen, "Join", request);
      if (gen !== client._gen || this._released) {
        return false;
      }
      this._applyPage(page, "join");
      const presence = Array.isArray(page.presence) ? page.presence : [];
      const presenceCount = typeof page.presenceCount === "number" ? page.presenceCount : presence.length;
      if (typeof page.role === "string") {
        this._role = page.role;
      }
      while (page.hasMore) {
        page = await client._invoke(gen, "Sync", { roomId: this.#id, sinceSeq: this._seq });
        if (gen !== client._gen || this._released) {
          return false;
        }
        this._applyPage(page, "join");
      }
      this._joinedGen = gen;
      this._joinAttempts = 0;
      ok = true;
      if (this._busy === token) {
        this._busy = null;
      }
      this._setJoinedPresence(presence, presenceCount);
    } catch (error) {
      if (gen !== client._gen || this._released || client._isConnectionLoss(error, gen)) {
        return false; // the next connection joins again
      }
      const code = errorCode(error);
      if (code && TEMPORARY.has(code)) {
        client._reportError(this, error);
        this._joinRetry = setTimeout(() => {
          this._joinRetry = null;
          if (gen === client._gen && !this._released) {
            this._join(gen);
          }
        }, backoff(client._retry, this._joinAttempts++));
        return false;
      }
      client._roomFailed(this, hubError(error));
      return false;
    } finally {
      if (this._busy === token) {
        this._busy = null;
      }
    }
    if (ok) {
      if (this._ready) {
        this._ready.resolve(this);
        this._ready = null;
      }
      this._drain();
      client._pump();
    }
    return ok;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CollabClient
// ---------------------------------------------------------------------------------------------------------------

export class CollabClient extends Emitter {
  /**
   * @param {object} options see CollabClientOptions in collab-client.d.ts
   */
  constructor(options) {
    super();
    if (options === null || typeof options !== "object") {
      throw new TypeError("CollabClient: new CollabClient({ url, signalR?, name?, accessTokenFactory?, ... }) needs an options object");
    }
    const { url } = options;
    if (typeof url !== "string" || url.length === 0) {
      throw new TypeError(`CollabClient: option url must be the hub URL, e.g. "/hubs/collab", got ${JSON.stringify(url)}`);
    }
    const signalR = options.signalR ?? globalThis.signalR;
    if (!signalR || typeof signalR.HubConnectionBuilder !== "function") {
      throw new TypeError("CollabClient: no SignalR library: pass { signalR } (import * as signalR from \"@microsoft/signalr\") "
        + "or load the @microsoft/signalr script so that globalThis.signalR is set");
    }
    if (options.name !== undefined && options.name !== null && (typeof options.name !== "string" || options.name.length === 0)) {
      throw new TypeError(`CollabClient: option name must be a non-empty string, got ${JSON.stringify(options.name)}`);
    }
    if (options.accessTokenFactory !== undefined && typeof options.accessTokenFactory !== "function") {
      throw new TypeError("CollabClient: option accessTokenFactory must be a function returning a token (or a promise of one)");
    }
    if (options.optimistic !== undefined && typeof options.optimistic !== "boolean") {
      throw new TypeError("CollabClient: option optimistic must be a boolean");
    }
    if (options.storageKey !== undefined && options.storageKey !== null && (typeof options.storageKey !== "string" || !options.storageKey)) {
      throw new TypeError("CollabClient: option storageKey must be a non-empty string");
    }
    if (options.statefulReconnect && options.skipNegotiation) {
      throw new TypeError("CollabClient: statefulReconnect needs negotiation (SignalR agrees on it in the negotiate "
        + "request), so it cannot be combined with skipNegotiation");
    }
    const reconnect = options.reconnect ?? {};
    if (typeof reconnect !== "object") {
      throw new TypeError("CollabClient: option reconnect must be an object { baseDelayMs?, maxDelayMs?, maxAttempts? }");
    }
    this._retry = {
      baseDelayMs: nonNegativeNumber(reconnect.baseDelayMs, "reconnect.baseDelayMs", 500),
      maxDelayMs: nonNegativeNumber(reconnect.maxDelayMs, "reconnect.maxDelayMs", 10_000),
      maxAttempts: reconnect.maxAttempts === undefined || reconnect.maxAttempts === null || reconnect.maxAttempts === Infinity
        ? Infinity : positiveInteger(reconnect.maxAttempts, "reconnect.maxAttempts", Infinity),
    };

    this._signalR = signalR;
    this._url = url;
    this._name = options.name ?? null;
    this._accessTokenFactory = options.accessTokenFactory;
    this._skipNegotiation = !!options.skipNegotiation;
    const webSockets = signalR.HttpTransportType?.WebSockets ?? 1;
    this._transport = options.transport ?? webSockets;
    if (this._skipNegotiation && this._transport !== webSockets) {
      throw new TypeError("CollabClient: skipNegotiation works only with the WebSockets transport");
    }
    this._statefulReconnect = options.statefulReconnect ?? false;
    this._connectionOptions = options.connectionOptions ?? {};
    this._logger = options.logger ?? signalR.LogLevel?.None ?? 6;
    this._serverTimeoutMs = options.serverTimeoutMs;
    this._keepAliveIntervalMs = options.keepAliveIntervalMs;
    this._maxMessages = positiveInteger(options.maxMessages, "maxMessages", 1000);
    this._maxQueue = positiveInteger(options.maxQueue, "maxQueue", 1000);
    this._maxInFlight = positiveInteger(options.maxInFlight, "maxInFlight", 100);
    this._maxMessageBytes = options.maxMessageBytes === 0 ? 0 : positiveInteger(options.maxMessageBytes, "maxMessageBytes", 81_920);
    this._optimistic = options.optimistic ?? true;

    this._storageKey = options.storageKey ?? null;
    this._storage = this._storageKey ? (options.storage ?? defaultStorage()) : null;

    this._state = STATES.disconnected;
    this._conn = null;
    this._gen = 0;                    // connection generation; 0 = none
    this._live = false;               // connected and the rooms rejoined: writes may go
    this._started = false;
    this._stopped = true;
    this._loopRunning = false;
    this._sleepTimer = null;
    this._sleepWake = null;
    this._startWaiters = [];
    this._rooms = new Map();
    this._queue = [];
    this._inFlight = 0;
    this._throttleUntil = 0;

    this._restoreQueue();
  }

  /** "disconnected" | "connecting" | "connected" | "reconnecting" (docs/protocol.md, "The two SDKs"). */
  get state() {
    return this._state;
  }

  /** Writes made and not yet answered (queued or in flight), over all rooms. */
  get pending() {
    return this._queue.length;
  }

  /** The underlying HubConnection of the current connection, or null (for diagnostics and tests). */
  get connection() {
    return this._conn;
  }

  /** The rooms the app has joined. */
  get rooms() {
    return [...this._rooms.values()].filter(r => r._appJoined);
  }

  /** The joined room with this id, or undefined. */
  room(roomId) {
    const room = this._rooms.get(roomId);
    return room && room._appJoined ? room : undefined;
  }

  /**
   * Starts connecting, and retries until connected (forever by default). Resolves once connected and the rooms are
   * joined (state "connected"); rejects if stop() is called first or reconnect.maxAttempts is exhausted.
   */
  start() {
    if (this._state === STATES.connected && this._live) {
      return Promise.resolve();
    }
    const promise = handled(new Promise((resolve, reject) => this._startWaiters.push({ resolve, reject })));
    if (this._stopped) {
      this._stopped = false;
      this._started = true;
      this._setState(STATES.connecting);
      this._runLoop(0);
    }
    return promise;
  }

  /**
   * Closes the connection; state becomes "disconnected". Queued writes stay queued (and persisted): they go when the
   * client starts again, and their promises stay pending until then (see discardPending()).
   */
  async stop() {
    this._stopped = true;
    this._live = false;
    this._wake();
    this._rejectWaiters(new CollabHubError("stopped", "CollabClient: stopped before it connected"));
    for (const room of [...this._rooms.values()]) {
      clearTimeout(room._joinRetry);
      clearTimeout(room._fillRetry);
      room._joinRetry = room._fillRetry = null;
    }
    for (const item of this._queue) {
      clearTimeout(item.retryTimer);
      item.retryTimer = null;
      if (item.state !== "queued") {
        this._requeue(item);
      }
    }
    const conn = this._conn;
    this._conn = null;
    this._gen++;
    if (conn) {
      try {
        await conn.stop();
      } catch {
        // already closed
      }
    }
    this._setState(STATES.disconnected);
  }

  /**
   * Joins a room and resolves with its CollabRoom once the Join answer is applied (waits for the connection when not
   * connected). Joining a room already joined returns the same CollabRoom.
   */
  async join(roomId) {
    checkRoomId(roomId);
    if (!this._started) {
      throw new CollabHubError("not_started", "CollabClient: call start() before join()");
    }
    let room = this._rooms.get(roomId);
    if (!room || room._released) {
      room = new CollabRoom(this, roomId);
      this._rooms.set(roomId, room);
    }
    room._appJoined = true;
    if (room._hasState && !room._ready) {
      return room;
    }
    if (!room._ready) {
      let resolve;
      let reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      room._ready = { promise, resolve, reject };
      if (this._live && this._conn && room._attemptGen !== this._gen) {
        room._join(this._gen);
      }
    }
    return room._ready.promise;
  }

  /** Rejects every queued write with code "cancelled", rolls back their optimistic values, and clears the stored queue. */
  discardPending() {
    for (const item of [...this._queue]) {
      this._settle(item, null, new CollabHubError(ErrorCodes.Cancelled, "CollabClient: the write was discarded (discardPending)"));
    }
  }

  // --- connection ---------------------------------------------------------------------------------------------

  /**
   * Changes the state and emits "state" with the reason, when there is one. A failed attempt emits "reconnecting"
   * again with its error, so an app can show why it cannot connect ("connection refused") while the SDK retries.
   */
  _setState(state, error) {
    if (this._state === state && !error) {
      return;
    }
    this._state = state;
    this._emit("state", state, error ? { error } : {});
  }

  _sleep(ms) {
    return new Promise(resolve => {
      this._sleepWake = resolve;
      this._sleepTimer = setTimeout(resolve, ms);
    });
  }

  _wake() {
    clearTimeout(this._sleepTimer);
    this._sleepTimer = null;
    this._sleepWake?.();
    this._sleepWake = null;
  }

  _hubUrl() {
    if (!this._name) {
      return this._url;
    }
    const separator = this._url.includes("?") ? "&" : "?";
    return `${this._url}${separator}name=${encodeURIComponent(this._name)}`;
  }

  _build() {
    const signalR = this._signalR;
    const options = { ...this._connectionOptions };
    if (this._accessTokenFactory) {
      options.accessTokenFactory = this._accessTokenFactory;
    }
    options.transport = this._transport;
    if (this._skipNegotiation) {
      options.skipNegotiation = true;
    }
    let builder = new signalR.HubConnectionBuilder().withUrl(this._hubUrl(), options).configureLogging(this._logger);
    if (this._statefulReconnect) {
      if (typeof builder.withStatefulReconnect !== "function") {
        throw new TypeError("CollabClient: option statefulReconnect needs @microsoft/signalr 8 or later");
      }
      builder = typeof this._statefulReconnect === "object"
        ? builder.withStatefulReconnect(this._statefulReconnect)
        : builder.withStatefulReconnect();
    }
    if (this._serverTimeoutMs !== undefined) {
      builder = builder.withServerTimeout(this._serverTimeoutMs);
    }
    if (this._keepAliveIntervalMs !== undefined) {
      builder = builder.withKeepAliveInterval(this._keepAliveIntervalMs);
    }
    return builder.build();
  }

  /** Connects, retrying with backoff, then rejoins every room and sends the queue. One loop at a time. */
  async _connectLoop(firstDelayMs) {
    if (this._loopRunning) {
      return;
    }
    this._loopRunning = true;
    let attempt = this._flaps ?? 0;
    try {
      if (firstDelayMs > 0) {
        await this._sleep(firstDelayMs);
      }
      while (!this._stopped) {
        let conn;
        try {
          conn = this._build();
        } catch (error) {
          this._giveUp(error);
          return;
        }
        conn.onclose(error => this._onClose(conn, error));
        for (const name of Object.values(HubEvents)) {
          conn.on(name, (roomId, arg) => this._onServerEvent(conn, name, roomId, arg));
        }
        try {
          await conn.start();
        } catch (error) {
          if (this._stopped) {
            return;
          }
          attempt++;
          if (attempt >= this._retry.maxAttempts) {
            this._giveUp(error);
            return;
          }
          this._setState(STATES.reconnecting, error);
          await this._sleep(backoff(this._retry, attempt - 1));
          continue;
        }
        if (this._stopped) {
          conn.stop().catch(() => {});
          return;
        }
        const gen = ++this._gen;
        this._conn = conn;
        // "connected" means the connection is up, as in .NET; the rooms are rejoined next (each room's `joined`).
        this._setState(STATES.connected);
        // Join every room (rooms added meanwhile too) before any write goes.
        for (;;) {
          const todo = [...this._rooms.values()].filter(room => room._attemptGen !== gen);
          if (todo.length === 0 || gen !== this._gen) {
            break;
          }
          await Promise.all(todo.map(room => room._join(gen)));
        }
        if (this._stopped) {
          return;
        }
        if (gen !== this._gen) {
          // Closed while rejoining: wait, then connect again.
          attempt++;
          await this._sleep(backoff(this._retry, attempt - 1));
          continue;
        }
        this._live = true;
        this._connectedAt = Date.now();
        for (const waiter of this._startWaiters.splice(0)) {
          waiter.resolve();
        }
        this._pump();
        return;
      }
    } finally {
      this._loopRunning = false;
    }
  }

  _giveUp(error) {
    this._stopped = true;
    this._setState(STATES.disconnected, error);
    this._rejectWaiters(error instanceof Error ? error : new Error(String(error)));
  }

  /** Rejects start() and the join() calls still waiting for a connection; rooms never joined are dropped. */
  _rejectWaiters(error) {
    for (const waiter of this._startWaiters.splice(0)) {
      waiter.reject(error);
    }
    for (const room of [...this._rooms.values()]) {
      if (room._ready) {
        room._ready.reject(error);
        room._ready = null;
        if (!room._hasState && room._queued === 0) {
          this._release(room);
        }
      }
    }
  }

  _onClose(conn, error) {
    if (conn !== this._conn) {
      return;
    }
    this._conn = null;
    this._live = false;
    this._gen++;
    for (const item of this._queue) {
      if (item.state === "inflight") {
        this._requeue(item);
      }
    }
    for (const room of this._rooms.values()) {
      room._joinedGen = 0;
      clearTimeout(room._joinRetry);
      clearTimeout(room._fillRetry);
      room._joinRetry = room._fillRetry = null;
    }
    if (this._stopped) {
      return;
    }
    this._setState(STATES.reconnecting, error);
    // A connection that dies soon after it was made (e.g. closed at once with too_many_connections) does not reset
    // the backoff, so that such a loop slows down to the cap.
    const shortLived = Date.now() - (this._connectedAt ?? 0) < 5_000;
    this._flaps = shortLived ? (this._flaps ?? 0) + 1 : 0;
    if (this._loopRunning) {
      return; // the running loop (still rejoining) sees the new generation and connects again
    }
    // No error: the server closed the connection on purpose (a close message), e.g. an instance draining before a
    // restart, which means "reconnect now" (to another instance). A transport failure carries an error.
    const serverClosed = error === undefined || error === null;
    this._runLoop(serverClosed && !shortLived ? 0 : backoff(this._retry, this._flaps));
  }

  _runLoop(firstDelayMs) {
    this._connectLoop(firstDelayMs).catch(error => {
      // A bug, not a network failure: report it, then keep trying as the loop would.
      this._loopRunning = false;
      this._emit("error", error instanceof Error ? error : new Error(String(error)));
      if (!this._stopped && !this._conn) {
        setTimeout(() => this._runLoop(0), this._retry.maxDelayMs);
      }
    });
  }

  /** Invokes on connection `gen`; fails at once when that connection is gone. */
  _invoke(gen, method, request) {
    const conn = this._conn;
    if (!conn || gen !== this._gen) {
      return Promise.reject(new CollabHubError("connection_lost", `CollabClient: the connection closed before ${method} was sent`));
    }
    return conn.invoke(method, request);
  }

  /**
   * Whether a failed call failed on the way rather than being answered by the server: then it is sent again on the
   * next connection. A send can fail while SignalR still reports the connection as Connected (the socket is already
   * closing: "WebSocket is not in the OPEN state"); that connection is then dropped at once, so that the SDK
   * reconnects instead of waiting for SignalR to notice.
   */
  _isConnectionLoss(error, gen) {
    if (error instanceof CollabHubError && error.code === "connection_lost") {
      return true;
    }
    if (isServerError(error)) {
      return false;
    }
    if (gen === this._gen) {
      this._dropConnection(error);
    }
    return true;
  }

  /** Closes the current connection after a transport failure; the usual reconnect follows (onclose). */
  _dropConnection(error) {
    const conn = this._conn;
    if (!conn || this._dropping === conn) {
      return;
    }
    this._dropping = conn;
    const reason = error instanceof Error ? error : new Error(String(error));
    // Take it out now: later calls wait for the next connection instead of meeting the same broken one.
    this._onClose(conn, reason);
    conn.stop().catch(() => {});
  }

  _onServerEvent(conn, name, roomId, arg) {
    if (conn !== this._conn) {
      return;
    }
    const room = this._rooms.get(roomId);
    if (!room || room._released) {
      return;
    }
    switch (name) {
      case "Changed":
      case "Posted":
        room._onEvent(name, arg);
        break;
      case "PresenceDelta":
        room._onPresence(arg);
        break;
      case "AccessChanged":
        room._onAccess(arg);
        break;
      case "Signaled":
        if (room._appJoined) {
          room._emit("signal", arg);
        }
        break;
    }
  }

  _roomFailed(room, error) {
    if (room._ready) {
      room._ready.reject(error);
      room._ready = null;
    }
    room._failure = error;
    for (const item of [...this._queue]) {
      // A write in flight keeps its answer (or, if its connection drops, fails in _pump: its room is gone).
      if (item.roomId === room.roomId && item.state !== "inflight") {
        this._settle(item, null, error);
      }
    }
    room._emit("error", error);
    this._release(room);
  }

  /** The user's role in the room was revoked: the room is no longer joined, and is not rejoined after a reconnect. */
  _revoked(room) {
    room._joinedGen = 0; // the server has already taken the connection out: no Leave
    this._roomFailed(room, new CollabHubError("forbidden", `CollabClient: access to room ${room.roomId} was revoked`));
  }

  /** Reports a failed Join or Sync on the room's "error" event, unless it is temporary (it is retried). */
  _reportError(room, error) {
    const e = error instanceof CollabHubError ? error : hubError(error);
    if (!TEMPORARY.has(e.code)) {
      room?._emit("error", e);
    }
  }

  async _leave(room) {
    if (!room._appJoined) {
      return;
    }
    room._appJoined = false;
    if (room._ready) {
      room._ready.reject(new CollabHubError("left", `CollabClient: room ${room.roomId} was left before it was joined`));
      room._ready = null;
    }
    if (room._queued > 0) {
      return; // released when its last write is answered
    }
    await this._release(room);
  }

  async _release(room) {
    if (room._released) {
      return;
    }
    room._released = true;
    (this._orphans ??= new Map()).set(room.roomId, room._failure
      ?? new CollabHubError("not_joined", `CollabClient: room ${room.roomId} was left`));
    clearTimeout(room._joinRetry);
    clearTimeout(room._fillRetry);
    if (this._rooms.get(room.roomId) === room) {
      this._rooms.delete(room.roomId);
    }
    const wasJoined = room.joined;
    room._joinedGen = 0;
    if (wasJoined && this._conn) {
      try {
        await this._conn.invoke("Leave", { roomId: room.roomId });
      } catch {
        // The connection closed: its memberships ended with it.
      }
    }
  }

  // --- the write queue ----------------------------------------------------------------------------------------

  _write(room, describe) {
    let request;
    try {
      if (room._released || !room._appJoined) {
        throw new CollabHubError("not_joined", `CollabClient: room ${room.roomId} was left; join it again to write`);
      }
      request = describe();
      if (this._queue.length >= this._maxQueue) {
        throw new CollabHubError(ErrorCodes.QueueFull, `CollabClient: the write queue is full (${this._maxQueue} writes waiting)`);
      }
    } catch (error) {
      return handled(Promise.reject(error));
    }
    const item = { ...request, roomId: room.roomId, mutationId: request.mutationId ?? newMutationId() };
    try {
      checkFrame(this, item.op, this._request(item));
    } catch (error) {
      return handled(Promise.reject(error));
    }
    const promise = new Promise((resolve, reject) => {
      item.resolve = resolve;
      item.reject = reject;
    });
    this._enqueue(item);
    return handled(promise);
  }

  _enqueue(item) {
    item.state = "queued";
    item.sendId = 0;
    item.attempts = 0;
    item.retryTimer = null;
    item.settled = false;
    this._queue.push(item);
    const room = this._rooms.get(item.roomId);
    room._queued++;
    if (this._optimistic && item.op !== "Post") {
      room._addOverlay(item);
    }
    this._persist();
    this._emit("pending", this._queue.length);
    this._pump();
  }

  _request(item) {
    switch (item.op) {
      case "Set": {
        const r = { roomId: item.roomId, key: item.key, value: item.value, mutationId: item.mutationId };
        if (item.expectedVersion !== undefined) {
          r.expectedVersion = item.expectedVersion;
        }
        return r;
      }
      case "Delete": {
        const r = { roomId: item.roomId, key: item.key, mutationId: item.mutationId };
        if (item.expectedVersion !== undefined) {
          r.expectedVersion = item.expectedVersion;
        }
        return r;
      }
      case "Batch":
        return { roomId: item.roomId, ops: item.ops, mutationId: item.mutationId };
      default:
        return { roomId: item.roomId, body: item.body, mutationId: item.mutationId };
    }
  }

  /**
   * Sends queued writes in order, pipelined, stopping at the first one that cannot go yet. After a temporary refusal
   * (rate_limited, overloaded, unavailable) the window is one write for a while (stop-and-wait), so that retries
   * cannot overtake each other.
   */
  _pump() {
    if (!this._live || !this._conn) {
      return;
    }
    const window = Date.now() < this._throttleUntil ? 1 : this._maxInFlight;
    for (let i = 0; i < this._queue.length; i++) {
      const item = this._queue[i];
      if (item.state === "inflight" || item.settled) {
        continue;
      }
      if (item.state === "waiting") {
        break; // retried after a temporary error: later writes wait, so order holds
      }
      const room = this._rooms.get(item.roomId);
      if (!room || item.overtakenBy) {
        // Its room is gone (revoked, failed or left while it was in flight), or a later write of its key was applied
        // while it was on the wire and its own answer was lost: end it, then look again from the start.
        queueMicrotask(() => this._endStranded(item));
        break;
      }
      if (!room.joined || this._inFlight >= window) {
        break;
      }
      if (item.refused && this._laterSameKeyInFlight(i)) {
        break; // a later write of this key overtook it: its answer decides (see _supersede)
      }
      this._send(item);
    }
  }

  _endStranded(item) {
    if (item.settled || item.state === "inflight") {
      return;
    }
    if (item.overtakenBy) {
      this._settle(item, supersededResult(item.overtakenBy), null);
      return;
    }
    if (!this._rooms.has(item.roomId)) {
      const reason = this._orphans?.get(item.roomId)
        ?? new CollabHubError("not_joined", `CollabClient: room ${item.roomId} is not joined`);
      this._settle(item, null, item.sent
        ? new CollabHubError(reason.code, `${reason.message}; the write was sent but its answer was lost, so it may or may not have been applied`)
        : reason);
    }
  }

  /** Whether a write after queue[index] to the same key is in flight. */
  _laterSameKeyInFlight(index) {
    const item = this._queue[index];
    const keys = new Set(keysOf(item));
    if (keys.size === 0) {
      return false;
    }
    for (let j = index + 1; j < this._queue.length; j++) {
      const later = this._queue[j];
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
  _supersede(item, result, index) {
    const keys = new Set(keysOf(item));
    for (const earlier of this._queue.slice(0, index)) {
      // Only single writes are superseded: a batch is all or nothing, so it is never ended for one of its keys.
      if ((earlier.op !== "Set" && earlier.op !== "Delete") || earlier.roomId !== item.roomId || !keys.has(earlier.key)) {
        continue;
      }
      if (earlier.state === "inflight") {
        earlier.overtakenBy = result; // decided by its own answer; superseded if that is a refusal or lost
      } else {
        this._settle(earlier, supersededResult(result), null);
      }
    }
  }

  _send(item) {
    const gen = this._gen;
    const sendId = (item.sendId = (this._sendCounter = (this._sendCounter ?? 0) + 1));
    item.state = "inflight";
    item.sent = true;
    item.gen = gen;
    this._inFlight++;
    this._conn.invoke(item.op, this._request(item)).then(
      result => this._settle(item, result, null),
      error => {
        if (item.settled || item.sendId !== sendId || item.state !== "inflight") {
          return; // requeued by the close: sent again on the next connection
        }
        if (this._isConnectionLoss(error, gen)) {
          this._requeue(item); // sent again, with the same mutationId, after the reconnect
          return;
        }
        const code = parseHubError(error?.message ?? error).code;
        if (code && TEMPORARY.has(code) && item.overtakenBy) {
          this._settle(item, supersededResult(item.overtakenBy), null);
          return;
        }
        if (code && TEMPORARY.has(code)) {
          this._inFlight--;
          item.state = "waiting";
          item.refused = true;
          this._throttleUntil = Date.now() + THROTTLE_MS;
          item.retryTimer = setTimeout(() => {
            item.retryTimer = null;
            if (item.state === "waiting") {
              item.state = "queued";
              this._pump();
            }
          }, backoff({ baseDelayMs: Math.max(50, this._retry.baseDelayMs / 5), maxDelayMs: this._retry.maxDelayMs }, item.attempts++));
          return;
        }
        this._settle(item, null, hubError(error));
      });
  }

  _requeue(item) {
    if (item.state === "inflight") {
      this._inFlight--;
    }
    item.state = "queued";
    item.sendId = 0;
  }

  /** Ends a write: takes it out of the queue, updates the overlay, fills a gap its seq shows, settles the promise. */
  _settle(item, result, error) {
    if (item.settled) {
      return;
    }
    item.settled = true;
    clearTimeout(item.retryTimer);
    if (item.state === "inflight") {
      this._inFlight--;
    }
    item.state = "done";
    const i = this._queue.indexOf(item);
    if (i >= 0) {
      this._queue.splice(i, 1);
    }
    if (result && result.applied && !result.conflict && item.op !== "Post" && i > 0) {
      this._supersede(item, result, i);
    }
    const room = this._rooms.get(item.roomId);
    if (room && !room._released) {
      room._queued--;
      if (item.overlays) {
        const applied = result && result.applied && !result.conflict;
        item.overlays.forEach((op, i) => {
          if (applied) {
            const entry = item.op === "Batch" ? result.entries?.[i] : result.entry;
            room._ackOverlay(op, item.op === "Batch" ? (entry?.version ?? result.seq) : result.seq, entry);
          } else {
            room._removeOverlay(op, result && !result.conflict ? "confirm" : "rollback");
          }
        });
      }
      if (result) {
        const seq = item.op === "Post" ? result.seq : (result.applied ? result.seq : 0);
        if (Number.isSafeInteger(seq) && seq > room._seq) {
          room._requestFill(seq);
        }
      }
    }
    this._persist();
    this._emit("pending", this._queue.length);
    const outcome = {
      mutationId: item.mutationId, roomId: item.roomId, op: item.op, key: item.key,
      result: result ?? undefined, error: error ?? undefined,
    };
    this._emit("settled", outcome);
    if (error) {
      room?._emit("error", error);
      item.reject?.(error);
    } else {
      item.resolve?.(result);
    }
    if (room && !room._appJoined && room._queued === 0 && !room._released) {
      this._release(room);
    }
    this._pump();
  }

  async _signal(room, payload) {
    if (room._released || !room._appJoined) {
      throw new CollabHubError("not_joined", `CollabClient: room ${room.roomId} was left`);
    }
    checkJson(payload, "payload");
    checkFrame(this, "Signal", { roomId: room.roomId, payload });
    const gen = this._gen;
    if (!room.joined || !this._conn) {
      return false;
    }
    try {
      await this._conn.invoke("Signal", { roomId: room.roomId, payload });
      return true;
    } catch (error) {
      if (this._isConnectionLoss(error, gen)) {
        return false;
      }
      throw hubError(error);
    }
  }

  // --- persistence --------------------------------------------------------------------------------------------

  /** Stores the queue once per tick (a burst of writes is stored once, before any other event is handled). */
  _persist() {
    if (!this._storage || this._persistScheduled) {
      return;
    }
    this._persistScheduled = true;
    queueMicrotask(() => {
      this._persistScheduled = false;
      this._persistNow();
    });
  }

  _persistNow() {
    try {
      if (this._queue.length === 0) {
        this._storage.removeItem(this._storageKey);
        return;
      }
      const writes = this._queue.map(item => {
        const w = { mutationId: item.mutationId, roomId: item.roomId, op: item.op };
        if (item.op === "Post") {
          w.body = item.body;
        } else if (item.op === "Batch") {
          w.ops = item.ops;
        } else {
          w.key = item.key;
          if (item.op === "Set") {
            w.value = item.value;
          }
          if (item.expectedVersion !== undefined) {
            w.expectedVersion = item.expectedVersion;
          }
        }
        return w;
      });
      this._storage.setItem(this._storageKey, JSON.stringify({ v: 1, writes }));
    } catch (error) {
      // Quota exceeded or storage disabled: the queue still lives in memory.
      this._emit("error", new CollabHubError("storage_failed", `CollabClient: could not store the write queue (${error?.message ?? error})`, { cause: error }));
    }
  }

  _restoreQueue() {
    if (!this._storage) {
      return;
    }
    let saved;
    try {
      const text = this._storage.getItem(this._storageKey);
      saved = text ? JSON.parse(text) : null;
    } catch {
      saved = null;
    }
    if (!saved || saved.v !== 1 || !Array.isArray(saved.writes)) {
      return;
    }
    for (const w of saved.writes) {
      if (!w || typeof w.mutationId !== "string" || typeof w.roomId !== "string" || !["Set", "Delete", "Post", "Batch"].includes(w.op)
        || (w.op === "Batch" && !Array.isArray(w.ops))) {
        continue;
      }
      let room = this._rooms.get(w.roomId);
      if (!room) {
        // Kept joined (not visible in client.rooms) until its writes are answered, or the app joins it.
        room = new CollabRoom(this, w.roomId);
        this._rooms.set(w.roomId, room);
      }
      const item = { op: w.op, roomId: w.roomId, mutationId: w.mutationId, restored: true };
      if (w.op === "Post") {
        item.body = w.body;
      } else if (w.op === "Batch") {
        item.ops = w.ops;
      } else {
        item.key = w.key;
        if (w.op === "Set") {
          item.value = w.value;
        }
        if (w.expectedVersion !== undefined) {
          item.expectedVersion = w.expectedVersion;
        }
      }
      this._enqueue(item);
    }
  }
}

export default CollabClient;

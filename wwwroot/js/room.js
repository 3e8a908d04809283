// CollabRoom, the replica of one room: confirmed entries, the optimistic overlay, messages, presence, ordering,
// gap fills, and its membership (join, rejoin, leave, failure); and RoomSet, the rooms a client holds. Part of
// collab-client.js, which re-exports CollabRoom. The room's state is its own: the client's other parts (the connection
// loop in connection.js, the write queue in write-queue.js) reach it only through the members keyed by RoomInternal.

import { HubEvents, HubMethods, TEMPORARY_CODES as TEMPORARY } from "./protocol.js";
import { CollabHubError, errorCode, hubError } from "./errors.js";
import { Emitter, RoomInternal, backoff, sameView, checkJson, checkKey, checkMutationId, checkExpectedVersion, checkOps, handled } from "./internal.js";

// ---------------------------------------------------------------------------------------------------------------
// CollabRoom: the replica of one room
// ---------------------------------------------------------------------------------------------------------------

export class CollabRoom extends Emitter {
  #parts;                             // { connection, queue, rooms, maxMessages }: the client's parts (collab-client.js)
  #id;
  #seq = 0;
  #hasState = false;                  // a Join answer was applied once: later joins send sinceSeq
  #confirmed = new Map();             // key -> Entry (live only): what the server has acknowledged
  #overlay = new Map();               // key -> [op]: queued or acknowledged-but-not-yet-confirmed writes
  #messages = [];                     // sorted by seq, at most maxMessages
  #messageSeqs = new Set();
  #presence = new Map();              // userId -> PresenceEntry: the listed members
  #presenceList = [];                 // the same, sorted by userId (null when it must be made again)
  #presenceCount = 0;                 // the room's number of users (may exceed the listed ones)
  #role = null;                       // "owner" | "editor" | "viewer" from the Join answer and AccessChanged
  #held = new Map();                  // position -> { kind, item }: events waiting for their turn
  #heldPresence = null;               // PresenceDelta events merged while a Join is answered: { full, changes, count }
  #busy = null;                       // token of the Join or Sync fill that runs, or null
  #fillTarget = 0;                    // a write answer's seq the replica must reach
  #fillRetry = null;                  // timer of a fill retried after a temporary error
  #fillAttempts = 0;
  #joinRetry = null;
  #joinAttempts = 0;
  #joinedGen = 0;                     // the connection generation this room is joined on (0 = none)
  #attemptGen = 0;                    // the connection generation of the last Join sent
  #appJoined = false;                 // the app holds this room (client.join); else only queued writes keep it
  #released = false;
  #queued = 0;                        // writes of this room in the client's queue
  #ackedOps = 0;
  #ready = null;                      // { promise, resolve, reject } until the first Join answer is applied
  #failure = null;                    // why the room failed for good (its writes still queued end with it)

  /** @internal */
  constructor(parts, id) {
    super();
    this.#parts = parts;
    this.#id = id;
  }

  /** The room id. */
  get roomId() {
    return this.#id;
  }

  /** The last position (room seq) applied to the confirmed replica. */
  get seq() {
    return this.#seq;
  }

  /** Whether the room is joined on the current connection and caught up to its Join answer. */
  get joined() {
    return this.#joinedGen !== 0 && this.#joinedGen === this.#parts.connection.gen;
  }

  /** Writes of this room not yet answered. */
  get pending() {
    return this.#queued;
  }

  /** The messages kept (the most recent maxMessages), ordered by seq. A copy. */
  get messages() {
    return this.#messages.slice();
  }

  /** This user's role in the room ("owner", "editor", "viewer"), from the Join answer and AccessChanged; null before. */
  get role() {
    return this.#role;
  }

  /**
   * The room's members: [{ userId, name, connections }] sorted by userId, as last reported. In a room with more users
   * than the server lists (CollabHub:Presence:MaxListed), only part of them, as last listed: see presenceCount.
   */
  get presence() {
    this.#presenceList ??= [...this.#presence.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
    return this.#presenceList.slice();
  }

  /** How many users are in the room, as last reported (also when fewer are listed in presence). */
  get presenceCount() {
    return this.#presenceCount;
  }

  /** The entry of `key` as the app sees it (pending writes included), or undefined when absent. */
  get(key) {
    const view = this.#view(key);
    return view ?? undefined;
  }

  /** Whether `key` is present in the view. */
  has(key) {
    return this.#view(key) !== null;
  }

  /** The live entries as the app sees them (pending writes included). */
  entries() {
    const out = [];
    for (const key of this.#viewKeys()) {
      const view = this.#view(key);
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
    return this.#confirmed.get(key);
  }

  /** The confirmed live entries (no pending writes). */
  confirmedEntries() {
    return [...this.#confirmed.values()];
  }

  /**
   * Sets `key` to `value` (any JSON). Resolves with the WriteResult once acknowledged. `options.mutationId` replaces
   * the random one the SDK makes: a write made again with the same id (after a restart, say) is applied once.
   */
  set(key, value, options) {
    return this.#write(() => {
      checkKey(key);
      checkJson(value, "value");
      const expectedVersion = checkExpectedVersion(options);
      return { op: HubMethods.Set, key, value, expectedVersion, mutationId: checkMutationId(options) };
    });
  }

  /** Deletes `key` (leaves a tombstone). Resolves with the WriteResult once acknowledged. */
  delete(key, options) {
    return this.#write(() => {
      checkKey(key);
      const expectedVersion = checkExpectedVersion(options);
      return { op: HubMethods.Delete, key, expectedVersion, mutationId: checkMutationId(options) };
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
    return this.#write(() => ({ op: HubMethods.Batch, ops: checkOps(ops), mutationId: checkMutationId(options) }));
  }

  /**
   * Appends `body` (any JSON) to the message log. Resolves with the PostResult once acknowledged. `options.mutationId`
   * as set().
   */
  post(body, options) {
    return this.#write(() => {
      checkJson(body, "body");
      return { op: HubMethods.Post, body, mutationId: checkMutationId(options) };
    });
  }

  /**
   * Sends an ephemeral signal to the other connections in the room. Not queued: resolves true when the server took
   * it, false when not connected (it is dropped); rejects with a CollabHubError on a server error (e.g. too_large).
   */
  signal(payload) {
    return handled(this.#signal(payload));
  }

  /** Leaves the room. Writes of the room still queued are sent first; the Leave follows them. */
  async leave() {
    if (!this.#appJoined) {
      return;
    }
    this.#appJoined = false;
    if (this.#ready) {
      this.#ready.reject(new CollabHubError("left", `CollabClient: room ${this.#id} was left before it was joined`));
      this.#ready = null;
    }
    if (this.#queued > 0) {
      return; // released when its last write is answered
    }
    await this.#release();
  }

  // --- what the client's parts use (RoomInternal in internal.js) ------------------------------------------

  /** Whether the app holds this room (client.join); else only its queued writes keep it. */
  get [RoomInternal.appJoined]() {
    return this.#appJoined;
  }

  /**
   * client.join: the app holds the room. Resolves with it once the Join answer is applied (at once when the room has
   * state and no Join is waiting); the Join is sent now when the client is live, else by the next connection.
   */
  [RoomInternal.appJoin]() {
    this.#appJoined = true;
    if (this.#hasState && !this.#ready) {
      return this;
    }
    if (!this.#ready) {
      let resolve;
      let reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#ready = { promise, resolve, reject };
      const connection = this.#parts.connection;
      if (connection.live && this.#attemptGen !== connection.gen) {
        this.#join(connection.gen);
      }
    }
    return this.#ready.promise;
  }

  /** Whether connection `gen` has not had a Join of this room yet. */
  [RoomInternal.needsJoin](gen) {
    return this.#attemptGen !== gen;
  }

  /** Joins on connection `gen`; resolves with whether the room is joined on it (see #join). */
  [RoomInternal.join](gen) {
    return this.#join(gen);
  }

  /** An event of the hub for this room (a HubEvents name and its argument). */
  [RoomInternal.receive](name, arg) {
    if (this.#released) {
      return;
    }
    switch (name) {
      case HubEvents.Changed:
      case HubEvents.Posted:
        this.#onEvent(name, arg);
        break;
      case HubEvents.PresenceDelta:
        this.#onPresence(arg);
        break;
      case HubEvents.AccessChanged:
        this.#onAccess(arg);
        break;
      case HubEvents.Signaled:
        if (this.#appJoined) {
          this._emit("signal", arg);
        }
        break;
    }
  }

  /** The connection is gone (closed, or the client stopped): not joined, and no Join or fill retry is pending. */
  [RoomInternal.disconnected]() {
    this.#joinedGen = 0;
    clearTimeout(this.#joinRetry);
    clearTimeout(this.#fillRetry);
    this.#joinRetry = this.#fillRetry = null;
  }

  /**
   * The client gave up connecting, or stopped: a client.join() still waiting fails with `error`, and a room that never
   * had state and has no queued writes is let go of.
   */
  [RoomInternal.abandonJoin](error) {
    if (!this.#ready) {
      return;
    }
    this.#ready.reject(error);
    this.#ready = null;
    if (!this.#hasState && this.#queued === 0) {
      this.#release();
    }
  }

  /** A write of this room joined the queue: counted, and shown in the view when `optimistic` (a Post never is). */
  [RoomInternal.writeQueued](item, optimistic) {
    this.#queued++;
    if (optimistic && item.op !== HubMethods.Post) {
      this.#addOverlay(item);
    }
  }

  /** A write of this room ended with `result` (null when it failed): its overlay is confirmed or rolled back, and a gap its seq shows is filled. */
  [RoomInternal.writeAnswered](item, result) {
    this.#queued--;
    if (item.overlays) {
      const applied = result && result.applied && !result.conflict;
      item.overlays.forEach((op, i) => {
        if (applied) {
          const entry = item.op === HubMethods.Batch ? result.entries?.[i] : result.entry;
          this.#ackOverlay(op, item.op === HubMethods.Batch ? (entry?.version ?? result.seq) : result.seq, entry);
        } else {
          this.#removeOverlay(op, result && !result.conflict ? "confirm" : "rollback");
        }
      });
    }
    if (result) {
      const seq = item.op === HubMethods.Post ? result.seq : (result.applied ? result.seq : 0);
      if (Number.isSafeInteger(seq) && seq > this.#seq) {
        this.#requestFill(seq);
      }
    }
  }

  /** After a write of this room was answered and reported: its error (if any) on "error"; a room the app left goes with its last write. */
  [RoomInternal.writeSettled](error) {
    if (error) {
      this._emit("error", error);
    }
    if (!this.#appJoined && this.#queued === 0 && !this.#released) {
      this.#release();
    }
  }

  // --- membership -----------------------------------------------------------------------------------------

  #write(describe) {
    if (this.#released || !this.#appJoined) {
      return handled(Promise.reject(new CollabHubError("not_joined", `CollabClient: room ${this.#id} was left; join it again to write`)));
    }
    return this.#parts.queue.write(this.#id, describe);
  }

  async #signal(payload) {
    if (this.#released || !this.#appJoined) {
      throw new CollabHubError("not_joined", `CollabClient: room ${this.#id} was left`);
    }
    checkJson(payload, "payload");
    const connection = this.#parts.connection;
    connection.checkFrame(HubMethods.Signal, { roomId: this.#id, payload });
    const gen = connection.gen;
    if (!this.joined) {
      return false;
    }
    try {
      await connection.invoke(gen, HubMethods.Signal, { roomId: this.#id, payload });
      return true;
    } catch (error) {
      if (connection.isConnectionLoss(error, gen)) {
        return false;
      }
      throw hubError(error);
    }
  }

  /** The room failed for good (a permanent Join error, or access revoked): its waiting writes fail with `error`, then it goes. */
  #fail(error) {
    if (this.#ready) {
      this.#ready.reject(error);
      this.#ready = null;
    }
    this.#failure = error;
    // A write in flight keeps its answer (or, if its connection drops, fails in the queue's pump: its room is gone).
    this.#parts.queue.failWaiting(this.#id, error);
    this._emit("error", error);
    this.#release();
  }

  /** Reports a failed Join or Sync on "error", unless it is temporary (it is retried). */
  #reportError(error) {
    const e = error instanceof CollabHubError ? error : hubError(error);
    if (!TEMPORARY.has(e.code)) {
      this._emit("error", e);
    }
  }

  /** Lets the room go: the client forgets it (its writes still queued end with why), and Leave is sent if it was joined. */
  async #release() {
    if (this.#released) {
      return;
    }
    this.#released = true;
    this.#parts.rooms.forget(this, this.#failure ?? new CollabHubError("not_joined", `CollabClient: room ${this.#id} was left`));
    clearTimeout(this.#joinRetry);
    clearTimeout(this.#fillRetry);
    const connection = this.#parts.connection;
    const wasJoined = this.joined;
    this.#joinedGen = 0;
    if (wasJoined) {
      try {
        await connection.invoke(connection.gen, HubMethods.Leave, { roomId: this.#id });
      } catch {
        // The connection closed: its memberships ended with it.
      }
    }
  }

  // --- view (confirmed entries + optimistic overlay) ------------------------------------------------------

  #view(key) {
    const ops = this.#overlay.get(key);
    if (ops && ops.length > 0) {
      const top = ops[ops.length - 1];
      const entry = top.acked ? top.ackEntry : top.entry;
      return entry && !entry.deleted ? entry : null;
    }
    return this.#confirmed.get(key) ?? null;
  }

  #viewKeys() {
    const keys = new Set(this.#confirmed.keys());
    for (const key of this.#overlay.keys()) {
      keys.add(key);
    }
    return keys;
  }

  /** Runs fn, then emits "change" for each of `keys` whose view changed. */
  #changing(keys, source, fn) {
    const list = [...new Set(keys)];
    const before = list.map(k => this.#view(k));
    const result = fn();
    if (this.#appJoined) {
      list.forEach((key, i) => {
        const after = this.#view(key);
        if (!sameView(before[i], after)) {
          this._emit("change", { key, entry: after, previous: before[i], source });
        }
      });
    }
    return result;
  }

  /** Shows a queued Set or Delete (or every key of a Batch, together) in the view. */
  #addOverlay(item) {
    const writes = item.op === HubMethods.Batch
      ? item.ops.map(o => ({ key: o.key, set: o.op === "set", value: o.value }))
      : [{ key: item.key, set: item.op === HubMethods.Set, value: item.value }];
    item.overlays = writes.map(w => ({
      item,
      key: w.key,
      acked: false,
      ackSeq: 0,
      ackEntry: null,
      entry: { key: w.key, value: w.set ? w.value : null, version: this.#confirmed.get(w.key)?.version ?? 0, deleted: !w.set,
        by: this.#parts.connection.name ?? null, at: null, pending: true, mutationId: item.mutationId },
    }));
    this.#changing(writes.map(w => w.key), "local", () => {
      for (const op of item.overlays) {
        const ops = this.#overlay.get(op.key);
        if (ops) {
          ops.push(op);
        } else {
          this.#overlay.set(op.key, [op]);
        }
      }
    });
  }

  #removeOverlay(op, source) {
    const key = op.key;
    this.#changing([key], source, () => {
      const ops = this.#overlay.get(key);
      if (!ops) {
        return;
      }
      const i = ops.indexOf(op);
      if (i >= 0) {
        ops.splice(i, 1);
        if (op.acked) {
          this.#ackedOps--;
        }
      }
      if (ops.length === 0) {
        this.#overlay.delete(key);
      }
    });
  }

  /** An applied write's answer: show its entry until the confirmed replica reaches its seq. */
  #ackOverlay(op, seq, entry) {
    if (!entry || seq <= this.#seq) {
      this.#removeOverlay(op, "confirm");
      return;
    }
    this.#changing([op.key], "confirm", () => {
      op.acked = true;
      op.ackSeq = seq;
      op.ackEntry = entry;
      this.#ackedOps++;
    });
  }

  /** Drops acknowledged overlay ops the confirmed replica has reached. */
  #settleAcked(source) {
    if (this.#ackedOps === 0) {
      return;
    }
    for (const [, ops] of [...this.#overlay]) {
      for (const op of ops.filter(o => o.acked && o.ackSeq <= this.#seq)) {
        this.#removeOverlay(op, source);
      }
    }
  }

  // --- confirmed replica: events, pages, ordering and gaps ------------------------------------------------

  #setPosition(to, source, full) {
    const previous = this.#seq;
    this.#seq = to;
    if (previous !== to || full) {
      // The positions applied, both ends included (as .NET's AppliedRange): a full snapshot accounts for 1..to.
      this._emit("applied", { from: full ? 1 : previous + 1, to, source, full: !!full });
    }
  }

  #addMessage(message, emit) {
    if (!message || typeof message.seq !== "number" || this.#messageSeqs.has(message.seq)) {
      return;
    }
    const max = this.#parts.maxMessages;
    const list = this.#messages;
    if (list.length >= max && message.seq < list[0].seq) {
      return; // older than everything kept
    }
    let i = list.length;
    while (i > 0 && list[i - 1].seq > message.seq) {
      i--;
    }
    list.splice(i, 0, message);
    this.#messageSeqs.add(message.seq);
    while (list.length > max) {
      this.#messageSeqs.delete(list.shift().seq);
    }
    if (emit && this.#appJoined && this.#messageSeqs.has(message.seq)) {
      this._emit("message", message);
    }
  }

  /** Applies a Join or Sync answer (one page). A full page replaces entries and messages. */
  #applyPage(page, source) {
    const entries = Array.isArray(page.entries) ? page.entries : [];
    const messages = Array.isArray(page.messages) ? page.messages : [];
    if (page.full) {
      const keys = [...this.#confirmed.keys(), ...entries.map(e => e.key)];
      this.#changing(keys, source, () => {
        this.#confirmed = new Map();
        for (const entry of entries) {
          if (!entry.deleted) {
            this.#confirmed.set(entry.key, entry);
          }
        }
      });
      const old = this.#messageSeqs;
      this.#messages = [];
      this.#messageSeqs = new Set();
      for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
        this.#addMessage(message, false);
      }
      if (this.#appJoined) {
        for (const message of this.#messages) {
          if (!old.has(message.seq)) {
            this._emit("message", message);
          }
        }
      }
    } else {
      this.#changing(entries.map(e => e.key), source, () => {
        for (const entry of entries) {
          const current = this.#confirmed.get(entry.key);
          if (current && current.version >= entry.version) {
            continue;
          }
          if (entry.deleted) {
            this.#confirmed.delete(entry.key);
          } else {
            this.#confirmed.set(entry.key, entry);
          }
        }
      });
      for (const message of [...messages].sort((a, b) => a.seq - b.seq)) {
        this.#addMessage(message, true);
      }
    }
    this.#hasState = true;
    if (typeof page.seq === "number") {
      this.#setPosition(page.seq, source, page.full);
    }
    this.#settleAcked(source);
  }

  /** Applies the held Changed events of one batch (positions from..to) in one step: one "change" per key, one "applied". */
  #applyBatch(from, to) {
    const entries = [];
    for (let p = from; p <= to; p++) {
      entries.push(this.#held.get(p).item);
      this.#held.delete(p);
    }
    this.#changing(entries.map(e => e.key), "remote", () => {
      for (const entry of entries) {
        if (entry.deleted) {
          this.#confirmed.delete(entry.key);
        } else {
          this.#confirmed.set(entry.key, entry);
        }
      }
    });
    this.#setPosition(to, "event", false);
    this.#settleAcked("remote");
  }

  /** Whether every position from the next one to `to` is held. */
  #holdsUpTo(to) {
    for (let p = this.#seq + 1; p <= to; p++) {
      if (!this.#held.has(p)) {
        return false;
      }
    }
    return true;
  }

  #applyEvent(event) {
    if (event.kind === HubEvents.Changed) {
      const entry = event.item;
      this.#changing([entry.key], "remote", () => {
        if (entry.deleted) {
          this.#confirmed.delete(entry.key);
        } else {
          this.#confirmed.set(entry.key, entry);
        }
      });
      this.#setPosition(event.position, "event", false);
    } else {
      this.#setPosition(event.position, "event", false);
      this.#addMessage(event.item, true);
    }
    this.#settleAcked("remote");
  }

  /** A Changed or Posted event from the server. */
  #onEvent(kind, item) {
    const position = kind === HubEvents.Changed ? item?.version : item?.seq;
    if (!Number.isSafeInteger(position)) {
      return;
    }
    if (this.#busy) {
      // A Join or a fill runs: hold everything; the answer decides what still applies.
      if (!this.#held.has(position)) {
        this.#held.set(position, { kind, item, position });
      }
      return;
    }
    if (position <= this.#seq) {
      return; // already applied
    }
    if (!this.#held.has(position)) {
      this.#held.set(position, { kind, item, position });
    }
    this.#drain();
  }

  /**
   * PresenceDelta: { upserts, removed, count } (or only { count } while the room is counted; full: the whole list).
   * While a Join is answered, held and merged per user: the answer's list comes first, then what was held.
   */
  #onPresence(delta) {
    if (typeof delta?.count !== "number") {
      return;
    }
    const listed = Array.isArray(delta.upserts);
    if (this.#busy?.kind === "join") {
      const held = (this.#heldPresence ??= { full: null, changes: new Map(), count: null });
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
    this.#presenceCount = delta.count;
    if (listed) {
      if (delta.full) {
        this.#presence.clear();
      }
      for (const userId of delta.removed ?? []) {
        this.#presence.delete(userId);
      }
      for (const entry of delta.upserts) {
        this.#presence.set(entry.userId, entry);
      }
    }
    this.#presenceChanged();
  }

  /** AccessChanged: the user's role in the room changed; "none" means the server took the connection out. */
  #onAccess(change) {
    const role = change?.role;
    if (typeof role !== "string") {
      return;
    }
    this.#role = role;
    if (this.#appJoined) {
      this._emit("access", { role });
    }
    if (role === "none") {
      // The server has already taken the connection out: no Leave, and no rejoin after a reconnect.
      this.#joinedGen = 0;
      this.#fail(new CollabHubError("forbidden", `CollabClient: access to room ${this.#id} was revoked`));
    }
  }

  /** The Join answer's presence, then the deltas held meanwhile. */
  #setJoinedPresence(presence, count) {
    const held = this.#heldPresence;
    this.#heldPresence = null;
    this.#presence = new Map((held?.full ?? presence).map(entry => [entry.userId, entry]));
    this.#presenceCount = count;
    if (held) {
      for (const [userId, entry] of held.changes) {
        if (entry) {
          this.#presence.set(userId, entry);
        } else {
          this.#presence.delete(userId);
        }
      }
      this.#presenceCount = held.count ?? count;
    }
    this.#presenceChanged();
  }

  #presenceChanged() {
    this.#presenceList = null;
    if (this.#appJoined) {
      this._emit("presence", this.presence, this.#presenceCount);
    }
  }

  /** Applies held events that now follow; starts a fill when some are still ahead. */
  #drain() {
    if (this.#busy) {
      return;
    }
    for (;;) {
      for (const position of [...this.#held.keys()]) {
        if (position <= this.#seq) {
          this.#held.delete(position);
        }
      }
      const next = this.#held.get(this.#seq + 1);
      if (!next) {
        break;
      }
      const batch = next.kind === HubEvents.Changed ? next.item.batch : null;
      if (batch && Number.isSafeInteger(batch.to) && batch.to > next.position) {
        // A batch's entries are applied together, once all of them are here.
        if (!this.#holdsUpTo(batch.to)) {
          break;
        }
        this.#applyBatch(next.position, batch.to);
        continue;
      }
      this.#held.delete(next.position);
      this.#applyEvent(next);
    }
    const first = this.#held.get(this.#seq + 1);
    const awaitingBatch = first?.kind === HubEvents.Changed && first.item.batch
      && Math.max(...this.#held.keys()) <= first.item.batch.to;
    if (awaitingBatch && this.#fillTarget <= this.#seq) {
      return; // the rest of the batch is on its way: not a gap (a later event that is not part of it shows one)
    }
    if (this.#held.size > 0 || this.#fillTarget > this.#seq) {
      this.#requestFill(0);
    } else {
      this.#fillTarget = 0;
      this.#fillAttempts = 0;
    }
  }

  /** Fills the gap up to at least `target` (0: up to the held events) with paged Sync; one fill at a time. */
  #requestFill(target) {
    if (target > this.#fillTarget) {
      this.#fillTarget = target;
    }
    if (this.#busy || this.#fillRetry || !this.joined) {
      return; // the running Join/fill checks again when done; a rejoin catches up anyway
    }
    if (this.#held.size === 0 && this.#fillTarget <= this.#seq) {
      return;
    }
    this.#runFill();
  }

  async #runFill() {
    const connection = this.#parts.connection;
    const gen = connection.gen;
    const token = { kind: "fill" };
    this.#busy = token;
    const startSeq = this.#seq;
    let retry = false;
    try {
      for (;;) {
        const page = await connection.invoke(gen, HubMethods.Sync, { roomId: this.#id, sinceSeq: this.#seq });
        if (gen !== connection.gen || this.#released) {
          return;
        }
        this.#applyPage(page, "sync");
        if (!page.hasMore) {
          break;
        }
      }
    } catch (error) {
      if (gen !== connection.gen || this.#released || connection.isConnectionLoss(error, gen)) {
        return; // the rejoin after the reconnect catches up
      }
      const code = errorCode(error);
      if (code === "not_joined") {
        // The server lost this connection's membership: join again (with sinceSeq), which also fills.
        if (this.#busy === token) {
          this.#busy = null;
        }
        this.#joinedGen = 0;
        this.#join(gen);
        return;
      }
      retry = true;
      this.#reportError(error);
    } finally {
      if (this.#busy === token) {
        this.#busy = null;
      }
    }
    const stillBehind = this.#held.size > 0 || this.#fillTarget > this.#seq;
    if (retry || (stillBehind && this.#seq === startSeq)) {
      // No progress (a temporary error, or the server is behind its own events): try again after a wait.
      const delay = backoff(connection.retry, this.#fillAttempts++);
      this.#fillRetry = setTimeout(() => {
        this.#fillRetry = null;
        this.#drain();
      }, delay);
      return;
    }
    this.#drain();
  }

  /** Joins on connection `gen` (with sinceSeq once it has state), applies the answer and its pages, then the held events. */
  async #join(gen) {
    const connection = this.#parts.connection;
    clearTimeout(this.#joinRetry);
    this.#joinRetry = null;
    const token = { kind: "join" };
    this.#busy = token;
    this.#heldPresence = null;
    this.#joinedGen = 0;
    this.#attemptGen = gen;
    const request = this.#hasState ? { roomId: this.#id, sinceSeq: this.#seq } : { roomId: this.#id };
    let ok = false;
    try {
      let page = await connection.invoke(gen, HubMethods.Join, request);
      if (gen !== connection.gen || this.#released) {
        return false;
      }
      this.#applyPage(page, "join");
      const presence = Array.isArray(page.presence) ? page.presence : [];
      const presenceCount = typeof page.presenceCount === "number" ? page.presenceCount : presence.length;
      if (typeof page.role === "string") {
        this.#role = page.role;
      }
      while (page.hasMore) {
        page = await connection.invoke(gen, HubMethods.Sync, { roomId: this.#id, sinceSeq: this.#seq });
        if (gen !== connection.gen || this.#released) {
          return false;
        }
        this.#applyPage(page, "join");
      }
      this.#joinedGen = gen;
      this.#joinAttempts = 0;
      ok = true;
      if (this.#busy === token) {
        this.#busy = null;
      }
      this.#setJoinedPresence(presence, presenceCount);
    } catch (error) {
      if (gen !== connection.gen || this.#released || connection.isConnectionLoss(error, gen)) {
        return false; // the next connection joins again
      }
      const code = errorCode(error);
      if (code && TEMPORARY.has(code)) {
        this.#reportError(error);
        this.#joinRetry = setTimeout(() => {
          this.#joinRetry = null;
          if (gen === connection.gen && !this.#released) {
            this.#join(gen);
          }
        }, backoff(connection.retry, this.#joinAttempts++));
        return false;
      }
      this.#fail(hubError(error));
      return false;
    } finally {
      if (this.#busy === token) {
        this.#busy = null;
      }
    }
    if (ok) {
      if (this.#ready) {
        this.#ready.resolve(this);
        this.#ready = null;
      }
      this.#drain();
      this.#parts.queue.pump();
    }
    return ok;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// RoomSet: the rooms a client holds
// ---------------------------------------------------------------------------------------------------------------

/**
 * The rooms a client holds by id: those the app joined, and those only their queued writes keep (a room the app left,
 * or one a restored queue names). A room let go of leaves the set, and the set keeps why, for its writes still queued.
 */
export class RoomSet {
  #parts;
  #rooms = new Map();
  #gone = new Map();                  // roomId -> the CollabHubError the room was let go of with

  /** @param {object} parts the client's parts, as CollabRoom takes them */
  constructor(parts) {
    this.#parts = parts;
  }

  /** The room with this id, or undefined. */
  get(roomId) {
    return this.#rooms.get(roomId);
  }

  /** The room with this id, made (not joined yet) when there is none. */
  open(roomId) {
    let room = this.#rooms.get(roomId);
    if (!room) {
      room = new CollabRoom(this.#parts, roomId);
      this.#rooms.set(roomId, room);
    }
    return room;
  }

  /** The rooms the app holds (client.join). */
  heldByApp() {
    return [...this.#rooms.values()].filter(room => room[RoomInternal.appJoined]);
  }

  /** Takes out a room that lets go (CollabRoom does, as it is released), keeping why. */
  forget(room, reason) {
    this.#gone.set(room.roomId, reason);
    if (this.#rooms.get(room.roomId) === room) {
      this.#rooms.delete(room.roomId);
    }
  }

  /** Why the room with this id was let go of (a not_joined error when the client never held it). */
  whyGone(roomId) {
    return this.#gone.get(roomId) ?? new CollabHubError("not_joined", `CollabClient: room ${roomId} is not joined`);
  }

  /** Sends a Join for every room not yet joined on connection `gen`, while it is the current one; their promises. */
  rejoin(gen) {
    if (gen !== this.#parts.connection.gen) {
      return [];
    }
    return [...this.#rooms.values()].filter(room => room[RoomInternal.needsJoin](gen)).map(room => room[RoomInternal.join](gen));
  }

  /** The connection is gone: no room is joined. */
  disconnected() {
    for (const room of this.#rooms.values()) {
      room[RoomInternal.disconnected]();
    }
  }

  /** The client gave up connecting, or stopped: client.join() calls still waiting fail with `error`. */
  abandonJoins(error) {
    for (const room of [...this.#rooms.values()]) {
      room[RoomInternal.abandonJoin](error);
    }
  }
}

// CollabRoom, the replica of one room: confirmed entries, the optimistic overlay, messages, presence, ordering
// and gap fills. Part of collab-client.js, which re-exports it; the client drives it.

import { HubEvents, HubMethods, TEMPORARY_CODES as TEMPORARY } from "./protocol.js";
import { CollabHubError, errorCode, hubError } from "./errors.js";
import { Emitter, backoff, sameView, checkJson, checkKey, checkMutationId, checkExpectedVersion, checkOps, handled } from "./internal.js";

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
      return { op: HubMethods.Set, key, value, expectedVersion, mutationId: checkMutationId(options) };
    });
  }

  /** Deletes `key` (leaves a tombstone). Resolves with the WriteResult once acknowledged. */
  delete(key, options) {
    return this.#client._write(this, () => {
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
    return this.#client._write(this, () => ({ op: HubMethods.Batch, ops: checkOps(ops), mutationId: checkMutationId(options) }));
  }

  /**
   * Appends `body` (any JSON) to the message log. Resolves with the PostResult once acknowledged. `options.mutationId`
   * as set().
   */
  post(body, options) {
    return this.#client._write(this, () => {
      checkJson(body, "body");
      return { op: HubMethods.Post, body, mutationId: checkMutationId(options) };
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
    const writes = item.op === HubMethods.Batch
      ? item.ops.map(o => ({ key: o.key, set: o.op === "set", value: o.value }))
      : [{ key: item.key, set: item.op === HubMethods.Set, value: item.value }];
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
    if (event.kind === HubEvents.Changed) {
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
    const position = kind === HubEvents.Changed ? item?.version : item?.seq;
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
      const batch = next.kind === HubEvents.Changed ? next.item.batch : null;
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
    const awaitingBatch = first?.kind === HubEvents.Changed && first.item.batch
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
        const page = await client._invoke(gen, HubMethods.Sync, { roomId: this.#id, sinceSeq: this._seq });
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
      let page = await client._invoke(gen, HubMethods.Join, request);
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
        page = await client._invoke(gen, HubMethods.Sync, { roomId: this.#id, sinceSeq: this._seq });
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

// CollabHub JS SDK: rooms with a replica of their versioned store and message log, presence, signals, and an
// ordered, exactly-once write queue, over @microsoft/signalr. It follows "Client behaviour" in docs/protocol.md.
//
// ES modules with no build step, served as they are at /js/ and packed as they are: this one (the client: the
// connection loop and the write queue), room.js (CollabRoom, the replica of a room), errors.js, internal.js (shared
// helpers) and protocol.js (the contract's names). Import this one; it re-exports the rest. It takes the
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

import { ErrorCodes, HubEvents, HubMethods, TEMPORARY_CODES as TEMPORARY } from "./protocol.js";
import { CollabHubError, parseHubError, isServerError, hubError } from "./errors.js";
import { Emitter, newMutationId, backoff, positiveInteger, nonNegativeNumber, defaultStorage, checkJson, checkRoomId, checkFrame, handled } from "./internal.js";
import { keysOf, supersededResult, writeRequest, storedQueue, restoredWrites } from "./write-queue.js";
import { CollabRoom } from "./room.js";

export { CollabHubError, parseHubError, errorCode, isServerError } from "./errors.js";
export { CollabRoom } from "./room.js";

/** How long the write window stays at one after a temporary refusal. */
const THROTTLE_MS = 1_000;
const STATES = Object.freeze({ connecting: "connecting", connected: "connected", reconnecting: "reconnecting", disconnected: "disconnected" });

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
      case HubEvents.Changed:
      case HubEvents.Posted:
        room._onEvent(name, arg);
        break;
      case HubEvents.PresenceDelta:
        room._onPresence(arg);
        break;
      case HubEvents.AccessChanged:
        room._onAccess(arg);
        break;
      case HubEvents.Signaled:
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
        await this._conn.invoke(HubMethods.Leave, { roomId: room.roomId });
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
      checkFrame(this, item.op, writeRequest(item));
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
    if (this._optimistic && item.op !== HubMethods.Post) {
      room._addOverlay(item);
    }
    this._persist();
    this._emit("pending", this._queue.length);
    this._pump();
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
      if ((earlier.op !== HubMethods.Set && earlier.op !== HubMethods.Delete) || earlier.roomId !== item.roomId || !keys.has(earlier.key)) {
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
    this._conn.invoke(item.op, writeRequest(item)).then(
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
    if (result && result.applied && !result.conflict && item.op !== HubMethods.Post && i > 0) {
      this._supersede(item, result, i);
    }
    const room = this._rooms.get(item.roomId);
    if (room && !room._released) {
      room._queued--;
      if (item.overlays) {
        const applied = result && result.applied && !result.conflict;
        item.overlays.forEach((op, i) => {
          if (applied) {
            const entry = item.op === HubMethods.Batch ? result.entries?.[i] : result.entry;
            room._ackOverlay(op, item.op === HubMethods.Batch ? (entry?.version ?? result.seq) : result.seq, entry);
          } else {
            room._removeOverlay(op, result && !result.conflict ? "confirm" : "rollback");
          }
        });
      }
      if (result) {
        const seq = item.op === HubMethods.Post ? result.seq : (result.applied ? result.seq : 0);
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
    checkFrame(this, HubMethods.Signal, { roomId: room.roomId, payload });
    const gen = this._gen;
    if (!room.joined || !this._conn) {
      return false;
    }
    try {
      await this._conn.invoke(HubMethods.Signal, { roomId: room.roomId, payload });
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
      this._storage.setItem(this._storageKey, storedQueue(this._queue));
    } catch (error) {
      // Quota exceeded or storage disabled: the queue still lives in memory.
      this._emit("error", new CollabHubError("storage_failed", `CollabClient: could not store the write queue (${error?.message ?? error})`, { cause: error }));
    }
  }

  _restoreQueue() {
    if (!this._storage) {
      return;
    }
    let text;
    try {
      text = this._storage.getItem(this._storageKey);
    } catch {
      return;
    }
    for (const item of restoredWrites(text)) {
      if (!this._rooms.has(item.roomId)) {
        // Kept joined (not visible in client.rooms) until its writes are answered, or the app joins it.
        this._rooms.set(item.roomId, new CollabRoom(this, item.roomId));
      }
      this._enqueue(item);
    }
  }
}

export default CollabClient;

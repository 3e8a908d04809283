// The connection loop of the CollabHub JS SDK: builds the SignalR connection from the client's options, connects and
// reconnects with backoff, and keeps the state with the reason of the last failure. It numbers its connections
// (generations), so that the other parts can tell an answer on a closed connection from one on the current, and sizes
// the frames the server takes. Part of collab-client.js, which wires it to the rooms and the write queue (the host).

import { HubEvents } from "./protocol.js";
import { CollabHubError, argumentError, isServerError } from "./errors.js";
import { backoff, positiveInteger, nonNegativeNumber, handled, utf8Bytes } from "./internal.js";

const STATES = Object.freeze({ connecting: "connecting", connected: "connected", reconnecting: "reconnecting", disconnected: "disconnected" });

export class Connection {
  #emit;
  #host;
  #signalR;
  #url;
  #accessTokenFactory;
  #skipNegotiation;
  #transport;
  #statefulReconnect;
  #connectionOptions;
  #logger;
  #serverTimeoutMs;
  #keepAliveIntervalMs;
  #maxMessageBytes;

  /** The reconnect policy { baseDelayMs, maxDelayMs, maxAttempts }; the rooms and the write queue back off by it too. */
  retry;
  /** The name option (a Development identity), or null. */
  name;

  #state = STATES.disconnected;
  #conn = null;
  #gen = 0;                           // connection generation; 0 = none
  #live = false;                      // connected and the rooms rejoined: writes may go
  #started = false;
  #stopped = true;
  #loopRunning = false;
  #sleepTimer = null;
  #sleepWake = null;
  #startWaiters = [];
  #flaps = 0;                         // connections in a row that died soon after they were made
  #connectedAt = 0;
  #dropping = null;                   // the connection being dropped after a transport failure

  /**
   * @param {object} options the client's options (see CollabClientOptions in collab-client.d.ts); this reads those of
   *   the connection: url, signalR, name, accessTokenFactory, transport, skipNegotiation, statefulReconnect,
   *   connectionOptions, logger, serverTimeoutMs, keepAliveIntervalMs, reconnect, maxMessageBytes
   * @param {(event: string, ...args: unknown[]) => void} emit the client's events ("state", "error")
   * @param {object} host what the connection tells the client's other parts: receive(name, roomId, arg) a hub event;
   *   rejoin(gen) the Joins to wait for before writes go (none when all rooms are joined on gen); live() writes may
   *   go; lost() the connection closed; stopping() stop() was called; abandon(error) start() failed with error
   */
  constructor(options, emit, host) {
    this.#emit = emit;
    this.#host = host;
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
    if (options.statefulReconnect && options.skipNegotiation) {
      throw new TypeError("CollabClient: statefulReconnect needs negotiation (SignalR agrees on it in the negotiate "
        + "request), so it cannot be combined with skipNegotiation");
    }
    const reconnect = options.reconnect ?? {};
    if (typeof reconnect !== "object") {
      throw new TypeError("CollabClient: option reconnect must be an object { baseDelayMs?, maxDelayMs?, maxAttempts? }");
    }
    this.retry = Object.freeze({
      baseDelayMs: nonNegativeNumber(reconnect.baseDelayMs, "reconnect.baseDelayMs", 500),
      maxDelayMs: nonNegativeNumber(reconnect.maxDelayMs, "reconnect.maxDelayMs", 10_000),
      maxAttempts: reconnect.maxAttempts === undefined || reconnect.maxAttempts === null || reconnect.maxAttempts === Infinity
        ? Infinity : positiveInteger(reconnect.maxAttempts, "reconnect.maxAttempts", Infinity),
    });

    this.#signalR = signalR;
    this.#url = url;
    this.name = options.name ?? null;
    this.#accessTokenFactory = options.accessTokenFactory;
    this.#skipNegotiation = !!options.skipNegotiation;
    const webSockets = signalR.HttpTransportType?.WebSockets ?? 1;
    this.#transport = options.transport ?? webSockets;
    if (this.#skipNegotiation && this.#transport !== webSockets) {
      throw new TypeError("CollabClient: skipNegotiation works only with the WebSockets transport");
    }
    this.#statefulReconnect = options.statefulReconnect ?? false;
    this.#connectionOptions = options.connectionOptions ?? {};
    this.#logger = options.logger ?? signalR.LogLevel?.None ?? 6;
    this.#serverTimeoutMs = options.serverTimeoutMs;
    this.#keepAliveIntervalMs = options.keepAliveIntervalMs;
    this.#maxMessageBytes = options.maxMessageBytes === 0 ? 0 : positiveInteger(options.maxMessageBytes, "maxMessageBytes", 81_920);
  }

  /** "disconnected" | "connecting" | "connected" | "reconnecting" (docs/protocol.md, "The two SDKs"). */
  get state() {
    return this.#state;
  }

  /** Whether start() was ever called. */
  get started() {
    return this.#started;
  }

  /** See CollabClient.start. */
  start() {
    if (this.#state === STATES.connected && this.#live) {
      return Promise.resolve();
    }
    const promise = handled(new Promise((resolve, reject) => this.#startWaiters.push({ resolve, reject })));
    if (this.#stopped) {
      this.#stopped = false;
      this.#started = true;
      this.#setState(STATES.connecting);
      this.#runLoop(0);
    }
    return promise;
  }

  /** Connected and the rooms rejoined: writes may go. */
  get live() {
    return this.#live;
  }

  /** See CollabClient.stop. */
  async stop() {
    this.#stopped = true;
    this.#live = false;
    this.#wake();
    this.#abandon(new CollabHubError("stopped", "CollabClient: stopped before it connected"));
    this.#host.stopping();
    const conn = this.#conn;
    this.#conn = null;
    this.#gen++;
    if (conn) {
      try {
        await conn.stop();
      } catch {
        // already closed
      }
    }
    this.#setState(STATES.disconnected);
  }

  /** The HubConnection of the current connection, or null. */
  get current() {
    return this.#conn;
  }

  /** The current connection's generation: it grows with each connection made and each one closed. */
  get gen() {
    return this.#gen;
  }

  /** Invokes on connection `gen`; fails at once when that connection is gone. */
  invoke(gen, method, request) {
    const conn = this.#conn;
    if (!conn || gen !== this.#gen) {
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
  isConnectionLoss(error, gen) {
    if (error instanceof CollabHubError && error.code === "connection_lost") {
      return true;
    }
    if (isServerError(error)) {
      return false;
    }
    if (gen === this.#gen) {
      this.#dropConnection(error);
    }
    return true;
  }

  /** Fails a call whose SignalR frame would be larger than the server takes (the server would close the connection). */
  checkFrame(method, request) {
    const limit = this.#maxMessageBytes;
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

  /**
   * Changes the state and emits "state" with the reason, when there is one. A failed attempt emits "reconnecting"
   * again with its error, so an app can show why it cannot connect ("connection refused") while the SDK retries.
   */
  #setState(state, error) {
    if (this.#state === state && !error) {
      return;
    }
    this.#state = state;
    this.#emit("state", state, error ? { error } : {});
  }

  #sleep(ms) {
    return new Promise(resolve => {
      this.#sleepWake = resolve;
      this.#sleepTimer = setTimeout(resolve, ms);
    });
  }

  #wake() {
    clearTimeout(this.#sleepTimer);
    this.#sleepTimer = null;
    this.#sleepWake?.();
    this.#sleepWake = null;
  }

  #hubUrl() {
    if (!this.name) {
      return this.#url;
    }
    const separator = this.#url.includes("?") ? "&" : "?";
    return `${this.#url}${separator}name=${encodeURIComponent(this.name)}`;
  }

  #build() {
    const signalR = this.#signalR;
    const options = { ...this.#connectionOptions };
    if (this.#accessTokenFactory) {
      options.accessTokenFactory = this.#accessTokenFactory;
    }
    options.transport = this.#transport;
    if (this.#skipNegotiation) {
      options.skipNegotiation = true;
    }
    let builder = new signalR.HubConnectionBuilder().withUrl(this.#hubUrl(), options).configureLogging(this.#logger);
    if (this.#statefulReconnect) {
      if (typeof builder.withStatefulReconnect !== "function") {
        throw new TypeError("CollabClient: option statefulReconnect needs @microsoft/signalr 8 or later");
      }
      builder = typeof this.#statefulReconnect === "object"
        ? builder.withStatefulReconnect(this.#statefulReconnect)
        : builder.withStatefulReconnect();
    }
    if (this.#serverTimeoutMs !== undefined) {
      builder = builder.withServerTimeout(this.#serverTimeoutMs);
    }
    if (this.#keepAliveIntervalMs !== undefined) {
      builder = builder.withKeepAliveInterval(this.#keepAliveIntervalMs);
    }
    return builder.build();
  }

  /** Connects, retrying with backoff, then rejoins every room and lets the writes go. One loop at a time. */
  async #connectLoop(firstDelayMs) {
    if (this.#loopRunning) {
      return;
    }
    this.#loopRunning = true;
    let attempt = this.#flaps;
    try {
      if (firstDelayMs > 0) {
        await this.#sleep(firstDelayMs);
      }
      while (!this.#stopped) {
        let conn;
        try {
          conn = this.#build();
        } catch (error) {
          this.#giveUp(error);
          return;
        }
        conn.onclose(error => this.#onClose(conn, error));
        for (const name of Object.values(HubEvents)) {
          conn.on(name, (roomId, arg) => {
            if (conn === this.#conn) {
              this.#host.receive(name, roomId, arg);
            }
          });
        }
        try {
          await conn.start();
        } catch (error) {
          if (this.#stopped) {
            return;
          }
          attempt++;
          if (attempt >= this.retry.maxAttempts) {
            this.#giveUp(error);
            return;
          }
          this.#setState(STATES.reconnecting, error);
          await this.#sleep(backoff(this.retry, attempt - 1));
          continue;
        }
        if (this.#stopped) {
          conn.stop().catch(() => {});
          return;
        }
        const gen = ++this.#gen;
        this.#conn = conn;
        // "connected" means the connection is up, as in .NET; the rooms are rejoined next (each room's `joined`).
        this.#setState(STATES.connected);
        // Join every room (rooms added meanwhile too) before any write goes.
        for (let joins = this.#host.rejoin(gen); joins.length > 0; joins = this.#host.rejoin(gen)) {
          await Promise.all(joins);
        }
        if (this.#stopped) {
          return;
        }
        if (gen !== this.#gen) {
          // Closed while rejoining: wait, then connect again.
          attempt++;
          await this.#sleep(backoff(this.retry, attempt - 1));
          continue;
        }
        this.#live = true;
        this.#connectedAt = Date.now();
        for (const waiter of this.#startWaiters.splice(0)) {
          waiter.resolve();
        }
        this.#host.live();
        return;
      }
    } finally {
      this.#loopRunning = false;
    }
  }

  #giveUp(error) {
    this.#stopped = true;
    this.#setState(STATES.disconnected, error);
    this.#abandon(error instanceof Error ? error : new Error(String(error)));
  }

  /** Rejects start() and (through the host) the join() calls still waiting for a connection. */
  #abandon(error) {
    for (const waiter of this.#startWaiters.splice(0)) {
      waiter.reject(error);
    }
    this.#host.abandon(error);
  }

  #onClose(conn, error) {
    if (conn !== this.#conn) {
      return;
    }
    this.#conn = null;
    this.#live = false;
    this.#gen++;
    this.#host.lost();
    if (this.#stopped) {
      return;
    }
    this.#setState(STATES.reconnecting, error);
    // A connection that dies soon after it was made (e.g. closed at once with too_many_connections) does not reset
    // the backoff, so that such a loop slows down to the cap.
    const shortLived = Date.now() - this.#connectedAt < 5_000;
    this.#flaps = shortLived ? this.#flaps + 1 : 0;
    if (this.#loopRunning) {
      return; // the running loop (still rejoining) sees the new generation and connects again
    }
    // No error: the server closed the connection on purpose (a close message), e.g. an instance draining before a
    // restart, which means "reconnect now" (to another instance). A transport failure carries an error.
    const serverClosed = error === undefined || error === null;
    this.#runLoop(serverClosed && !shortLived ? 0 : backoff(this.retry, this.#flaps));
  }

  #runLoop(firstDelayMs) {
    this.#connectLoop(firstDelayMs).catch(error => {
      // A bug, not a network failure: report it, then keep trying as the loop would.
      this.#loopRunning = false;
      this.#emit("error", error instanceof Error ? error : new Error(String(error)));
      if (!this.#stopped && !this.#conn) {
        setTimeout(() => this.#runLoop(0), this.retry.maxDelayMs);
      }
    });
  }

  /** Closes the current connection after a transport failure; the usual reconnect follows (onclose). */
  #dropConnection(error) {
    const conn = this.#conn;
    if (!conn || this.#dropping === conn) {
      return;
    }
    this.#dropping = conn;
    const reason = error instanceof Error ? error : new Error(String(error));
    // Take it out now: later calls wait for the next connection instead of meeting the same broken one.
    this.#onClose(conn, reason);
    conn.stop().catch(() => {});
  }
}

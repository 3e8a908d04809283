// Types of collab-client.js, the CollabHub JS SDK. It follows "Client behaviour" in docs/protocol.md: reconnect
// with backoff, rejoin with sinceSeq, gapless ordering of events, one ordered exactly-once write queue, optimistic
// apply. No build step: import the .js as an ES module; pass @microsoft/signalr as the `signalR` option or load
// its script build first (globalThis.signalR).
//
// Errors: every failure the app sees is a CollabHubError with a `code`:
//   - server codes (permanent, the call fails for good): invalid_argument, invalid_room, invalid_key, too_large,
//     not_joined, mutation_reused, forbidden, too_many_rooms, too_many_keys; a code the SDK does not know is treated
//     as permanent; "unknown" when the server's error carried no code (e.g. "Failed to invoke 'Set' due to an error
//     on the server.");
//   - temporary server codes (overloaded, unavailable, rate_limited) and lost connections never reach the app:
//     the call is retried with the same mutationId;
//   - client codes: queue_full (the write queue is full; nothing was queued), not_started (join() before start()),
//     stopped (stop() was called before start()/join() completed), left (leave() before the join completed),
//     cancelled (discardPending()), storage_failed (the queue could not be persisted; emitted as an "error" event).
// A write whose room went away (access revoked, the room's rejoin failed for good) while it was on the wire and
// whose answer was lost with the connection fails with the room's error, its message saying that it may or may not
// have been applied.
//
// Ordering: writes are sent in the order they were made, several at a time (pipelined), and sent again in that order
// after a reconnect, so they are applied in that order. One exception: a write refused for a while (rate_limited,
// overloaded, unavailable) is retried, and writes already on the wire behind it may be applied first. The SDK then
// sends one write at a time for a second, so that retries keep their order, and a retried Set/Delete never
// overwrites a later write of the same key that overtook it: it ends with `superseded: true` instead (not sent
// again). Posts and writes of other keys refused this way may land after later ones.
//
// Argument errors use the server's codes (invalid_room, invalid_key, invalid_argument) and reject the returned
// promise; constructor option errors throw a TypeError.

/** The JSON values the hub stores. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One key of a room's store, as the server sends it. */
export interface Entry {
  key: string;
  value: Json;
  /** The room seq of the key's last write. */
  version: number;
  /** A tombstone (only inside WriteResult.entry; the replica drops deleted keys). */
  deleted: boolean;
  /** User id of the last writer. */
  by: string;
  /** ISO 8601 commit time. */
  at: string;
}

/** An entry of the view that is a queued (not yet answered) write; `version` is the confirmed version it replaces. */
export interface PendingEntry extends Omit<Entry, "at" | "by"> {
  pending: true;
  mutationId: string;
  by: string | null;
  at: null;
}

/** What room.get()/entries() return: a confirmed Entry, or a PendingEntry when a queued write is shown. */
export type ViewEntry = Entry | PendingEntry;

export interface Message {
  seq: number;
  /** 32 hex digits, made by the server. */
  id: string;
  body: Json;
  by: string;
  at: string;
}

export interface PresenceEntry {
  userId: string;
  name: string;
  connections: number;
}

/**
 * The PresenceDelta event's argument: who arrived or changed (whole entries) and who left, coalesced per room; only
 * `count` while the room has more users than the server lists; `full` when `upserts` is the whole list.
 */
export interface PresenceDelta {
  upserts?: PresenceEntry[];
  removed?: string[];
  count: number;
  full?: boolean;
}

export interface SignalEvent {
  /** Sender's user id. */
  from: string;
  name: string;
  /** Opaque tag of the sender's connection (tells two tabs of one user apart; addresses nothing). */
  tag: string;
  payload: Json;
}

/** One operation of a batch: a set or a delete of one key. */
export type BatchOp =
  | { op: "set"; key: string; value: Json; expectedVersion?: number }
  | { op: "delete"; key: string; expectedVersion?: number };

/** The seqs a batch took, on the entries of its Changed events and of its BatchResult. */
export interface BatchRange {
  from: number;
  to: number;
}

export interface BatchResult {
  /** Every operation was applied. */
  applied: boolean;
  /** A replay of the first answer for this mutationId. */
  duplicate: boolean;
  /** An expectedVersion did not match; nothing was stored. A conflict resolves the promise; it is not an error. */
  conflict: boolean;
  /** When applied, the seq of the last operation; otherwise the room's seq when it was refused. */
  seq: number;
  /**
   * When applied, the entry each operation left, in order (each with `batch`); on a conflict, the current entries of
   * the keys whose expectedVersion did not match (a key that never existed has none).
   */
  entries: (Entry & { batch?: BatchRange })[];
}

export interface WriteResult {
  /** This call changed the store. */
  applied: boolean;
  /**
   * Client-side only: the write was refused for a while (e.g. rate_limited) and a later write of this client to the
   * same key was applied meanwhile, so it was not sent again (it would have overwritten the newer value).
   * `applied` is false; `seq` and `entry` are the later write's.
   */
  superseded?: boolean;
  /** A replay of the first answer for this mutationId (the write had reached the server before). */
  duplicate: boolean;
  /** expectedVersion did not match; nothing was stored. A conflict resolves the promise; it is not an error. */
  conflict: boolean;
  /** The seq the write took when applied; otherwise the room's seq when it was refused. */
  seq: number;
  /** The key as it now stands (on a conflict: the entry that won), or null when the key never existed. */
  entry: Entry | null;
}

export interface PostResult {
  seq: number;
  message: Message;
  duplicate: boolean;
}

export interface WriteOptions {
  /** Compare-and-set: apply only if the key's current version is this (0 = the key must not exist). */
  expectedVersion?: number;
  /** The write's exactly-once id; the SDK makes a random one when absent. The same id again is applied once. */
  mutationId?: string;
}

/** Options of post() and batch(). */
export interface PostOptions {
  /** As WriteOptions.mutationId. */
  mutationId?: string;
}

/**
 * "connecting": the first attempt after start(); "connected": the connection is up (rooms are rejoined next: see each
 * room's `joined`); "reconnecting": the connection dropped or an attempt failed, trying again after a backoff;
 * "disconnected": not started, stopped, or reconnect.maxAttempts ran out. As .NET's CollabClientState.
 */
export type ConnectionState = "disconnected" | "connecting" | "connected" | "reconnecting";

export type ChangeSource =
  | "remote"    // a Changed event
  | "join"      // a Join answer (or one of its Sync pages)
  | "sync"      // a gap fill (Sync)
  | "local"     // an optimistic write was queued
  | "confirm"   // a write was answered (its value is now the acknowledged one, or a no-op delete)
  | "rollback"; // a write conflicted or failed: the view went back

export interface ChangeEvent {
  key: string;
  /** The entry as the view now shows it; null when the key is absent. */
  entry: ViewEntry | null;
  /** The entry the view showed before; null when absent. */
  previous: ViewEntry | null;
  source: ChangeSource;
}

/**
 * The confirmed replica applied positions `from` to `to`, both included (as .NET's AppliedRange). Consecutive events
 * that are not full chain: each `from` is the previous `to` + 1, and `to >= from`. A full snapshot (`full: true`)
 * replaces the room's state: `from` is 1 and `to` the room's seq (0 for an empty room).
 */
export interface AppliedEvent {
  from: number;
  to: number;
  source: "event" | "join" | "sync";
  full: boolean;
}

/** Reported by client.on("settled") for every write, including writes restored from storage (no promise). */
export interface SettledEvent {
  mutationId: string;
  roomId: string;
  op: "Set" | "Delete" | "Post" | "Batch";
  key?: string;
  result?: WriteResult | PostResult | BatchResult;
  error?: CollabHubError;
}

export interface StateDetail {
  /**
   * Why the connection dropped or an attempt failed, when known. Every failed attempt emits "reconnecting" again with
   * its error, so an app can show "server unreachable: <error.message>" while the SDK retries.
   */
  error?: Error;
}

/** The reconnect policy: exponential backoff with full jitter (each wait is random in [0, min(max, base * 2^n))). */
export interface ReconnectOptions {
  /** Default 500. */
  baseDelayMs?: number;
  /** Default 10000. */
  maxDelayMs?: number;
  /** Failed attempts in a row before giving up (state "disconnected"). Default Infinity: never give up. */
  maxAttempts?: number;
}

/** Persistence for the write queue: localStorage's shape. */
export interface QueueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface CollabClientOptions {
  /** The hub URL, e.g. "/hubs/collab" or "https://host/hubs/collab". */
  url: string;
  /** The @microsoft/signalr module (import * as signalR from "@microsoft/signalr"). Default: globalThis.signalR. */
  signalR?: unknown;
  /** Development identity: appended as ?name=... (the server accepts it only in its Development environment). */
  name?: string;
  /** Bearer token for the connection (SignalR's accessTokenFactory). */
  accessTokenFactory?: () => string | Promise<string>;
  /** Open the WebSocket directly, without POST /negotiate (the load-balancer set-up). Default false. */
  skipNegotiation?: boolean;
  /**
   * SignalR transports to allow (HttpTransportType flags). Default: WebSockets only. Allowing ServerSentEvents or
   * LongPolling lets SignalR fall back when WebSockets fail; note that @microsoft/signalr 10.0.11 leaks an
   * EventSource that retries forever when its SSE fallback fails to connect.
   */
  transport?: number;
  /**
   * Use SignalR's stateful reconnect (builder.withStatefulReconnect(options)): a dropped WebSocket is resumed on the
   * same connection, with nothing lost, and the SDK sees no disconnect. Needs negotiation (not with skipNegotiation).
   * When resuming fails, the SDK's own reconnect takes over. Default false.
   */
  statefulReconnect?: boolean | { bufferSize?: number };
  /** The reconnect policy (also for a first start that fails). */
  reconnect?: ReconnectOptions;
  /** Passed to SignalR's configureLogging (a LogLevel or an ILogger). Default LogLevel.None: no console output. */
  logger?: unknown;
  /** SignalR's serverTimeoutInMilliseconds (default 30000). */
  serverTimeoutMs?: number;
  /** SignalR's keepAliveIntervalInMilliseconds (default 15000). */
  keepAliveIntervalMs?: number;
  /** Extra IHttpConnectionOptions for withUrl (headers, withCredentials, ...). */
  connectionOptions?: Record<string, unknown>;
  /** Messages kept per room, the most recent by seq. Default 1000. */
  maxMessages?: number;
  /** Writes waiting for an answer, over all rooms. Default 1000; beyond it a write fails with code "queue_full". */
  maxQueuedWrites?: number;
  /** Writes sent without an answer yet, at most (pipelining window). Default 100. */
  maxInFlight?: number;
  /**
   * The largest value (a set's value, a post's body, each value of a batch) in bytes of JSON, as the server's
   * CollabHub:Limits:MaxValueBytes (and MaxBodyBytes). A larger one fails at once with code "too_large" and is not
   * queued. Raise it with the server's limits. Default 65536, as the .NET SDK's MaxValueBytes.
   */
  maxValueBytes?: number;
  /**
   * The largest SignalR message the server takes (its MaxHubMessageBytes: 81920 with the default limits). A write or
   * signal whose message would be larger fails at once with code "too_large" instead of being sent: the server would
   * close the connection without an answer, and a queued write would be resent after every reconnect. Raise it with
   * the server's limits; 0 turns the check off. Default 81920.
   */
  maxMessageBytes?: number;
  /** Show queued Set/Delete in room.get()/entries() at once. Default true. */
  optimistic?: boolean;
  /**
   * Persist the write queue under this key (in the browser's localStorage, or `storage`) and re-send it after a
   * reload. Absent, or no storage (not a browser): memory only. Use one key per tab/app instance.
   */
  storageKey?: string;
  /** The storage for storageKey. Default: window.localStorage in a browser, none elsewhere. */
  storage?: QueueStorage;
}

export declare class CollabHubError extends Error {
  constructor(code: string, message: string, options?: { cause?: unknown });
  readonly code: string;
}

/** Reads a hub error message: the text after the FIRST "HubException: " (or all of it), and its code (or null). */
export declare function parseHubError(message: string | Error): { code: string | null; text: string };

/**
 * Whether a failed SignalR call was answered by the server (a hub error, or SignalR's server-side wording such as
 * "Failed to invoke 'X' ..."), as opposed to failing on the way (a send on a closing socket, a call cancelled by a
 * closing connection). The SDK retries the latter on the next connection, and drops a connection SignalR still
 * believes is open when a send on it fails.
 */
export declare function isServerError(error: unknown): boolean;

/** The code of an error: a CollabHubError's code, or the hub code in its message, or null. */
export declare function errorCode(error: unknown): string | null;

interface Events<M> {
  /** Adds a handler; returns a function that removes it. A handler that throws is reported (reportError), not rethrown. */
  on<K extends keyof M>(event: K, handler: M[K]): () => void;
  off<K extends keyof M>(event: K, handler: M[K]): void;
  once<K extends keyof M>(event: K, handler: M[K]): () => void;
}

export interface RoomEvents {
  /** The view of a key changed (a remote change, a page, an optimistic write, its answer, or a rollback). */
  change: (event: ChangeEvent) => void;
  /** A message was added (from an event, a page, or a gap fill), once per seq. */
  message: (message: Message) => void;
  /**
   * The room's members or their count changed (from the Join answer, or a coalesced PresenceDelta): the listed
   * members sorted by userId, and the room's number of users (more than listed above the server's MaxListed).
   */
  presence: (presence: PresenceEntry[], count: number) => void;
  /** Another connection in the room sent a signal. */
  signal: (signal: SignalEvent) => void;
  /** The confirmed replica's position moved (for tests and diagnostics: no gap, no repeat). */
  applied: (event: AppliedEvent) => void;
  /**
   * This user's role in the room changed (AccessChanged, from an owner's Grant in a private room). With "none" the
   * server has taken the connection out of the room: the CollabRoom is dropped (not rejoined after a reconnect), its
   * queued writes fail with "forbidden", and an "error" event follows.
   */
  access: (event: { role: "owner" | "editor" | "viewer" | "none" }) => void;
  /**
   * A write of this room failed for good, a rejoin failed for good (the room is dropped), or a gap fill failed with a
   * permanent error (it is retried). Temporary errors (rate_limited, overloaded, unavailable) are retried silently.
   */
  error: (error: CollabHubError) => void;
}

export declare class CollabRoom implements Events<RoomEvents> {
  private constructor();
  /** The room id. */
  readonly roomId: string;
  /** The last position applied to the confirmed replica. */
  readonly seq: number;
  /** Joined on the current connection and caught up to its Join answer. */
  readonly joined: boolean;
  /** This room's writes not yet answered. */
  readonly pending: number;
  /** The kept messages (the most recent maxMessages), by seq. A copy. */
  readonly messages: Message[];
  /**
   * The members as last reported, sorted by userId. A copy. Above the server's MaxListed users, only part of them
   * (as last listed): presenceCount has the number.
   */
  readonly presence: PresenceEntry[];
  /** The room's number of users, as last reported. */
  readonly presenceCount: number;
  /** This user's role in the room (JoinResult.role, then AccessChanged); "editor" in open rooms; null before the join. */
  readonly role: "owner" | "editor" | "viewer" | "none" | null;

  /** The view of a key (queued writes shown when optimistic), or undefined when absent. */
  get(key: string): ViewEntry | undefined;
  has(key: string): boolean;
  /** The live entries of the view. */
  entries(): ViewEntry[];
  keys(): string[];
  /** The confirmed entry of a key: what events, Join and Sync brought (never the pending layer). */
  getConfirmed(key: string): Entry | undefined;
  /** The confirmed live entries. */
  confirmedEntries(): Entry[];

  /**
   * Queues a Set (with a new mutationId) and resolves with its WriteResult once the server answered; a conflict is a
   * result. Rejects with a CollabHubError for a permanent error, or at once with code "queue_full". Queued writes
   * survive disconnects and are sent again in order with the same mutationId. The returned promise is marked handled:
   * an unawaited failing write does not raise an unhandled rejection (it is also reported by the "error" event).
   */
  set(key: string, value: Json, options?: WriteOptions): Promise<WriteResult>;
  /** Queues a Delete; as set(). Deleting an absent key resolves with applied: false, conflict: false. */
  delete(key: string, options?: WriteOptions): Promise<WriteResult>;
  /** Queues a Post; as set(). The message shows in `messages` when its event (or a Sync) arrives. */
  post(body: Json, options?: PostOptions): Promise<PostResult>;
  /**
   * Queues a Batch: sets and deletes several keys at once, all or none, each key at most once; as set(). The view
   * shows all its keys at once, and replicas apply its entries together (one "applied" for the whole batch).
   */
  batch(ops: BatchOp[], options?: PostOptions): Promise<BatchResult>;
  /**
   * Sends an ephemeral signal (not queued, never stored). Resolves true when the server took it, false when not
   * connected (dropped); rejects with a CollabHubError on a server error such as too_large. Marked handled, as set().
   */
  signal(payload: Json): Promise<boolean>;
  /**
   * Leaves the room: events stop at once and writes on this CollabRoom fail with code "not_joined". Writes of the room
   * still queued are sent first (the room stays joined underneath until they are answered), then Leave is sent.
   */
  leave(): Promise<void>;

  on<K extends keyof RoomEvents>(event: K, handler: RoomEvents[K]): () => void;
  off<K extends keyof RoomEvents>(event: K, handler: RoomEvents[K]): void;
  once<K extends keyof RoomEvents>(event: K, handler: RoomEvents[K]): () => void;
}

export interface ClientEvents {
  /** The connection state changed, or a failed attempt gave a new reason (detail.error) while "reconnecting". */
  state: (state: ConnectionState, detail: StateDetail) => void;
  /** The number of writes waiting for an answer changed. */
  pending: (count: number) => void;
  /** A write was answered or failed for good (restored writes included). */
  settled: (event: SettledEvent) => void;
  /** Client-level problems: storage_failed, or an internal error in the connect loop. */
  error: (error: Error) => void;
}

export declare class CollabClient implements Events<ClientEvents> {
  /** Throws a TypeError for bad options. Restores a persisted queue (see storageKey) at once: `pending` counts it. */
  constructor(options: CollabClientOptions);
  /**
   * "disconnected" until start(), then "connecting"; "reconnecting" while a connection is being (re)made after a failure. A connection
   * the server closes right after it was made (e.g. too_many_connections) keeps the backoff growing to its cap.
   */
  readonly state: ConnectionState;
  /** Writes made and not yet answered, over all rooms. */
  readonly pending: number;
  /** The current SignalR HubConnection, or null (diagnostics and tests). */
  readonly connection: unknown;
  /** The rooms the app has joined. */
  readonly rooms: CollabRoom[];
  room(roomId: string): CollabRoom | undefined;

  /**
   * Starts connecting, retrying with the reconnect policy (forever by default, a failed first attempt included).
   * Resolves once connected and every room is rejoined (state "connected"), which may take as long as the network
   * is down: don't await it if the app must work offline (writes queue anyway). Rejects with code "stopped" if
   * stop() comes first, or with the last error if reconnect.maxAttempts is exhausted. Marked handled.
   */
  start(): Promise<void>;
  /**
   * Closes the connection (state "disconnected"). Queued writes stay queued (and persisted); they are sent when the
   * client starts again, and their promises stay pending until then (discardPending() drops them).
   */
  stop(): Promise<void>;
  /**
   * Joins a room; resolves with its CollabRoom once the Join answer (and its pages) is applied, waiting for the connection
   * when not connected. Joining a joined room returns the same CollabRoom. Rejects with invalid_room (bad id),
   * too_many_rooms, not_started (before start()), stopped, left.
   */
  join(roomId: string): Promise<CollabRoom>;
  /**
   * Fails every queued write with code "cancelled" (rolling back their optimistic values) and clears the stored
   * queue. A write already sent may still be applied by the server.
   */
  discardPending(): void;

  on<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): () => void;
  off<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): void;
  once<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): () => void;
}

export default CollabClient;

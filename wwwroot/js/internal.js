// Helpers shared by the modules of the CollabHub JS SDK (not part of its public API): events, argument checks,
// backoff, and the room's interface to the client's other parts. Part of collab-client.js.

import { ROOM_ID_PATTERN as ROOM_ID } from "./protocol.js";
import { argumentError } from "./errors.js";

// ---------------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------------

export class Emitter {
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

export function reportAppError(error) {
  if (typeof globalThis.reportError === "function") {
    globalThis.reportError(error);
  } else {
    setTimeout(() => {
      throw error;
    });
  }
}

export function newMutationId() {
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
export function backoff(policy, attempt) {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(Math.random() * step);
}

export function positiveInteger(value, name, fallback) {
  if (value === undefined || value === null) {
    return fallback;
  }
  if (!Number.isInteger(value) || value < 1) {
    throw new TypeError(`CollabClient: option ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function nonNegativeNumber(value, name, fallback) {
  if (value === undefined || value === null) {
    return fallback;
  }
  if (typeof value !== "number" || !(value >= 0)) {
    throw new TypeError(`CollabClient: option ${name} must be a number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function isBrowser() {
  return typeof window === "object" && window !== null && typeof window.document === "object";
}

export function defaultStorage() {
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
export function sameView(a, b) {
  if (a === b) {
    return true;
  }
  if (!a || !b || a.pending || b.pending) {
    return false;
  }
  return a.key === b.key && a.version === b.version && a.deleted === b.deleted;
}

export function checkJson(value, what, code = "invalid_argument") {
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

export function checkKey(key) {
  if (typeof key !== "string" || key.length === 0) {
    throw argumentError("invalid_key", `key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
}

export function checkRoomId(roomId) {
  if (typeof roomId !== "string" || !ROOM_ID.test(roomId)) {
    throw argumentError("invalid_room",
      `room id must be a string matching ${ROOM_ID} (letters, digits, . _ ~ -), got ${JSON.stringify(roomId)}`);
  }
}

/** The app's own mutationId of a write (options.mutationId), or undefined: the SDK makes one then. */
export function checkMutationId(options) {
  const id = options?.mutationId;
  if (id === undefined || id === null) {
    return undefined;
  }
  if (typeof id !== "string" || id.length === 0) {
    throw argumentError("invalid_argument", `mutationId must be a non-empty string, got ${JSON.stringify(id)}`);
  }
  return id;
}

export function checkExpectedVersion(options) {
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
export function checkOps(ops) {
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

const encoder = typeof TextEncoder === "function" ? new TextEncoder() : null;

/** The UTF-8 size of a string (exact when TextEncoder exists; an upper bound otherwise). Callers first rule out the short. */
export function utf8Bytes(text) {
  return encoder ? encoder.encode(text).length : text.length * 3;
}

/** A promise that the platform does not report as unhandled when it rejects; awaiting it still throws. */
export function handled(promise) {
  promise.catch(() => {});
  return promise;
}

/**
 * The members of CollabRoom (room.js) that the client's other parts use: the client, its connection loop and its
 * write queue. Keyed by these symbols, they are not part of the room's public API, and the room's state stays its own.
 */
export const RoomInternal = Object.freeze({
  appJoined: Symbol("appJoined"),
  appJoin: Symbol("appJoin"),
  needsJoin: Symbol("needsJoin"),
  join: Symbol("join"),
  receive: Symbol("receive"),
  disconnected: Symbol("disconnected"),
  abandonJoin: Symbol("abandonJoin"),
  writeQueued: Symbol("writeQueued"),
  writeAnswered: Symbol("writeAnswered"),
  writeSettled: Symbol("writeSettled"),
});

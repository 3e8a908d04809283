// The forms a queued write takes outside the client: the hub request it is sent as, and the record it is stored as
// (with storageKey) so that a reload sends it again with the same mutationId. The queue's scheduling (pipelining,
// retries, supersession) is the client's; what a write *is* lives here.

import { HubMethods } from "./protocol.js";

/** The version of the stored queue's format. */
export const STORED_QUEUE_VERSION = 1;

const WRITE_METHODS = Object.freeze([HubMethods.Set, HubMethods.Delete, HubMethods.Post, HubMethods.Batch]);

/** The keys a queued write changes: one for a Set or Delete, one per operation for a Batch, none for a Post. */
export function keysOf(item) {
  return item.op === HubMethods.Batch ? item.ops.map(o => o.key) : item.op === HubMethods.Post ? [] : [item.key];
}

/** The answer of a write that gave way to a later write of the same key by this client (see the client's _supersede). */
export function supersededResult(later) {
  return { applied: false, duplicate: false, conflict: false, superseded: true, seq: later.seq, entry: later.entry ?? null };
}

/** The request a queued write is sent as (its method is item.op). */
export function writeRequest(item) {
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
export function storedWrite(item) {
  return { op: item.op, ...writeRequest(item) };
}

/** A stored queue's writes as queue items (marked restored), skipping records that are not writes. */
export function restoredWrites(text) {
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
export function storedQueue(items) {
  return JSON.stringify({ v: STORED_QUEUE_VERSION, writes: items.map(storedWrite) });
}

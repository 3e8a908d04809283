// The errors of the CollabHub JS SDK: CollabHubError and the reading of hub error messages. Part of collab-client.js.

const HUB_MARKER = "HubException: ";

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

export function hubError(error) {
  const { code, text } = parseHubError(error?.message ?? error);
  return new CollabHubError(code ?? "unknown", text || String(error?.message ?? error), { cause: error });
}

export function argumentError(code, message) {
  return new CollabHubError(code, `CollabClient: ${message}`);
}

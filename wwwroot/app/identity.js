// Who you are on the board: a name you pick (kept in localStorage), used as the Development identity.
// When the server offers POST /auth/dev-token (Development), the board signs in with a token for that name and
// hands it to SignalR through accessTokenFactory; otherwise it connects with ?name= (the SDK's `name` option).

const NAME_KEY = "collabhub.name";
const TOKEN_PATH = "/auth/dev-token";
const REFRESH_BEFORE_MS = 60_000;

/** The rule the server applies to names (Security/DisplayNames.cs): 1–64 characters, no control characters. */
export function normalizeName(raw) {
  const name = String(raw ?? "").trim();
  if (name.length === 0) {
    return { error: "Please enter a name." };
  }
  if (name.length > 64) {
    return { error: "Names have at most 64 characters." };
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name) || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(name)) {
    return { error: "Names cannot contain control characters." };
  }
  return { name };
}

export function storedName() {
  try {
    const name = localStorage.getItem(NAME_KEY);
    return name && !normalizeName(name).error ? normalizeName(name).name : null;
  } catch {
    return null;
  }
}

export function storeName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Storage disabled: the name lasts for this page only.
  }
}

/**
 * Shows the name dialog and resolves with the name chosen (already stored), or null when cancelled (only possible
 * when `cancellable`). `validate(name)` may reject a name with a message (e.g. the server refused it).
 */
export function askName({ initial = "", cancellable = false, validate } = {}) {
  const dialog = document.getElementById("name-dialog");
  const form = document.getElementById("name-form");
  const input = document.getElementById("name-input");
  const error = document.getElementById("name-error");
  const cancel = document.getElementById("name-cancel");
  const submit = document.getElementById("name-submit");
  input.value = initial;
  error.textContent = "";
  input.removeAttribute("aria-invalid");
  cancel.hidden = !cancellable;
  submit.textContent = cancellable ? "Save" : "Join the board";
  return new Promise(resolve => {
    const finish = name => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onEscape);
      dialog.close();
      resolve(name);
    };
    const fail = message => {
      error.textContent = message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    };
    const onSubmit = async event => {
      event.preventDefault();
      const { name, error: problem } = normalizeName(input.value);
      if (problem) {
        fail(problem);
        return;
      }
      submit.disabled = true;
      try {
        const refusal = validate ? await validate(name) : null;
        if (refusal) {
          fail(refusal);
          return;
        }
      } finally {
        submit.disabled = false;
      }
      storeName(name);
      finish(name);
    };
    const onCancel = () => finish(null);
    const onEscape = event => {
      if (!cancellable) {
        event.preventDefault(); // a name is needed to join
      } else {
        finish(null);
      }
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onEscape);
    dialog.showModal();
    input.focus();
    input.select();
  });
}

/**
 * How to connect as `name`. Asks the server for a Development token; when it has none to give (the endpoint is not
 * there: 404/405), falls back to the `name` option (?name=). Resolves with
 * { userId, name, options } where options go into new CollabClient(...); rejects with a message for people when the
 * server refuses the name.
 */
export async function signIn(name) {
  const first = await requestToken(name);
  if (first.kind === "unsupported") {
    return { userId: name, name, mode: "name", options: { name } };
  }
  if (first.kind === "refused") {
    throw new Error(first.message);
  }
  let current = first;
  let refreshing = null;
  const accessTokenFactory = async () => {
    if (current.expiresAt - Date.now() > REFRESH_BEFORE_MS) {
      return current.token;
    }
    refreshing ??= requestToken(name).finally(() => {
      refreshing = null;
    });
    const next = await refreshing;
    if (next.kind !== "token") {
      throw new Error(next.message ?? "could not renew the sign-in token");
    }
    current = next;
    return current.token;
  };
  return { userId: first.userId ?? name, name, mode: "token", options: { accessTokenFactory } };
}

async function requestToken(name) {
  let response;
  try {
    response = await fetch(TOKEN_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ name }),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (error) {
    // Offline at start: connect by name; SignalR keeps retrying and the token is asked for on reconnect.
    return { kind: "unsupported", message: String(error?.message ?? error) };
  }
  if (response.status === 404 || response.status === 405) {
    return { kind: "unsupported" };
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok || !body?.accessToken) {
    const detail = typeof body?.error === "string" ? body.error.replace(/^[a-z_]+:\s*/, "") : `the server answered ${response.status}`;
    return { kind: "refused", message: `The server did not accept this name: ${detail}.` };
  }
  const expiresAt = Date.parse(body.expiresAt);
  return {
    kind: "token",
    token: body.accessToken,
    userId: typeof body.userId === "string" ? body.userId : name,
    expiresAt: Number.isFinite(expiresAt) ? expiresAt : Date.now() + 5 * 60_000,
  };
}

// Small DOM and timing helpers shared by the board's modules. No framework: plain DOM.
// The page runs under a Content-Security-Policy without 'unsafe-inline': never build HTML with style="" attributes;
// styles come from CSS classes, and positions and colours are set through element.style (CSSOM), which CSP allows.

/**
 * Creates an element. `props`: class (string), text (textContent), attrs ({ name: value }, false/null skip),
 * data ({ key: value } → data-key), on ({ event: handler }). Children: nodes or strings.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  if (props.class) {
    el.className = props.class;
  }
  if (props.text !== undefined) {
    el.textContent = props.text;
  }
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value !== false && value !== null && value !== undefined) {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const [key, value] of Object.entries(props.data ?? {})) {
    el.dataset[key] = String(value);
  }
  for (const [event, handler] of Object.entries(props.on ?? {})) {
    el.addEventListener(event, handler);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child);
    }
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An inline SVG icon from path data (decorative: aria-hidden). */
export function icon(paths, className = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  if (className) {
    svg.setAttribute("class", className);
  }
  for (const d of [].concat(paths)) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

export const ICONS = {
  trash: ["M4 7h16", "M10 11v6", "M14 11v6", "M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12", "M9 7V4h6v3"],
  grip: ["M9 6h.01", "M15 6h.01", "M9 12h.01", "M15 12h.01", "M9 18h.01", "M15 18h.01"],
  cursor: "M5 3l14 7.5-6.2 1.7L10 19z",
};

/** The colours of notes: the value stored in note:{id}:color, and how it is named to people. */
export const NOTE_COLORS = [
  { id: "yellow", label: "Yellow" },
  { id: "orange", label: "Orange" },
  { id: "pink", label: "Pink" },
  { id: "purple", label: "Purple" },
  { id: "blue", label: "Blue" },
  { id: "green", label: "Green" },
];
export const NOTE_COLOR_IDS = new Set(NOTE_COLORS.map(c => c.id));

/** Colours for people (avatars, cursors, chat): picked from the user id, so everyone sees the same one. */
const USER_COLORS = ["#e5484d", "#f76b15", "#d6409f", "#8e4ec6", "#3e63dd", "#0090ff", "#12a594", "#30a46c", "#ad7f58", "#6e56cf"];

export function hashString(text) {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return hash >>> 0;
}

export function userColor(userId) {
  return USER_COLORS[hashString(String(userId ?? "")) % USER_COLORS.length];
}

/** One or two letters for an avatar. */
export function initials(name) {
  const words = String(name ?? "?").trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) {
    return "?";
  }
  const first = [...words[0]][0] ?? "?";
  const second = words.length > 1 ? [...words[words.length - 1]][0] ?? "" : "";
  return (first + second).toUpperCase();
}

/** An avatar element (initials on the person's colour). */
export function avatar(userId, name, className = "") {
  const el = h("span", { class: `avatar ${className}`.trim(), text: initials(name), attrs: { "aria-hidden": "true" } });
  el.style.setProperty("--user", userColor(userId));
  return el;
}

/** Calls fn at most once per `ms`, always with the latest arguments (leading and trailing calls). */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  let pendingArgs = null;
  const run = () => {
    timer = null;
    last = performance.now();
    const args = pendingArgs;
    pendingArgs = null;
    fn(...args);
  };
  const throttled = (...args) => {
    pendingArgs = args;
    if (timer) {
      return;
    }
    const wait = ms - (performance.now() - last);
    if (wait <= 0) {
      run();
    } else {
      timer = setTimeout(run, wait);
    }
  };
  /** Sends what is waiting now. */
  throttled.flush = () => {
    if (timer) {
      clearTimeout(timer);
      run();
    }
  };
  /** Drops what is waiting. */
  throttled.cancel = () => {
    clearTimeout(timer);
    timer = null;
    pendingArgs = null;
  };
  return throttled;
}

/** A short random id (letters and digits) for notes and rooms. */
export function randomId(length = 10) {
  const alphabet = "abcdefghijkmnopqrstuvwxyz23456789";
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  return [...bytes].map(b => alphabet[b % alphabet.length]).join("");
}

export function clamp(value, min, max) {
  return Math.min(max, Math.max(min, value));
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

/** "14:05" today, "Mar 3, 14:05" otherwise. */
export function formatTime(at) {
  const date = at ? new Date(at) : new Date();
  if (Number.isNaN(date.getTime())) {
    return "";
  }
  const now = new Date();
  return date.toDateString() === now.toDateString() ? timeFormat.format(date) : dayFormat.format(date);
}

/** Whether a keyboard event comes from a place where people type (so single-key shortcuts must not fire). */
export function isTyping(event) {
  const target = event.target;
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

/** Toasts: short notices at the bottom, optionally with one action (e.g. Undo). */
export class Toasts {
  constructor(container) {
    this.container = container;
  }

  show(text, { action, onAction, timeoutMs = 5000, tone = "info" } = {}) {
    const toast = h("div", { class: `toast toast--${tone}`, attrs: { role: tone === "error" ? "alert" : null } },
      h("span", { class: "toast__text", text }));
    let timer = null;
    const close = () => {
      clearTimeout(timer);
      toast.classList.add("toast--leaving");
      setTimeout(() => toast.remove(), 200);
    };
    if (action) {
      toast.append(h("button", {
        class: "toast__action",
        text: action,
        attrs: { type: "button" },
        on: {
          click: () => {
            close();
            onAction?.();
          },
        },
      }));
    }
    this.container.append(toast);
    while (this.container.children.length > 3) {
      this.container.firstElementChild.remove();
    }
    timer = setTimeout(close, timeoutMs);
    return close;
  }
}

// The board: sticky notes kept in the room's store, one key per field, so that two people editing different fields
// of one note both keep their change (the store is last-writer-wins per key):
//
//   note:{id}          the note exists (value { v: 1 }); deleting it deletes the note (its fields go too)
//   note:{id}:text     string
//   note:{id}:x        number, board pixels from the left
//   note:{id}:y        number, board pixels from the top
//   note:{id}:color    "yellow" | "orange" | "pink" | "purple" | "blue" | "green"
//   note:{id}:z        number, stacking order (the note last moved is on top)
//
// Field keys without their note:{id} key are ignored (e.g. an edit that raced a delete).
// A note's creation, a move (x, y and z) and a delete (the note and its fields) are each one batch: all their keys
// commit together, and every replica applies them together, so two people dragging one note never leave it at one
// person's x and the other's y.
// The view is the SDK's: room.get() includes this client's writes at once (optimistic), also while offline, and
// shows the winning value when a write loses to a later one.

import { h, icon, ICONS, NOTE_COLORS, NOTE_COLOR_IDS, clamp, hashString, randomId, userColor, initials } from "./util.js";

export const BOARD_WIDTH = 2400;
export const BOARD_HEIGHT = 1600;
const NOTE_WIDTH = 216;
const NOTE_HEIGHT = 188;
const STEP = 10;
const BIG_STEP = 50;
const TEXT_DEBOUNCE_MS = 400;
const MOVE_DEBOUNCE_MS = 350;
const REMOTE_DRAG_TTL_MS = 2500;
const MAX_TEXT = 4000;
const FIELDS = ["text", "x", "y", "color", "z"];
const KEY = /^note:([A-Za-z0-9_-]{1,40})(?::(text|x|y|color|z))?$/;

export const noteKey = (id, field) => (field ? `note:${id}:${field}` : `note:${id}`);

/** Parses a store key: { id, field } (field null for the note's own key), or null for keys that are not notes'. */
export function parseKey(key) {
  const match = KEY.exec(key);
  return match ? { id: match[1], field: match[2] ?? null } : null;
}

export class Board {
  /**
   * @param {object} o
   * @param {import("../js/collab-client.js").CollabRoom} o.room
   * @param {{ userId: string, name: string }} o.me
   * @param {HTMLElement} o.scroller the scrolling viewport
   * @param {HTMLElement} o.surface the board itself (BOARD_WIDTH x BOARD_HEIGHT)
   * @param {HTMLElement} o.empty the "board is empty" hint
   * @param {import("./util.js").Toasts} o.toasts
   * @param {(userId: string) => string} o.nameOf
   * @param {(id: string, pos: {x:number,y:number}|null) => void} o.onDrag a note is being moved (null: done)
   */
  constructor({ room, me, scroller, surface, empty, toasts, nameOf, onDrag }) {
    this.room = room;
    this.me = me;
    this.scroller = scroller;
    this.surface = surface;
    this.empty = empty;
    this.toasts = toasts;
    this.nameOf = nameOf;
    this.onDrag = onDrag ?? (() => {});
    this.notes = new Map();       // id -> note state (element, local edits)
    this.dirty = new Set();       // ids to render
    this.renderQueued = false;
    this.colorTurn = 0;

    surface.style.width = `${BOARD_WIDTH}px`;
    surface.style.height = `${BOARD_HEIGHT}px`;
    surface.addEventListener("dblclick", event => {
      if (event.target === surface) {
        const rect = surface.getBoundingClientRect();
        this.addNote({ x: event.clientX - rect.left - NOTE_WIDTH / 2, y: event.clientY - rect.top - 20 });
      }
    });

    for (const entry of room.entries()) {
      const parsed = parseKey(entry.key);
      if (parsed) {
        this.dirty.add(parsed.id);
      }
    }
    room.on("change", change => this.onChange(change));
    this.renderNow();
  }

  // --- store → view -----------------------------------------------------------------------------------------

  onChange({ key, entry, source }) {
    const parsed = parseKey(key);
    if (!parsed) {
      return;
    }
    const note = this.notes.get(parsed.id);
    if (note && source === "remote" && entry && entry.by !== this.me.userId) {
      if (parsed.field === "x" || parsed.field === "y") {
        // Their move has landed once the stored position is theirs (x, y and z come in one batch, applied together).
        const stored = this.storedPosition(parsed.id);
        if (note.remote && note.remote.userId === entry.by && stored.x === note.remote.x && stored.y === note.remote.y) {
          note.remote = null;
        }
      } else if (parsed.field === "text" || parsed.field === "color") {
        note.flashBy = entry.by;
      }
    }
    this.dirty.add(parsed.id);
    this.queueRender();
  }

  queueRender() {
    if (!this.renderQueued) {
      this.renderQueued = true;
      queueMicrotask(() => this.renderNow());
    }
  }

  renderNow() {
    this.renderQueued = false;
    const ids = [...this.dirty];
    this.dirty.clear();
    for (const id of ids) {
      this.renderNote(id);
    }
    this.empty.hidden = this.notes.size > 0;
  }

  value(id, field) {
    return this.room.get(noteKey(id, field))?.value;
  }

  /** The stored position of a note (a default from its id while it has none, the same for everyone). */
  storedPosition(id) {
    const hash = hashString(id);
    const x = this.value(id, "x");
    const y = this.value(id, "y");
    return {
      x: Number.isFinite(x) ? x : 40 + (hash % 900),
      y: Number.isFinite(y) ? y : 40 + ((hash >>> 10) % 500),
    };
  }

  position(note) {
    if (note.local) {
      return note.local;
    }
    if (note.remote && note.remote.until > Date.now()) {
      return note.remote;
    }
    return this.storedPosition(note.id);
  }

  zOf(id) {
    const z = this.value(id, "z");
    return Number.isFinite(z) ? z : 0;
  }

  renderNote(id) {
    const exists = this.room.get(noteKey(id)) !== undefined;
    let note = this.notes.get(id);
    if (!exists) {
      if (note) {
        this.removeElement(note);
      }
      return;
    }
    if (!note) {
      note = this.createNote(id);
    }
    const el = note.el;

    // Position and stacking.
    const pos = this.position(note);
    el.style.transform = `translate(${Math.round(pos.x)}px, ${Math.round(pos.y)}px)`;
    el.style.zIndex = String(10 + Math.max(0, Math.min(1e6, Math.round(this.zOf(id)))));
    const dragged = note.remote && note.remote.until > Date.now() && !note.local;
    el.classList.toggle("note--remote-drag", !!dragged);
    if (dragged) {
      el.style.setProperty("--dragger", userColor(note.remote.userId));
      clearTimeout(note.remoteTimer);
      note.remoteTimer = setTimeout(() => {
        this.dirty.add(id);
        this.queueRender();
      }, note.remote.until - Date.now() + 20);
    }

    // Colour.
    const stored = this.value(id, "color");
    const color = NOTE_COLOR_IDS.has(stored) ? stored : "yellow";
    if (note.color !== color) {
      el.classList.remove(`note--${note.color}`);
      el.classList.add(`note--${color}`);
      note.color = color;
      for (const swatch of note.swatches) {
        const on = swatch.dataset.color === color;
        swatch.setAttribute("aria-checked", on ? "true" : "false");
        swatch.tabIndex = on ? 0 : -1;
      }
    }

    // Text: while you type, the textarea is yours; your next save wins (last writer wins), and once you stop,
    // it shows whatever won.
    const textEntry = this.room.get(noteKey(id, "text"));
    const text = typeof textEntry?.value === "string" ? textEntry.value : "";
    const ta = note.textarea;
    const typing = document.activeElement === ta && note.textDirty;
    if (!typing && ta.value !== text) {
      if (document.activeElement === ta) {
        const start = Math.min(ta.selectionStart, text.length);
        const end = Math.min(ta.selectionEnd, text.length);
        ta.value = text;
        ta.setSelectionRange(start, end);
      } else {
        ta.value = text;
      }
    }

    // Who made it, who changed it last.
    const created = this.room.get(noteKey(id));
    // A pending (not yet acknowledged) entry is this client's own write.
    const byOf = entry => (entry ? (entry.pending ? this.me.userId : entry.by) : undefined);
    const authorId = byOf(textEntry) ?? byOf(created) ?? "";
    const authorName = authorId ? this.nameOf(authorId) : "";
    if (note.authorId !== authorId || note.authorName !== authorName) {
      note.authorId = authorId;
      note.authorName = authorName;
      note.author.textContent = authorName;
      note.authorAvatar.textContent = initials(authorName);
      note.authorAvatar.style.setProperty("--user", userColor(authorId));
      note.meta.hidden = !authorId;
    }
    const summary = (ta.value.trim().split("\n")[0] || "empty").slice(0, 60);
    el.setAttribute("aria-label", `Note, ${color}${authorName ? `, by ${authorName}` : ""}: ${summary}`);

    if (note.flashBy) {
      el.style.setProperty("--flash", userColor(note.flashBy));
      note.flashBy = null;
      el.classList.remove("note--flash");
      void el.offsetWidth; // restart the animation
      el.classList.add("note--flash");
    }
    el.dataset.pending = this.isPending(id) ? "true" : "false";
  }

  /** Whether one of the note's keys has a write not yet acknowledged (shown as a subtle marker). */
  isPending(id) {
    return [noteKey(id), ...FIELDS.map(f => noteKey(id, f))].some(key => this.room.get(key)?.pending === true);
  }

  createNote(id) {
    const note = { id, color: null, local: null, remote: null, textDirty: false, textTimer: null, moveTimer: null };
    const swatches = NOTE_COLORS.map(c => h("button", {
      class: `swatch swatch--${c.id}`,
      attrs: { type: "button", role: "radio", "aria-checked": "false", "aria-label": c.label, title: c.label, tabindex: -1 },
      data: { color: c.id },
    }));
    const colors = h("div", { class: "note__colors", attrs: { role: "radiogroup", "aria-label": "Note colour" } }, ...swatches);
    const remove = h("button", {
      class: "icon-button note__delete",
      attrs: { type: "button", "aria-label": "Delete note", title: "Delete note" },
    }, icon(ICONS.trash));
    const textarea = h("textarea", {
      class: "note__text",
      attrs: { "aria-label": "Note text", maxlength: MAX_TEXT, placeholder: "Write something…", rows: 4, spellcheck: "true" },
    });
    const authorAvatar = h("span", { class: "avatar avatar--tiny", attrs: { "aria-hidden": "true" } });
    const author = h("span", { class: "note__author" });
    const meta = h("span", { class: "note__meta" }, authorAvatar, author);
    meta.hidden = true;
    const bar = h("div", { class: "note__bar" },
      h("span", { class: "note__grip", attrs: { "aria-hidden": "true", title: "Drag to move" } }, icon(ICONS.grip)), meta);
    const toolbar = h("div", { class: "note__toolbar" }, colors, remove);
    const el = h("article", {
      class: "note",
      attrs: { tabindex: 0, "aria-roledescription": "sticky note", "aria-keyshortcuts": "ArrowUp ArrowDown ArrowLeft ArrowRight Enter Delete" },
      data: { noteId: id },
    }, bar, textarea, toolbar);

    Object.assign(note, { el, textarea, swatches, author, authorAvatar, meta });
    this.notes.set(id, note);
    this.surface.append(el);
    this.wireNote(note);
    return note;
  }

  removeElement(note) {
    clearTimeout(note.textTimer);
    clearTimeout(note.moveTimer);
    clearTimeout(note.remoteTimer);
    const hadFocus = note.el.contains(document.activeElement);
    note.el.remove();
    this.notes.delete(note.id);
    if (hadFocus) {
      document.getElementById("add-note")?.focus();
    }
  }

  // --- view → store -----------------------------------------------------------------------------------------

  write(promise) {
    promise.catch(error => {
      this.toasts.show(`A change was not saved: ${error?.message ?? error}`, { tone: "error", timeoutMs: 8000 });
    });
    return promise;
  }

  set(id, field, value) {
    return this.write(this.room.set(noteKey(id, field), value));
  }

  /** Adds a note at `at` (board pixels), or in the middle of what is in view; focuses its text. */
  addNote(at) {
    const id = randomId(10);
    const spot = at ?? this.freeSpot();
    const x = clamp(Math.round(spot.x), 0, BOARD_WIDTH - NOTE_WIDTH);
    const y = clamp(Math.round(spot.y), 0, BOARD_HEIGHT - NOTE_HEIGHT);
    const color = NOTE_COLORS[(hashString(this.me.userId) + this.colorTurn++) % NOTE_COLORS.length].id;
    this.write(this.room.batch([
      { op: "set", key: noteKey(id, "x"), value: x },
      { op: "set", key: noteKey(id, "y"), value: y },
      { op: "set", key: noteKey(id, "color"), value: color },
      { op: "set", key: noteKey(id, "z"), value: this.maxZ() + 1 },
      { op: "set", key: noteKey(id), value: { v: 1 } },
    ]));
    this.renderNow();
    this.notes.get(id)?.textarea.focus({ preventScroll: true });
    this.notes.get(id)?.el.scrollIntoView({ block: "nearest", inline: "nearest", behavior: "smooth" });
    return id;
  }

  deleteNote(id) {
    const note = this.notes.get(id);
    if (!note) {
      return;
    }
    this.flushText(note);
    const saved = {};
    for (const field of FIELDS) {
      const value = this.value(id, field);
      if (value !== undefined) {
        saved[field] = value;
      }
    }
    this.write(this.room.batch([
      { op: "delete", key: noteKey(id) },
      ...Object.keys(saved).map(field => ({ op: "delete", key: noteKey(id, field) })),
    ]));
    this.renderNow();
    this.toasts.show("Note deleted.", {
      action: "Undo",
      timeoutMs: 7000,
      onAction: () => {
        this.write(this.room.batch([
          ...Object.entries(saved).map(([field, value]) => ({ op: "set", key: noteKey(id, field), value })),
          { op: "set", key: noteKey(id), value: { v: 1 } },
        ]));
        this.renderNow();
        this.notes.get(id)?.el.focus();
      },
    });
  }

  setColor(id, color) {
    if (this.value(id, "color") !== color) {
      this.set(id, "color", color);
    }
  }

  flushText(note) {
    clearTimeout(note.textTimer);
    note.textTimer = null;
    if (!note.textDirty) {
      return;
    }
    note.textDirty = false;
    const text = note.textarea.value;
    const stored = this.value(note.id, "text");
    if (text !== (typeof stored === "string" ? stored : "")) {
      this.set(note.id, "text", text);
    }
  }

  /** Writes a moved note's position (only the coordinates that changed) and puts it on top. */
  commitMove(note) {
    clearTimeout(note.moveTimer);
    note.moveTimer = null;
    const pos = note.local;
    if (!pos) {
      return;
    }
    const x = Math.round(pos.x);
    const y = Math.round(pos.y);
    // One batch: the position and the stacking order land together, for everyone.
    const ops = [];
    if (this.value(note.id, "x") !== x) {
      ops.push({ op: "set", key: noteKey(note.id, "x"), value: x });
    }
    if (this.value(note.id, "y") !== y) {
      ops.push({ op: "set", key: noteKey(note.id, "y"), value: y });
    }
    if (!this.isOnTop(note.id)) {
      ops.push({ op: "set", key: noteKey(note.id, "z"), value: this.maxZ() + 1 });
    }
    if (ops.length > 0) {
      this.write(this.room.batch(ops));
    }
    note.local = null;
    this.onDrag(note.id, null);
    this.dirty.add(note.id);
    this.renderNow();
  }

  maxZ() {
    let max = 0;
    for (const id of this.notes.keys()) {
      max = Math.max(max, this.zOf(id));
    }
    return max;
  }

  /** Whether no other note is stacked at or above this one. */
  isOnTop(id) {
    const z = this.zOf(id);
    for (const other of this.notes.keys()) {
      if (other !== id && this.zOf(other) >= z) {
        return false;
      }
    }
    return true;
  }

  /** A place for a new note: the free spot nearest the middle of the view (in view if there is room), else the middle. */
  freeSpot() {
    const center = this.visibleCenter();
    const s = this.scroller;
    const view = {
      left: s.scrollLeft, top: s.scrollTop,
      right: s.scrollLeft + s.clientWidth - NOTE_WIDTH, bottom: s.scrollTop + s.clientHeight - NOTE_HEIGHT - 72, // above the toolbar
    };
    const taken = [...this.notes.values()].map(note => this.position(note));
    const margin = 16;
    const free = (x, y) => taken.every(p => x + NOTE_WIDTH + margin <= p.x || p.x + NOTE_WIDTH + margin <= x
      || y + NOTE_HEIGHT + margin <= p.y || p.y + NOTE_HEIGHT + margin <= y);
    const candidates = [];
    for (let i = -14; i <= 14; i++) {
      for (let j = -12; j <= 12; j++) {
        const x = center.x + i * 40;
        const y = center.y + j * 40;
        if (x >= 0 && y >= 0 && x <= BOARD_WIDTH - NOTE_WIDTH && y <= BOARD_HEIGHT - NOTE_HEIGHT) {
          candidates.push({ x, y, d: Math.hypot(i * 40, j * 40 * 1.2) });
        }
      }
    }
    candidates.sort((a, b) => a.d - b.d);
    const inView = c => c.x >= view.left && c.y >= view.top && c.x <= Math.max(view.left, view.right) && c.y <= Math.max(view.top, view.bottom);
    return candidates.find(c => inView(c) && free(c.x, c.y))
      ?? candidates.find(c => free(c.x, c.y))
      ?? { x: center.x + (Math.random() - 0.5) * 80, y: center.y + (Math.random() - 0.5) * 60 };
  }

  visibleCenter() {
    const s = this.scroller;
    return {
      x: s.scrollLeft + Math.min(s.clientWidth, BOARD_WIDTH) / 2 - NOTE_WIDTH / 2,
      y: s.scrollTop + Math.min(s.clientHeight, BOARD_HEIGHT) / 2 - NOTE_HEIGHT / 2,
    };
  }

  /** Another person is moving note `id` (a signal): show it moving, until their write lands. */
  remoteDrag(id, userId, pos, done) {
    const note = this.notes.get(id);
    if (!note || note.local || !Number.isFinite(pos?.x) || !Number.isFinite(pos?.y)) {
      return;
    }
    const x = clamp(Math.round(pos.x), 0, BOARD_WIDTH - NOTE_WIDTH);
    const y = clamp(Math.round(pos.y), 0, BOARD_HEIGHT - NOTE_HEIGHT);
    const stored = this.storedPosition(id);
    // Until their write lands (or a while has passed), show the note where they have put it.
    note.remote = done && stored.x === x && stored.y === y
      ? null
      : { x, y, userId, until: Date.now() + (done ? 1500 : REMOTE_DRAG_TTL_MS) };
    this.dirty.add(id);
    this.queueRender();
  }

  // --- interaction ------------------------------------------------------------------------------------------

  wireNote(note) {
    const { el, textarea } = note;

    textarea.addEventListener("input", () => {
      note.textDirty = true;
      clearTimeout(note.textTimer);
      note.textTimer = setTimeout(() => this.flushText(note), TEXT_DEBOUNCE_MS);
    });
    textarea.addEventListener("blur", () => {
      this.flushText(note);
      this.dirty.add(note.id);
      this.queueRender();
    });
    textarea.addEventListener("keydown", event => {
      if (event.key === "Escape") {
        event.preventDefault();
        this.flushText(note);
        el.focus();
      }
    });

    for (const swatch of note.swatches) {
      swatch.addEventListener("click", () => this.setColor(note.id, swatch.dataset.color));
      swatch.addEventListener("keydown", event => {
        const delta = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
        if (delta) {
          event.preventDefault();
          const i = note.swatches.indexOf(swatch);
          const next = note.swatches[(i + delta + note.swatches.length) % note.swatches.length];
          this.setColor(note.id, next.dataset.color);
          next.focus();
        }
      });
    }
    el.querySelector(".note__delete").addEventListener("click", () => this.deleteNote(note.id));

    el.addEventListener("keydown", event => {
      if (event.target !== el || event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      const step = event.shiftKey ? BIG_STEP : STEP;
      const delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[event.key];
      if (delta) {
        event.preventDefault();
        this.moveBy(note, delta[0], delta[1]);
      } else if (event.key === "Enter") {
        event.preventDefault();
        textarea.focus();
        textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      } else if (event.key === "Delete" || event.key === "Backspace") {
        event.preventDefault();
        this.deleteNote(note.id);
      }
    });

    // Dragging: with a mouse or pen from anywhere on the note but its controls; with a finger from its top bar
    // (so that a finger elsewhere scrolls the board).
    el.addEventListener("pointerdown", event => {
      if (event.button !== 0 || event.target.closest("textarea, button, input")) {
        return;
      }
      if (event.pointerType === "touch" && !event.target.closest(".note__bar")) {
        return;
      }
      event.preventDefault();
      el.focus({ preventScroll: true });
      el.setPointerCapture(event.pointerId);
      const start = this.position(note);
      note.drag = { pointerId: event.pointerId, x0: event.clientX, y0: event.clientY, start, moved: false };
    });
    el.addEventListener("pointermove", event => {
      const drag = note.drag;
      if (!drag || drag.pointerId !== event.pointerId) {
        return;
      }
      const dx = event.clientX - drag.x0;
      const dy = event.clientY - drag.y0;
      if (!drag.moved && Math.hypot(dx, dy) < 3) {
        return;
      }
      drag.moved = true;
      el.classList.add("note--dragging");
      note.local = {
        x: clamp(drag.start.x + dx, 0, BOARD_WIDTH - NOTE_WIDTH),
        y: clamp(drag.start.y + dy, 0, BOARD_HEIGHT - NOTE_HEIGHT),
      };
      this.onDrag(note.id, note.local);
      this.dirty.add(note.id);
      this.queueRender();
    });
    const endDrag = (event, cancelled) => {
      const drag = note.drag;
      if (!drag || drag.pointerId !== event.pointerId) {
        return;
      }
      note.drag = null;
      el.classList.remove("note--dragging");
      if (el.hasPointerCapture(event.pointerId)) {
        el.releasePointerCapture(event.pointerId);
      }
      if (!drag.moved) {
        return;
      }
      if (cancelled) {
        note.local = null;
        this.onDrag(note.id, null);
        this.dirty.add(note.id);
        this.queueRender();
      } else {
        this.commitMove(note);
      }
    };
    el.addEventListener("pointerup", event => endDrag(event, false));
    el.addEventListener("pointercancel", event => endDrag(event, true));
  }

  moveBy(note, dx, dy) {
    const base = note.local ?? this.position(note);
    note.local = {
      x: clamp(base.x + dx, 0, BOARD_WIDTH - NOTE_WIDTH),
      y: clamp(base.y + dy, 0, BOARD_HEIGHT - NOTE_HEIGHT),
    };
    this.onDrag(note.id, note.local);
    this.dirty.add(note.id);
    this.renderNow();
    note.el.scrollIntoView({ block: "nearest", inline: "nearest" });
    clearTimeout(note.moveTimer);
    note.moveTimer = setTimeout(() => this.commitMove(note), MOVE_DEBOUNCE_MS);
  }

  /** Saves what is being typed or moved now (e.g. before the page goes away). */
  flushAll() {
    for (const note of this.notes.values()) {
      this.flushText(note);
      if (note.moveTimer) {
        this.commitMove(note);
      }
    }
  }

  /** The names on notes may have changed (someone joined whose name we did not know). */
  refreshNames() {
    for (const id of this.notes.keys()) {
      this.dirty.add(id);
    }
    this.queueRender();
  }
}

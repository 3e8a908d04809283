// Who is here (avatars from the room's presence: a handful, then "+N" from the room's count, which in a room of
// thousands is more than the server lists) and where they are pointing (live cursors through Signal, never
// stored). Signals are sent at most 20 times a second; one carries the pointer and, while a note is moved, the
// note's position, so that others see it move before the move is saved.
//
// Signal payload: { v: 1, cursor: { x, y } | null, drag?: { id, x, y, done } } (board pixels).

import { h, icon, ICONS, avatar, userColor, throttle } from "./util.js";

const SEND_INTERVAL_MS = 50;       // <= 20 signals a second
const CURSOR_IDLE_MS = 6000;       // a still cursor fades
const CURSOR_GONE_MS = 30000;      // and goes
const MAX_AVATARS = 5;

export class Presence {
  /**
   * @param {object} o
   * @param {import("../js/collab-client.js").CollabRoom} o.room
   * @param {{ userId: string, name: string }} o.me
   * @param {HTMLElement} o.list the avatar list (ul)
   * @param {HTMLElement} o.surface the board (cursors live in board coordinates)
   * @param {(id: string, userId: string, pos: object, done: boolean) => void} o.onRemoteDrag
   * @param {() => void} o.onNames names learnt or changed
   */
  constructor({ room, me, list, surface, onRemoteDrag, onNames }) {
    this.room = room;
    this.me = me;
    this.list = list;
    this.surface = surface;
    this.onRemoteDrag = onRemoteDrag;
    this.onNames = onNames ?? (() => {});
    this.names = new Map([[me.userId, me.name]]);
    this.cursors = new Map();     // tag of the sender's connection -> { el, userId, idle, gone }
    this.pointer = null;          // what we send
    this.drag = null;
    this.send = throttle(() => this.sendNow(), SEND_INTERVAL_MS);

    room.on("presence", (presence, count) => this.renderAvatars(presence, count));
    room.on("signal", signal => this.onSignal(signal));
    this.renderAvatars(room.presence, room.presenceCount);

    surface.addEventListener("pointermove", event => {
      if (event.pointerType === "touch") {
        return; // a finger on a phone is not a cursor
      }
      const rect = surface.getBoundingClientRect();
      this.pointer = { x: Math.round(event.clientX - rect.left), y: Math.round(event.clientY - rect.top) };
      this.send();
    });
    surface.addEventListener("pointerleave", event => {
      if (event.pointerType === "touch" || this.pointer === null) {
        return;
      }
      this.pointer = null;
      this.send();
    });
  }

  nameOf(userId) {
    return this.names.get(userId) ?? userId;
  }

  /** Tells the others that note `id` is being moved to `pos` (null: the move is over). */
  dragging(id, pos) {
    if (pos) {
      this.drag = { id, x: Math.round(pos.x), y: Math.round(pos.y), done: false };
      this.send();
    } else if (this.drag && this.drag.id === id) {
      this.drag = { ...this.drag, done: true };
      this.send();
      this.send.flush();
    }
  }

  sendNow() {
    const payload = { v: 1, cursor: this.pointer };
    if (this.drag) {
      payload.drag = this.drag;
      if (this.drag.done) {
        this.drag = null;
      }
    }
    // Ephemeral: when offline it is simply dropped; a refusal (e.g. rate_limited) is not worth a word.
    this.room.signal(payload).catch(() => {});
  }

  onSignal({ from, name, tag, payload }) {
    if (!from || !payload || typeof payload !== "object") {
      return;
    }
    if (typeof name === "string" && name && this.names.get(from) !== name) {
      this.names.set(from, name);
      this.onNames();
    }
    const key = tag ?? from;
    if (payload.cursor && Number.isFinite(payload.cursor.x) && Number.isFinite(payload.cursor.y)) {
      this.showCursor(key, from, payload.cursor);
    } else if ("cursor" in payload) {
      this.hideCursor(key);
    }
    const drag = payload.drag;
    if (drag && typeof drag.id === "string") {
      this.onRemoteDrag(drag.id, from, drag, !!drag.done);
    }
  }

  showCursor(key, userId, { x, y }) {
    let cursor = this.cursors.get(key);
    if (!cursor) {
      const label = h("span", { class: "cursor__label", text: this.nameOf(userId) });
      const el = h("div", { class: "cursor", attrs: { "aria-hidden": "true" }, data: { user: userId } },
        icon(ICONS.cursor, "cursor__arrow"), label);
      el.style.setProperty("--user", userColor(userId));
      this.surface.append(el);
      cursor = { el, label, userId, idle: null, gone: null };
      this.cursors.set(key, cursor);
    }
    cursor.label.textContent = this.nameOf(userId);
    cursor.el.classList.remove("cursor--idle");
    cursor.el.style.transform = `translate(${x}px, ${y}px)`;
    clearTimeout(cursor.idle);
    clearTimeout(cursor.gone);
    cursor.idle = setTimeout(() => cursor.el.classList.add("cursor--idle"), CURSOR_IDLE_MS);
    cursor.gone = setTimeout(() => this.removeCursor(key), CURSOR_GONE_MS);
  }

  hideCursor(key) {
    this.cursors.get(key)?.el.classList.add("cursor--idle");
  }

  removeCursor(key) {
    const cursor = this.cursors.get(key);
    if (cursor) {
      clearTimeout(cursor.idle);
      clearTimeout(cursor.gone);
      cursor.el.remove();
      this.cursors.delete(key);
    }
  }

  /** `presence` lists the room's members, or only some of them when `count` (the room's number of users) is larger. */
  renderAvatars(presence, count = presence.length) {
    const total = Math.max(count, presence.length);
    let changed = false;
    for (const person of presence) {
      if (person?.userId && person.name && this.names.get(person.userId) !== person.name) {
        this.names.set(person.userId, person.name);
        changed = true;
      }
    }
    // Cursors of people who left go at once (when everyone is listed; otherwise they fade out by themselves).
    if (total === presence.length) {
      const here = new Set(presence.map(p => p.userId));
      for (const [key, cursor] of this.cursors) {
        if (!here.has(cursor.userId)) {
          this.removeCursor(key);
        }
      }
    }

    const people = [...presence].sort((a, b) => {
      if (a.userId === this.me.userId) {
        return -1;
      }
      if (b.userId === this.me.userId) {
        return 1;
      }
      return String(a.name ?? a.userId).localeCompare(String(b.name ?? b.userId));
    });
    const items = people.slice(0, MAX_AVATARS).map(person => {
      const you = person.userId === this.me.userId;
      const name = person.name ?? person.userId;
      const label = you ? `${name} (you)` : name;
      const devices = person.connections > 1 ? `, on ${person.connections} devices or tabs` : "";
      return h("li", { class: `avatars__item${you ? " avatars__item--you" : ""}`, attrs: { title: label + devices }, data: { userId: person.userId } },
        avatar(person.userId, name), h("span", { class: "visually-hidden", text: label + devices }));
    });
    const more = total - items.length;
    if (more > 0) {
      // Named in the tooltip when everyone is listed and they are few; otherwise counted.
      const rest = total === people.length && more <= 50 ? people.slice(MAX_AVATARS).map(p => p.name ?? p.userId).join(", ") : `${more} more people`;
      items.push(h("li", { class: "avatars__item avatars__more", attrs: { title: rest } },
        h("span", { class: "avatar avatar--more", text: `+${more}`, attrs: { "aria-hidden": "true" } }),
        h("span", { class: "visually-hidden", text: `and ${rest}` })));
    }
    this.list.replaceChildren(...items);
    this.list.setAttribute("aria-label", `${total} ${total === 1 ? "person" : "people"} in this room`);
    this.list.dataset.count = String(total);
    if (changed) {
      this.onNames();
    }
  }
}

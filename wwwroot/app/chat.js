// The chat panel: the room's message log (room.messages, with the history the Join brought), new messages as they
// are posted, and your own messages at once, marked "sending" until the server has them (also while offline).
//
// Message body: { text: string }.

import { h, avatar, formatTime } from "./util.js";

const GROUP_WINDOW_MS = 5 * 60_000;
const MAX_TEXT = 2000;

export class Chat {
  /**
   * @param {object} o
   * @param {import("../js/collab-client.js").CollabRoom} o.room
   * @param {{ userId: string, name: string }} o.me
   * @param {HTMLElement} o.list the message list (ol, role=log)
   * @param {HTMLElement} o.empty the "no messages yet" hint
   * @param {HTMLFormElement} o.form
   * @param {HTMLInputElement} o.input
   * @param {(userId: string) => string} o.nameOf
   * @param {import("./util.js").Toasts} o.toasts
   * @param {(message: object) => void} o.onIncoming a message from someone else arrived
   */
  constructor({ room, me, list, empty, form, input, nameOf, toasts, onIncoming }) {
    this.room = room;
    this.me = me;
    this.list = list;
    this.empty = empty;
    this.input = input;
    this.nameOf = nameOf;
    this.toasts = toasts;
    this.onIncoming = onIncoming ?? (() => {});
    this.items = new Map();        // key -> li
    this.pending = [];             // your messages the server has not confirmed: { localId, text, at, seq, failed }
    this.localIds = 0;
    this.renderQueued = false;

    room.on("message", message => {
      if (message.by !== me.userId) {
        this.onIncoming(message);
      }
      this.queueRender();
    });
    form.addEventListener("submit", event => {
      event.preventDefault();
      this.send();
    });
    this.render(true);
  }

  send() {
    const text = this.input.value.trim().slice(0, MAX_TEXT);
    if (!text) {
      return;
    }
    this.input.value = "";
    const item = { localId: ++this.localIds, text, at: new Date().toISOString(), seq: 0, failed: false };
    this.pending.push(item);
    this.render(true);
    this.room.post({ text }).then(
      result => {
        item.seq = result?.seq ?? 0;
        this.queueRender();
      },
      error => {
        item.failed = true;
        this.toasts.show(`Your message was not sent: ${error?.message ?? error}`, { tone: "error", timeoutMs: 8000 });
        this.queueRender();
      });
  }

  queueRender() {
    if (!this.renderQueued) {
      this.renderQueued = true;
      queueMicrotask(() => {
        this.renderQueued = false;
        this.render(false);
      });
    }
  }

  /** Re-renders the list, reusing the elements of messages already shown. */
  render(forceScroll) {
    const list = this.list;
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const messages = this.room.messages;
    const seqs = new Set(messages.map(m => m.seq));
    this.pending = this.pending.filter(p => !(p.seq && (seqs.has(p.seq) || p.seq <= this.room.seq)));

    const rows = [
      ...messages.map(m => ({ key: `m${m.seq}`, by: m.by, at: m.at, text: textOf(m.body), state: "sent", seq: m.seq })),
      ...this.pending.map(p => ({
        key: `p${p.localId}`, by: this.me.userId, at: p.at, text: p.text, state: p.failed ? "failed" : "sending",
      })),
    ];
    const keep = new Set();
    const elements = rows.map((row, i) => {
      const previous = rows[i - 1];
      const compact = !!previous && previous.by === row.by
        && Math.abs(Date.parse(row.at) - Date.parse(previous.at)) < GROUP_WINDOW_MS;
      keep.add(row.key);
      let li = this.items.get(row.key);
      if (!li) {
        li = this.createItem(row);
        this.items.set(row.key, li);
      }
      li.classList.toggle("msg--compact", compact);
      return li;
    });
    for (const [key, li] of this.items) {
      if (!keep.has(key)) {
        li.remove();
        this.items.delete(key);
      }
    }
    // Only touch the DOM when the order changed (a new message at the end is the usual case).
    const current = [...list.children];
    if (current.length !== elements.length || current.some((el, i) => el !== elements[i])) {
      list.replaceChildren(...elements);
    }
    this.empty.hidden = rows.length > 0;
    list.hidden = rows.length === 0;
    if (forceScroll || nearBottom) {
      list.scrollTop = list.scrollHeight;
    }
  }

  createItem(row) {
    const mine = row.by === this.me.userId;
    const name = mine ? "You" : this.nameOf(row.by);
    const time = h("time", { class: "msg__time", text: formatTime(row.at), attrs: { datetime: row.at ?? "" } });
    const li = h("li", { class: `msg${mine ? " msg--mine" : ""}`, data: { state: row.state, key: row.key } },
      avatar(row.by, this.nameOf(row.by), "msg__avatar"),
      h("div", { class: "msg__content" },
        h("div", { class: "msg__head" }, h("span", { class: "msg__name", text: name }), time),
        h("p", { class: "msg__text", text: row.text })));
    if (row.state !== "sent") {
      li.classList.add("msg--pending");
      li.append(h("span", { class: "msg__state", text: row.state === "failed" ? "Not sent" : "Sending…" }));
    }
    return li;
  }

  /** Names learnt later (presence): redraw the items. */
  refreshNames() {
    for (const li of this.items.values()) {
      li.remove();
    }
    this.items.clear();
    this.render(false);
  }
}

function textOf(body) {
  if (typeof body === "string") {
    return body;
  }
  if (body && typeof body.text === "string") {
    return body.text;
  }
  try {
    return JSON.stringify(body);
  } catch {
    return String(body);
  }
}

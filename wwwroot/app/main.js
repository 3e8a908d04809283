// The board app: picks the room from the URL and a name, connects with the CollabHub JS SDK (wwwroot/js), and wires
// the board, the chat, presence and the connection indicator to the room.

import { CollabClient } from "/js/collab-client.js";
import { Board } from "./board.js";
import { Chat } from "./chat.js";
import { Presence } from "./presence.js";
import { Status } from "./status.js";
import { askName, signIn, storedName } from "./identity.js";
import { resolveRoom, roomFromHash, roomLink } from "./room-url.js";
import { Toasts, avatar, isTyping } from "./util.js";

const $ = id => document.getElementById(id);
const PHONE = window.matchMedia("(max-width: 760px)");

async function main() {
  const toasts = new Toasts($("toasts"));
  const roomId = resolveRoom();
  $("room-name").textContent = roomId;
  document.title = `${roomId} · CollabHub board`;
  window.addEventListener("hashchange", () => {
    const next = roomFromHash();
    if (next && next !== roomId) {
      location.reload(); // another room: start afresh
    }
  });
  $("copy-link").addEventListener("click", () => copyLink(roomLink(roomId), toasts));

  const status = new Status({
    el: $("status"), text: $("status-text"), banner: $("offline-banner"),
    bannerTitle: $("offline-title"), bannerDetail: $("offline-detail"),
  });
  const sidepanel = wireSidepanel();

  // Who you are.
  const identity = await chooseIdentity();
  const me = { userId: identity.userId, name: identity.name };
  $("me-avatar").replaceWith(Object.assign(avatar(me.userId, me.name, "avatar--small"), { id: "me-avatar" }));
  $("me-name").textContent = me.name;
  $("me-button").addEventListener("click", async () => {
    const name = await askName({ initial: me.name, cancellable: true, validate: checkName });
    if (name && name !== me.name) {
      location.reload(); // connect again as the new name
    }
  });

  const signalR = globalThis.signalR;
  if (!signalR) {
    throw new Error("The SignalR library did not load (/lib/signalr/signalr.min.js). Build Hub.Server, which restores it from npm.");
  }
  const client = new CollabClient({
    url: "/hubs/collab",
    signalR,
    ...identity.options,
    reconnect: { maxDelayMs: 5000 },
    // Edits not yet sent survive a reload of this tab.
    storage: window.sessionStorage,
    storageKey: `collabhub.queue.${me.userId}`,
  });
  client.on("state", state => status.update({ state, pending: client.pending }));
  client.on("pending", pending => status.update({ pending }));
  client.on("error", error => toasts.show(`Something went wrong: ${error?.message ?? error}`, { tone: "error" }));
  status.update({ pending: client.pending });

  client.start().catch(error => toasts.show(`Could not connect: ${error?.message ?? error}`, { tone: "error", timeoutMs: 10000 }));
  let room;
  try {
    room = await client.join(roomId);
  } catch (error) {
    showFatal(`Could not open the room “${roomId}”: ${error?.message ?? error}`);
    return;
  }
  status.update({ state: client.state, pending: client.pending });
  room.on("error", error => toasts.show(error?.message ?? String(error), { tone: "error", timeoutMs: 8000 }));

  let board;
  let chat;
  const presence = new Presence({
    room, me, list: $("avatars"), surface: $("board"),
    onRemoteDrag: (id, userId, pos, done) => board?.remoteDrag(id, userId, pos, done),
    onNames: () => {
      board?.refreshNames();
      chat?.refreshNames();
    },
  });
  const nameOf = userId => presence.nameOf(userId);
  board = new Board({
    room, me, scroller: $("board-scroller"), surface: $("board"), empty: $("board-empty"), toasts, nameOf,
    onDrag: (id, pos) => presence.dragging(id, pos),
  });
  chat = new Chat({
    room, me, list: $("messages"), empty: $("messages-empty"), form: $("composer"), input: $("composer-input"),
    nameOf, toasts, onIncoming: () => sidepanel.incoming(),
  });

  $("add-note").addEventListener("click", () => board.addNote());
  document.addEventListener("keydown", event => {
    if ((event.key === "n" || event.key === "N") && !isTyping(event) && !event.ctrlKey && !event.metaKey && !event.altKey
      && !document.querySelector("dialog[open]")) {
      event.preventDefault();
      board.addNote();
    }
  });
  window.addEventListener("pagehide", () => board.flushAll());
  document.body.dataset.ready = "true";
}

/** The name from localStorage, or asked for; then signed in (a dev token, or ?name=). */
async function chooseIdentity() {
  const saved = storedName();
  if (saved) {
    try {
      return await signIn(saved);
    } catch {
      // The server refuses the saved name: ask for another.
    }
  }
  let identity = null;
  await askName({
    initial: saved ?? "",
    validate: async name => {
      try {
        identity = await signIn(name);
        return null;
      } catch (error) {
        return error?.message ?? String(error);
      }
    },
  });
  return identity;
}

async function checkName(name) {
  try {
    await signIn(name);
    return null;
  } catch (error) {
    return error?.message ?? String(error);
  }
}

async function copyLink(link, toasts) {
  try {
    await navigator.clipboard.writeText(link);
    toasts.show("Link copied. Share it to invite people to this board.");
  } catch {
    // No clipboard (e.g. not a secure context): show the link to copy by hand.
    toasts.show(`Copy this link: ${link}`, { timeoutMs: 12000 });
  }
}

/** The chat panel: a column on wide screens, a sheet to open on phones (with a count of unread messages). */
function wireSidepanel() {
  const panel = $("sidepanel");
  const toggle = $("chat-toggle");
  const badge = $("chat-unread");
  let unread = 0;
  const isOpen = () => !PHONE.matches || panel.classList.contains("is-open");
  const setOpen = open => {
    panel.classList.toggle("is-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      unread = 0;
      badge.hidden = true;
      toggle.removeAttribute("aria-label");
      $("composer-input").focus();
      const list = $("messages");
      list.scrollTop = list.scrollHeight;
    }
  };
  toggle.addEventListener("click", () => setOpen(!panel.classList.contains("is-open")));
  $("chat-close").addEventListener("click", () => {
    setOpen(false);
    toggle.focus();
  });
  panel.addEventListener("keydown", event => {
    if (event.key === "Escape" && PHONE.matches && panel.classList.contains("is-open")) {
      setOpen(false);
      toggle.focus();
    }
  });
  return {
    incoming() {
      if (!isOpen()) {
        unread++;
        badge.textContent = unread > 99 ? "99+" : String(unread);
        badge.hidden = false;
        toggle.setAttribute("aria-label", `Chat, ${unread} unread`);
      }
    },
  };
}

function showFatal(message) {
  const board = $("board");
  const box = document.createElement("div");
  box.className = "fatal";
  box.setAttribute("role", "alert");
  box.textContent = message;
  board.replaceChildren(box);
}

main().catch(error => showFatal(`The board could not start: ${error?.message ?? error}`));

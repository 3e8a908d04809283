// The room comes from the URL: /#room=name. Without one (or with a name the hub would refuse), the board picks a
// random, friendly name and writes it back to the URL, so the address bar is always the link to share.

import { DEFAULT_MAX_ROOM_ID_LENGTH as MAX_ROOM_LENGTH, ROOM_ID_PATTERN as ROOM_ID } from "../js/protocol.js";
import { randomId } from "./util.js";

const ADJECTIVES = ["amber", "bright", "calm", "clever", "cosy", "daring", "eager", "gentle", "golden", "happy", "lucky",
  "mellow", "misty", "nimble", "quiet", "rapid", "sunny", "swift", "tidy", "vivid", "witty", "breezy", "cheerful", "bold"];
const NOUNS = ["otter", "maple", "harbor", "comet", "meadow", "falcon", "lantern", "pebble", "river", "willow", "fox",
  "panda", "cedar", "island", "orchid", "summit", "canyon", "robin", "koala", "aurora", "birch", "dune", "ember", "fern"];

export function isValidRoomId(id) {
  return typeof id === "string" && id.length <= MAX_ROOM_LENGTH && ROOM_ID.test(id);
}

export function randomRoomId() {
  const pick = list => list[Math.floor(Math.random() * list.length)];
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomId(4)}`;
}

/** The room id in the current URL's hash (#room=...), or null. */
export function roomFromHash(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const id = params.get("room");
  return id && isValidRoomId(id) ? id : null;
}

/** The room to open: the URL's, or a new random one written back to the URL (without a new history entry). */
export function resolveRoom() {
  const id = roomFromHash();
  if (id) {
    return id;
  }
  const fresh = randomRoomId();
  const url = new URL(location.href);
  url.hash = `room=${encodeURIComponent(fresh)}`;
  history.replaceState(history.state, "", url);
  return fresh;
}

/** The link to share for a room. */
export function roomLink(id) {
  const url = new URL(location.href);
  url.search = "";
  url.hash = `room=${encodeURIComponent(id)}`;
  return url.toString();
}

// A small TCP proxy in front of Hub.Server for the JS SDK tests: it can cut every connection (as a network failure
// would), refuse new ones (a network that stays down), and drop chosen SignalR messages on their way from the server
// to the client (a lost event or a lost answer).
//
//   const proxy = await startProxy("http://127.0.0.1:5000/hubs/collab");
//   new CollabClient({ url: proxy.hubUrl, skipNegotiation: true, ... });
//   proxy.cut();            // destroys the open connections (the client sees a 1006 close)
//   proxy.block();          // new connections are closed at once (until unblock())
//   const stop = proxy.drop(msg => msg.type === 1 && msg.target === "Changed");   // returns a function that stops it
//   proxy.inject({ type: 1, target: "AccessChanged", arguments: [roomId, { role: "none" }] });   // as if the server sent it
//   await proxy.close();
//
// Dropping messages parses the server's WebSocket frames (unmasked, as a server sends them) after the HTTP 101 answer;
// each text frame holds one or more SignalR JSON records ending with \x1e, and the records a predicate matches are
// cut out (the frame is rebuilt, or left out when nothing is left). Fragmented or compressed frames, and connections
// that are not WebSocket upgrades (negotiate, long polling), pass untouched: use skipNegotiation with WebSockets.

import net from "node:net";

const RS = "\x1e";

export async function startProxy(targetHubUrl) {
  const target = new URL(targetHubUrl);
  const targetPort = Number(target.port || (target.protocol === "https:" ? 443 : 80));
  const targetHost = target.hostname;
  const pairs = new Set();
  const droppers = new Set();
  const stats = { accepted: 0, refused: 0, dropped: 0, cut: 0 };
  let blocked = false;

  const server = net.createServer(client => {
    if (blocked) {
      stats.refused++;
      client.destroy();
      return;
    }
    stats.accepted++;
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      upstream.destroy();
      if (!pair.graceful) {
        client.destroy();
      }
    };
    client.on("error", end);
    upstream.on("error", end);
    client.on("close", end);
    upstream.on("close", end);
    client.pipe(upstream);
    const filter = serverToClientFilter(droppers, stats);
    pair.filter = filter;
    upstream.on("data", chunk => {
      const out = filter(chunk);
      if (out.length > 0 && !client.destroyed) {
        client.write(out);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = server.address().port;
  const base = new URL(targetHubUrl);
  base.hostname = "127.0.0.1";
  base.port = String(port);

  return {
    port,
    /** The hub URL through the proxy. */
    hubUrl: base.toString(),
    stats,
    /** How many connections are open through the proxy now. */
    get open() {
      return pairs.size;
    },
    /**
     * Ends every open connection. By default both sockets are destroyed at once. With { graceful: true } the client
     * gets a FIN (its WebSocket goes to CLOSING before SignalR notices) and what it sends after is discarded; the
     * server side is destroyed.
     */
    cut({ graceful = false } = {}) {
      for (const pair of [...pairs]) {
        stats.cut++;
        pair.graceful = graceful;
        pair.upstream.destroy();
        if (graceful) {
          pair.client.unpipe();
          pair.client.removeAllListeners("data");
          pair.client.on("data", () => {});
          pair.client.end();
          setTimeout(() => pair.client.destroy(), 200).unref();
        } else {
          pair.client.destroy();
        }
      }
      pairs.clear();
    },
    /** New connections are closed as soon as they arrive (the open ones stay). */
    block() {
      blocked = true;
    },
    unblock() {
      blocked = false;
    },
    /**
     * Sends a SignalR message to every open WebSocket connection's client, as if the server had sent it. Returns how
     * many connections got it. (The proxy forwards whole frames only, so this never splits one.)
     */
    inject(message) {
      let count = 0;
      for (const pair of pairs) {
        if (pair.filter.mode === "ws" && !pair.client.destroyed) {
          pair.client.write(encodeTextFrame(Buffer.from(`${JSON.stringify(message)}${RS}`, "utf8")));
          count++;
        }
      }
      return count;
    },
    /** Drops server→client SignalR messages for which predicate(message) is true; returns a function that stops it. */
    drop(predicate) {
      const entry = { predicate };
      droppers.add(entry);
      return () => droppers.delete(entry);
    },
    async close() {
      this.cut();
      await new Promise(resolve => server.close(() => resolve()));
    },
  };
}

/** A per-connection transform of the server's bytes: passes HTTP, then rewrites WebSocket text frames. */
function serverToClientFilter(droppers, stats) {
  let mode = "http";
  let buffer = Buffer.alloc(0);
  const filter = chunk => {
    const out = filterChunk(chunk);
    filter.mode = mode;
    return out;
  };
  filter.mode = mode;
  return filter;

  function filterChunk(chunk) {
    if (mode === "raw") {
      return chunk;
    }
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    const out = [];
    if (mode === "http") {
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buffer.length > 64 * 1024) {
          mode = "raw";
          const all = buffer;
          buffer = Buffer.alloc(0);
          return all;
        }
        return Buffer.alloc(0);
      }
      const head = buffer.subarray(0, end + 4);
      out.push(head);
      buffer = buffer.subarray(end + 4);
      mode = / 101 /.test(head.toString("latin1").split("\r\n")[0]) ? "ws" : "raw";
      if (mode === "raw") {
        out.push(buffer);
        buffer = Buffer.alloc(0);
        return Buffer.concat(out);
      }
    }
    for (;;) {
      const frame = readFrame(buffer);
      if (!frame) {
        break;
      }
      buffer = buffer.subarray(frame.total);
      out.push(filterFrame(frame, droppers, stats));
    }
    return Buffer.concat(out);
  }
}

function readFrame(buf) {
  if (buf.length < 2) {
    return null;
  }
  const b0 = buf[0];
  const b1 = buf[1];
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) {
      return null;
    }
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) {
      return null;
    }
    length = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked) {
    offset += 4;
  }
  const total = offset + length;
  if (buf.length < total) {
    return null;
  }
  return {
    raw: buf.subarray(0, total),
    fin: (b0 & 0x80) !== 0,
    rsv: b0 & 0x70,
    opcode: b0 & 0x0f,
    masked,
    payload: buf.subarray(offset, total),
    total,
  };
}

function filterFrame(frame, droppers, stats) {
  if (droppers.size === 0 || frame.opcode !== 1 || !frame.fin || frame.rsv !== 0 || frame.masked) {
    return Buffer.from(frame.raw);
  }
  const text = frame.payload.toString("utf8");
  const records = text.split(RS);
  const tail = records.pop(); // "" when the frame ends with a separator
  let changed = false;
  const kept = records.filter(record => {
    let message;
    try {
      message = JSON.parse(record);
    } catch {
      return true;
    }
    for (const { predicate } of droppers) {
      let drop = false;
      try {
        drop = predicate(message);
      } catch {
        drop = false;
      }
      if (drop) {
        stats.dropped++;
        changed = true;
        return false;
      }
    }
    return true;
  });
  if (!changed) {
    return Buffer.from(frame.raw);
  }
  if (kept.length === 0 && !tail) {
    return Buffer.alloc(0);
  }
  return encodeTextFrame(Buffer.from(kept.map(r => r + RS).join("") + tail, "utf8"));
}

function encodeTextFrame(payload) {
  let header;
  if (payload.length < 126) {
    header = Buffer.from([0x81, payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

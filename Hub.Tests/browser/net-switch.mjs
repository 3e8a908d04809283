// A TCP relay on 127.0.0.1 in front of the server: one browser page reaches the server through it, so the test can
// cut that page's network for real (every open connection, the WebSocket included, is reset, and new ones are
// refused) and bring it back. Chromium's offline emulation alone may leave an open WebSocket running.

import net from "node:net";

export async function startNetSwitch(targetPort, targetHost = "127.0.0.1") {
  const sockets = new Set();
  let up = true;
  let accepted = 0;

  const kill = socket => {
    if (typeof socket.resetAndDestroy === "function") {
      socket.resetAndDestroy(); // RST, as a dropped network looks to the browser
    } else {
      socket.destroy();
    }
  };

  const server = net.createServer(client => {
    if (!up) {
      kill(client);
      return;
    }
    accepted++;
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });

  return {
    port: server.address().port,
    /** Connections open through the switch now (each is a pair of sockets). */
    get open() {
      return sockets.size / 2;
    },
    get accepted() {
      return accepted;
    },
    get up() {
      return up;
    },
    /** Resets every open connection and refuses new ones until restore(). */
    cut() {
      up = false;
      for (const socket of [...sockets]) {
        kill(socket);
      }
      sockets.clear();
    },
    restore() {
      up = true;
    },
    close() {
      this.cut();
      return new Promise(resolve => server.close(() => resolve()));
    },
  };
}

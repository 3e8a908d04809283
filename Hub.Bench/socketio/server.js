// The Socket.IO system Hub.Bench measures: the same shapes as CollabHub's hub (join a room, set a key and get an
// acknowledgement, everyone in the room gets "changed"), with no store: a per-room counter stands in for the seq.
// With REDIS_URL set, rooms span instances through @socket.io/redis-adapter (the stock way to scale Socket.IO out).
// Prints "listening on http://127.0.0.1:PORT" once it accepts connections; PORT=0 (the default) takes a free port.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { Redis } from "ioredis";

const redisUrl = process.env.REDIS_URL ?? "";
const httpServer = createServer();
const io = new Server(httpServer, { serveClient: false, transports: ["websocket"] });

if (redisUrl) {
  const pub = new Redis(redisUrl);
  const sub = pub.duplicate();
  io.adapter(createAdapter(pub, sub));
}

const seqs = new Map();

io.on("connection", socket => {
  const by = String(socket.handshake.query.name ?? socket.id);

  socket.on("join", (request, ack) => {
    const roomId = String(request?.roomId ?? "");
    socket.join(roomId);
    ack?.({ roomId, seq: seqs.get(roomId) ?? 0 });
  });

  socket.on("set", (request, ack) => {
    const roomId = String(request?.roomId ?? "");
    if (!socket.rooms.has(roomId)) {
      ack?.({ error: `not_joined: join room '${roomId}' before using it` });
      return;
    }
    const seq = (seqs.get(roomId) ?? 0) + 1;
    seqs.set(roomId, seq);
    const entry = { key: request.key, value: request.value, version: seq, deleted: false, by, at: new Date().toISOString() };
    io.to(roomId).emit("changed", roomId, entry);
    ack?.({ applied: true, duplicate: false, conflict: false, seq, entry });
  });
});

httpServer.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}

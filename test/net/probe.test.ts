import { createServer, type Socket } from "node:net";
import t from "tap";
import { tcpDialer } from "../../src/net/probe.js";

t.test("an open port: true; the connection is closed at once and carries no data", async (t) => {
  const received: Buffer[] = [];
  let closed!: () => void;
  const done = new Promise<void>((resolve) => (closed = resolve));
  const server = createServer((socket: Socket) => {
    socket.on("data", (chunk: Buffer) => received.push(chunk));
    socket.on("close", () => closed());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  t.equal(await tcpDialer({ ip: "127.0.0.1", port }, 2_000), true);
  await done;
  t.same(received, [], "nothing sent");
});

t.test("a closed port: false", async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  t.equal(await tcpDialer({ ip: "127.0.0.1", port }, 2_000), false);
});

t.test("a name is never resolved: false", async (t) => {
  t.equal(await tcpDialer({ ip: "localhost", port: 1 }, 2_000), false);
});

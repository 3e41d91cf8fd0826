import { createHash } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

// A running `simd23 devnet` answers commands (scale, restart, ps) on a Unix socket beside its
// devnet file: HTTP with JSON bodies, reachable only by the user who can reach the home folder.

/** A Unix socket path must fit in sockaddr_un (108 bytes on Linux, 104 on macOS). */
const MAX_SOCKET_PATH = 100;

/** The control socket of the devnet whose home is `home`: `<home>/devnet.sock`, or one in the temp folder named after the home when that path is too long. */
export function controlSocketPath(home: string): string {
  const inHome = join(home, "devnet.sock");
  if (Buffer.byteLength(inHome) <= MAX_SOCKET_PATH) return inHome;
  const digest = createHash("sha256").update(home).digest("hex").slice(0, 16);
  return join(tmpdir(), `simd23-devnet-${digest}.sock`);
}

/** A refusal a handler answers with: the status code and a one-line message. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = "ControlError";
  }
}

export type ControlHandler = (body: unknown) => Promise<unknown>;

const MAX_BODY_BYTES = 64 * 1024;

/** Serves `POST /<command>` with a JSON body on the socket; a handler's ControlError is the answer's error. */
export async function startControlServer(
  socketPath: string,
  handlers: Readonly<Record<string, ControlHandler>>,
): Promise<{ close(): Promise<void> }> {
  // A socket left by a devnet that was killed would make listen fail with EADDRINUSE.
  if (existsSync(socketPath)) rmSync(socketPath, { force: true });
  const server: Server = createServer((req, res) => {
    const answer = (statusCode: number, body: unknown) => {
      res.writeHead(statusCode, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const command = (req.url ?? "/").replace(/^\//, "");
    const handler = Object.hasOwn(handlers, command) ? handlers[command] : undefined;
    if (req.method !== "POST" || handler === undefined) {
      answer(404, { error: `unknown command ${req.method} /${command}` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => {
      let body: unknown;
      try {
        body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        answer(400, { error: "the request body is not JSON" });
        return;
      }
      handler(body).then(
        (result) => answer(200, result ?? {}),
        (error: unknown) =>
          error instanceof ControlError
            ? answer(error.statusCode, { error: error.message })
            : answer(500, { error: (error as Error)?.message ?? String(error) }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(socketPath, { force: true });
      }),
  };
}

/** Sends a command to a running devnet; throws with the devnet's one-line answer when it refuses. */
export function controlRequest(
  socketPath: string,
  command: string,
  body: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        // One connection per command: a pooled one may belong to a devnet that has since stopped.
        agent: false,
        path: `/${command}`,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            reject(new Error(`the devnet answered ${res.statusCode} with a body that is not JSON`));
            return;
          }
          if (res.statusCode === 200) resolve(json);
          else
            reject(
              new ControlError(
                (json as { error?: string }).error ?? `status ${res.statusCode}`,
                res.statusCode,
              ),
            );
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`the devnet did not answer within ${timeoutMs} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "ENOENT" || error.code === "ECONNREFUSED"
          ? new Error(`no devnet answers on ${socketPath}: is \`simd23 devnet\` running with this home?`)
          : error,
      ),
    );
    req.end(payload);
  });
}

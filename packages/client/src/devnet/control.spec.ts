import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ControlError, controlRequest, controlSocketPath, startControlServer } from "./control.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-control-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe("the devnet's control socket", () => {
  it("lives beside the devnet file, or in the temp folder when that path is too long for a socket", () => {
    expect(controlSocketPath("/home/u/simd23/.devnet")).toBe("/home/u/simd23/.devnet/devnet.sock");
    const deep = `/tmp/${"d".repeat(120)}`;
    const path = controlSocketPath(deep);
    expect(path).toMatch(/^.*simd23-devnet-[0-9a-f]{16}\.sock$/);
    expect(controlSocketPath(deep)).toBe(path);
    expect(controlSocketPath(`${deep}x`)).not.toBe(path);
  });

  it("answers commands with JSON, refusals with their one-line message, and unknown commands with 404", async () => {
    const socket = join(directory, "devnet.sock");
    const received: unknown[] = [];
    const server = await startControlServer(socket, {
      scale: async (body) => {
        received.push(body);
        const count = (body as { proposers?: unknown }).proposers;
        if (typeof count !== "number") throw new ControlError("scale: expected a number");
        return { added: [`proposer-${count - 1}`] };
      },
      crash: async () => {
        throw new Error("boom");
      },
    });
    try {
      expect(await controlRequest(socket, "scale", { proposers: 4 }, 2_000)).toEqual({
        added: ["proposer-3"],
      });
      expect(received).toEqual([{ proposers: 4 }]);
      const refused = controlRequest(socket, "scale", { proposers: "x" }, 2_000);
      await expect(refused).rejects.toThrow(ControlError);
      await expect(refused).rejects.toMatchObject({ statusCode: 400, message: "scale: expected a number" });
      await expect(controlRequest(socket, "nope", {}, 2_000)).rejects.toMatchObject({ statusCode: 404 });
      await expect(controlRequest(socket, "crash", {}, 2_000)).rejects.toMatchObject({
        statusCode: 500,
        message: "boom",
      });
    } finally {
      await server.close();
    }
    await expect(controlRequest(socket, "scale", { proposers: 1 }, 2_000)).rejects.toThrow(
      /no devnet answers on .*devnet\.sock/,
    );
  });

  it("takes over a socket file left by a devnet that was killed", async () => {
    const socket = join(directory, "stale.sock");
    const first = await startControlServer(socket, { ps: async () => ({ n: 1 }) });
    // Closing the listener without unlinking is what a SIGKILL leaves: a file nobody answers on.
    await first.close();
    const { writeFileSync } = await import("node:fs");
    writeFileSync(socket, "");
    const second = await startControlServer(socket, { ps: async () => ({ n: 2 }) });
    try {
      expect(await controlRequest(socket, "ps", {}, 2_000)).toEqual({ n: 2 });
    } finally {
      await second.close();
    }
  });
});

import { createClient } from "@connectrpc/connect";
import { expect } from "vitest";
import type { MeshConfig } from "../../src/core/config.js";
import type { BuiltRole } from "../../src/core/process/grpc-server.js";
import type { Logger } from "../../src/core/runtime/index.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { parseCode } from "../../src/domain/code-format.js";
import { serialKey, type SerialDoc } from "../../src/emission-server/emission-orders.js";
import { buildEmissionServer } from "../../src/emission-server/server.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import type { Store } from "../../src/store/store.js";
import { bearer } from "./in-memory-mesh.js";
import { TOKENS } from "./test-config.js";

/** Every code of the order at an Emission server, streamed to its end. */
export async function codesOf(role: BuiltRole, orderId: string): Promise<string[]> {
  const client = createClient(EmitterService, inMemoryTransport(role.spec, bearer(TOKENS.registrar)));
  const codes: string[] = [];
  for await (const r of client.streamCodes({ orderId })) codes.push(...(r.block?.codes ?? []));
  return codes;
}

/** The serial registry's keys held by the order, sorted. */
export async function registryOf(store: Store, orderId: string): Promise<string[]> {
  return (await (await store.collection<SerialDoc>("serials")).find({ orderId })).map((s) => s._id).sort();
}

/** The registry keys of these codes' serials, sorted: what registryOf must equal. */
export function serialKeysOf(codes: readonly string[]): string[] {
  return codes
    .map((c) => {
      const p = parseCode(c);
      if (!p.ok) throw new Error(`not a code: ${c}`);
      return serialKey(p.gtin, p.serial);
    })
    .sort();
}

/**
 * After an instance died mid-order: a new one on the same store emits each of
 * the order's `quantity` codes once, and the registry holds exactly their serials.
 */
export async function expectFinishedByNewInstance(
  o: { config: MeshConfig; log: Logger; store: Store },
  orderId: string,
  quantity: number,
): Promise<void> {
  const next = await buildEmissionServer(o);
  try {
    const codes = await codesOf(next, orderId);
    expect(codes).toHaveLength(quantity);
    const emitted = serialKeysOf(codes);
    expect(new Set(emitted).size).toBe(quantity);
    expect(await registryOf(o.store, orderId)).toEqual(emitted);
  } finally {
    await next.stop();
  }
}

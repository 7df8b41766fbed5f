import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createClient, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAddress } from "../../src/core/config.js";
import { createDownstreamTransport } from "../../src/core/process/downstream-transport.js";
import { parseCode } from "../../src/domain/code-format.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { startFerretDb, type TestMongo } from "../support/ferretdb.js";
import { milkOrder } from "../support/orders.js";
import { startRole, type RoleProcess } from "../support/processes.js";
import { TOKENS } from "../support/test-config.js";

const CLI = fileURLToPath(new URL("../../dist/emission-server/signing-keys-cli.js", import.meta.url));
/** No EMISSION_KEYS: the Emission server keeps its ring in its database. */
const ENV = { EMISSION_KEYS: "", WORK_LEASE_MS: "1000", BLOCK_SIZE: "100", EMISSION_RATE: "100000", CALL_TIMEOUT_MS: "2000" };

function clientOf(role: RoleProcess): Client<typeof EmitterService> {
  return createClient(
    EmitterService,
    createDownstreamTransport({ address: parseAddress(role.address), token: TOKENS.registrar, maxMessageBytes: 64 << 20 }),
  );
}

let n = 0;
/** Places an order of `quantity` codes and returns them all. */
async function emit(role: RoleProcess, quantity: number): Promise<string[]> {
  const client = clientOf(role);
  const { orderId } = await client.createEmissionOrder(
    { participantId: "77", order: milkOrder(quantity) },
    { headers: { "x-request-id": `keys-e2e-${process.pid}-${++n}` } },
  );
  const codes: string[] = [];
  for await (const r of client.streamCodes({ orderId })) codes.push(...(r.block?.codes ?? []));
  return codes;
}

/** VerifyCode's answer for every fifth code (one at a time: the server bounds calls in progress). */
async function allVerify(role: RoleProcess, codes: readonly string[]): Promise<boolean[]> {
  const client = clientOf(role);
  const valid: boolean[] = [];
  for (const code of sample(codes)) valid.push((await client.verifyCode({ code })).valid);
  return valid;
}

function sample(codes: readonly string[]): string[] {
  return codes.filter((_, i) => i % 5 === 0);
}

function allTrue(codes: readonly string[]): boolean[] {
  return sample(codes).map(() => true);
}

function keyIdOf(code: string): string {
  const p = parseCode(code);
  return p.ok ? p.keyId : "";
}

describe("Emission-server signing keys kept in MongoDB (FerretDB)", () => {
  let db: TestMongo;
  const started: RoleProcess[] = [];
  beforeAll(async () => {
    db = await startFerretDb();
  });
  afterAll(async () => {
    await Promise.all(started.map((r) => r.stop()));
    await db?.stop();
  });

  it("codes verify after a kill -9 and restart, at a second instance, and after a key rotation", { timeout: 120_000 }, async () => {
    const env = { ...ENV, MONGODB_URI: db.uri, MONGODB_DATABASE_PREFIX: `keys-${Date.now()}-` };
    const start = async (port = 0): Promise<RoleProcess> => {
      const r = await startRole("emission-server", env, port);
      started.push(r);
      return r;
    };
    let first = await start();
    const before = await emit(first, 250);
    expect(await allVerify(first, before)).toEqual(allTrue(before));
    const originalKey = keyIdOf(before[0]!);

    const second = await start();
    expect(await allVerify(second, before)).toEqual(allTrue(before));
    const fromSecond = await emit(second, 50);
    expect(keyIdOf(fromSecond[0]!)).toBe(originalKey);
    expect(await allVerify(first, fromSecond)).toEqual(allTrue(fromSecond));

    await first.stop("SIGKILL");
    first = await start(first.port);
    expect(await allVerify(first, before)).toEqual(allTrue(before));

    // Rotation by the operator command; a restart signs with the new key at once.
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, "rotate"], { env: { PATH: process.env.PATH ?? "", ...env } });
    const rotated = JSON.parse(stdout) as { activeKeyId: string; keyIds: string[] };
    expect(rotated.keyIds).toEqual([originalKey, rotated.activeKeyId]);
    expect(stdout).not.toMatch(/secret/);
    await first.stop("SIGTERM");
    first = await start(first.port);
    const after = await emit(first, 50);
    expect(new Set(after.map(keyIdOf))).toEqual(new Set([rotated.activeKeyId]));
    expect(await allVerify(first, [...before, ...after])).toEqual(allTrue([...before, ...after]));
    // The instance that was not restarted verifies the new key's codes too.
    expect(await allVerify(second, after)).toEqual(allTrue(after));
  });
});

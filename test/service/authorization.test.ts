import { create, toJson, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type CallOptions, type Transport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/core/iotp/auth.js";
import { grpcCodeName } from "../../src/core/rpc/grpc-code-name.js";
import { inMemoryTransport } from "../../src/core/process/in-memory-transport.js";
import { OrderSpecSchema } from "../../src/gen/emission/common/v1/order_pb.js";
import { OrderStatus, PoolStatus } from "../../src/gen/emission/common/v1/status_pb.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { JournalService, type JournalEntry } from "../../src/gen/emission/journal/v1/journal_pb.js";
import { OmsService, OrderSchema } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { RegistrarService } from "../../src/gen/emission/registrar/v1/registrar_pb.js";
import { inMemoryMesh, type InMemoryMesh } from "../support/in-memory-mesh.js";
import { milkOrder } from "../support/orders.js";
import { OTHER_PARTICIPANT, PARTICIPANT, TOKENS } from "../support/test-config.js";

/*
 * The access design of the mesh, stated here on purpose rather than read from
 * the servers' POLICY maps: each role is called only by the role above it, and
 * a role's journal is read by that same caller and by an operator.
 *   APCS → OMS → Registrar → Emission server
 * Every method of every listed service is exercised, taken from the generated
 * descriptors, so a method added to a contract later is covered without
 * touching this file.
 */
type Target = "oms" | "registrar" | "emission";

const ROLE_NAME: Record<Target, Role> = { oms: "oms", registrar: "registrar", emission: "emission-server" };

interface ServiceRule {
  target: Target;
  service: DescService;
  allowed: readonly Role[];
  /** Methods allowed to other roles than their service (by method name). */
  methods?: Readonly<Record<string, readonly Role[]>>;
}

const DESIGN: readonly ServiceRule[] = [
  // Operators may read the product-group rules, nothing else of OMS.
  { target: "oms", service: OmsService, allowed: ["apcs"], methods: { ListProductGroups: ["apcs", "admin"] } },
  { target: "oms", service: JournalService, allowed: ["apcs", "admin"] },
  { target: "registrar", service: RegistrarService, allowed: ["oms"] },
  { target: "registrar", service: JournalService, allowed: ["oms", "admin"] },
  { target: "emission", service: EmitterService, allowed: ["registrar"] },
  { target: "emission", service: JournalService, allowed: ["registrar", "admin"] },
];

/** Who presents what: no token, a forged one, and every configured token. */
interface Presenter {
  name: string;
  /** The bearer token, or undefined for none. */
  token: string | undefined;
  /** The role the token stands for; undefined when it authenticates nobody. */
  role: Role | undefined;
  participantId: string;
}

const PRESENTERS: readonly Presenter[] = [
  { name: "none", token: undefined, role: undefined, participantId: "" },
  { name: "unknown", token: "t-forged-token", role: undefined, participantId: "" },
  { name: "apcs", token: TOKENS.apcs, role: "apcs", participantId: PARTICIPANT },
  { name: "apcsOther", token: TOKENS.apcsOther, role: "apcs", participantId: OTHER_PARTICIPANT },
  { name: "oms", token: TOKENS.oms, role: "oms", participantId: "" },
  { name: "registrar", token: TOKENS.registrar, role: "registrar", participantId: "" },
  { name: "admin", token: TOKENS.admin, role: "admin", participantId: "" },
];

type Outcome = Code | "ok" | "open";

const STREAM_FIRST_MESSAGE_MS = 1_500;

function outcomeName(o: Outcome): string {
  return typeof o === "string" ? o.toUpperCase() : grpcCodeName(o);
}

let nextId = 0;
function requestId(tag: string): string {
  nextId += 1;
  return `authz.${tag}.${nextId}`.replace(/[^A-Za-z0-9._:-]/g, "_").slice(0, 128);
}

type AnyMethod = (req: unknown, opts: CallOptions) => unknown;

/**
 * Calls one method through a transport: a unary call to its end; a
 * server stream until its first message or its error ("open" when neither
 * comes in time: the stream was accepted and is waiting).
 */
async function call(transport: Transport, service: DescService, method: DescMethod, message: unknown, id: string): Promise<Outcome> {
  const client = createClient(service, transport) as unknown as Record<string, AnyMethod>;
  const fn = client[method.localName];
  if (fn === undefined) throw new Error(`no client method ${method.localName}`);
  const headers = { "x-request-id": id };
  try {
    switch (method.methodKind) {
      case "unary":
        await fn.call(client, message, { headers });
        return "ok";
      case "server_streaming": {
        const abort = new AbortController();
        const stream = fn.call(client, message, { headers, signal: abort.signal }) as AsyncIterable<unknown>;
        const it = stream[Symbol.asyncIterator]();
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<"open">((resolve) => {
          timer = setTimeout(() => resolve("open"), STREAM_FIRST_MESSAGE_MS);
        });
        try {
          const first = await Promise.race([it.next().then(() => "ok" as const), timeout]);
          return first;
        } finally {
          clearTimeout(timer);
          abort.abort();
          await it.return?.().catch(() => undefined);
        }
      }
      default:
        throw new Error(`${service.typeName}/${method.name}: ${method.methodKind} methods are not exercised by this test yet`);
    }
  } catch (err) {
    if (err instanceof Error && err.message.includes("not exercised by this test")) throw err;
    return ConnectError.from(err).code;
  }
}

/** Every "auth" entry of a role's journal, read with the operator token (all pages). */
async function authEntries(mesh: InMemoryMesh, target: Target): Promise<JournalEntry[]> {
  const journal = createClient(JournalService, mesh.to(target, TOKENS.admin));
  const all: JournalEntry[] = [];
  let pageToken = "";
  do {
    const page = await journal.listJournal({ step: "auth", pageSize: 1000, pageToken });
    all.push(...page.entries);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  return all;
}

function transportFor(mesh: InMemoryMesh, target: Target, p: Presenter): Transport {
  return p.token === undefined ? inMemoryTransport(mesh[target].spec) : mesh.to(target, p.token);
}

function expectedOutcome(rule: ServiceRule, method: DescMethod, p: Presenter): "UNAUTHENTICATED" | "PERMISSION_DENIED" | "PAST_AUTH" {
  if (p.role === undefined) return "UNAUTHENTICATED";
  const allowed = rule.methods?.[method.name] ?? rule.allowed;
  return allowed.includes(p.role) ? "PAST_AUTH" : "PERMISSION_DENIED";
}

function seen(o: Outcome): "UNAUTHENTICATED" | "PERMISSION_DENIED" | "PAST_AUTH" {
  return o === Code.Unauthenticated ? "UNAUTHENTICATED" : o === Code.PermissionDenied ? "PERMISSION_DENIED" : "PAST_AUTH";
}

const CELLS = DESIGN.flatMap((rule) =>
  rule.service.methods.map((method) => ({ rule, method, label: `${rule.target} ${rule.service.name}/${method.name}` })),
);

/** The resulting matrix, printed once at the end: row per method, a column per presenter. */
const matrix = new Map<string, Map<string, string>>();

describe("authorisation matrix: every method, every token", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
  });
  afterAll(async () => {
    await mesh.close();
    if (process.env.AUTHZ_MATRIX !== undefined) {
      const cols = PRESENTERS.map((p) => p.name);
      const lines = [["method", ...cols].join("\t")];
      for (const [row, cells] of matrix) lines.push([row, ...cols.map((c) => cells.get(c) ?? "?")].join("\t"));
      console.log(lines.join("\n"));
    }
  });

  it("each role serves exactly the services the design speaks of", () => {
    for (const target of ["oms", "registrar", "emission"] as const) {
      const served = mesh[target].spec.services.map((s) => s.typeName).sort();
      const designed = DESIGN.filter((r) => r.target === target)
        .map((r) => r.service.typeName)
        .sort();
      expect(served, `services of ${target}`).toEqual(designed);
    }
  });

  describe.each(CELLS)("$label", ({ rule, method }) => {
    it.each(PRESENTERS)("with token $name", async (p) => {
      const id = requestId(`${rule.target}.${method.name}.${p.name}`);
      const outcome = await call(transportFor(mesh, rule.target, p), rule.service, method, create(method.input), id);
      const row = `${rule.target} ${rule.service.name}/${method.name}`;
      if (!matrix.has(row)) matrix.set(row, new Map());
      matrix.get(row)?.set(p.name, outcomeName(outcome));

      const expected = expectedOutcome(rule, method, p);
      expect(seen(outcome), `${row} with ${p.name} token gave ${outcomeName(outcome)}`).toBe(expected);

      // Nothing a refused caller sent is journaled: refusals are counted, and journaled per cause in aggregate (below).
      expect((await authEntries(mesh, rule.target)).filter((e) => e.requestId === id)).toEqual([]);
      const refusals = refusalTotal(mesh, rule.target, p.participantId);
      expect(refusals - (counted.get(`${rule.target}|${p.participantId}`) ?? 0), "refusals counted for the call").toBe(
        expected === "PAST_AUTH" ? 0 : 1,
      );
      counted.set(`${rule.target}|${p.participantId}`, refusals);
    });
  });

  it("journals the refusals once per cause, with their count and who was refused, never a request id", async () => {
    for (const target of ["oms", "registrar", "emission"] as const) {
      const expected = mesh[target].spec.refusals.snapshot().filter((c) => c.kind === "auth");
      await mesh[target].spec.refusals.flush();
      const entries = await authEntries(mesh, target);
      const reasonIn = (e: JournalEntry): string => /\(([A-Z_]+)\)/.exec(e.message)?.[1] ?? "";
      expect(entries.map((e) => [reasonIn(e), e.code, e.participantId]).sort()).toEqual(
        expected.map((c) => [c.reason, c.code, c.participantId]).sort(),
      );
      for (const e of entries) {
        const cause = expected.find((c) => c.reason === reasonIn(e) && c.participantId === e.participantId);
        expect(e.role).toBe(ROLE_NAME[target]);
        expect(e.requestId).toBe("");
        expect(e.message.startsWith(`${cause?.total ?? 0} call`)).toBe(true);
      }
    }
  });
});

/** Auth refusals a role counted since start for one participant ("" = no token, or an unknown one). */
function refusalTotal(mesh: InMemoryMesh, target: Target, participantId: string): number {
  return mesh[target].spec.refusals
    .snapshot()
    .filter((c) => c.kind === "auth" && c.participantId === participantId)
    .reduce((n, c) => n + c.total, 0);
}

/** refusalTotal as last seen, per target and participant. */
const counted = new Map<string, number>();

/** Plausible values for the other fields of an order request, by field name. */
function sampleValue(field: string, orderId: string): unknown {
  switch (field) {
    case "order_id":
      return orderId;
    case "block_id":
      return `${orderId}/1`;
    case "through_block":
      return 1;
    case "after_block":
      return 0;
    case "reason":
      return "not yours";
    default:
      return undefined;
  }
}

function orderRequest(method: DescMethod, orderId: string): unknown {
  const message = create(method.input) as unknown as Record<string, unknown>;
  for (const field of method.input.fields) {
    const v = sampleValue(field.name, orderId);
    if (v !== undefined) message[field.localName] = v;
  }
  return message;
}

const ORDER_METHODS = OmsService.methods.filter((m) => m.input.fields.some((f) => f.name === "order_id"));

describe("participant isolation at OMS", () => {
  const FAST = {
    BLOCK_SIZE: "10",
    EMISSION_RATE: "1000000",
    RETRANSMIT_ATTEMPTS: "2",
    RETRANSMIT_BACKOFF_MS: "10",
    RETRANSMIT_MAX_BACKOFF_MS: "20",
  };
  const OWNER_REQUEST = "authz-owner-create-0001";
  let mesh: InMemoryMesh;
  let orderId: string;

  const ownerView = async (): Promise<unknown> => {
    const r = await mesh.omsClient(TOKENS.apcs).getOrder({ orderId });
    return toJson(OrderSchema, r.order ?? create(OrderSchema));
  };

  beforeAll(async () => {
    mesh = await inMemoryMesh(FAST);
    orderId = (await mesh.apcs.placeOrder(milkOrder(30), OWNER_REQUEST)).orderId;
    const deadline = Date.now() + 20_000;
    for (;;) {
      const o = (await mesh.omsClient(TOKENS.apcs).getOrder({ orderId })).order;
      if (o?.status === OrderStatus.READY && o.receivedBlocks === 3) break;
      if (Date.now() > deadline) throw new Error(`order ${orderId} did not become READY: ${JSON.stringify(o && toJson(OrderSchema, o))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(async () => {
    await mesh.close();
  });

  it("has order methods to check", () => {
    expect(ORDER_METHODS.map((m) => m.name)).toEqual(
      expect.arrayContaining(["GetOrder", "AcknowledgeBlocks", "CloseOrder", "CancelOrder"]),
    );
  });

  it.each(ORDER_METHODS.map((method) => ({ method, name: method.name })))(
    "$name on the owner's order with another participant's token is NOT_FOUND and changes nothing",
    async ({ method }) => {
      const before = await ownerView();
      const outcome = await call(
        mesh.to("oms", TOKENS.apcsOther),
        OmsService,
        method,
        orderRequest(method, orderId),
        requestId(`other.${method.name}`),
      );
      expect(outcomeName(outcome)).toBe("NOT_FOUND");
      expect(await ownerView()).toEqual(before);
    },
  );

  it("CreateOrder by another participant reusing the owner's request id never answers with the owner's order", async () => {
    const before = await ownerView();
    const other = mesh.omsClient(TOKENS.apcsOther);
    const outcome = await other.createOrder({ order: milkOrder(10) }, { headers: { "x-request-id": OWNER_REQUEST } }).then(
      (r) => r.order,
      (e: unknown) => ConnectError.from(e),
    );
    if (!(outcome instanceof ConnectError)) {
      expect(outcome?.orderId).not.toBe(orderId);
      expect(outcome?.participantId).toBe(OTHER_PARTICIPANT);
    }
    expect(await ownerView()).toEqual(before);
  });

  it("CancelOrder by the owner's create_request_id from another participant does not cancel the owner's order", async () => {
    const before = await ownerView();
    const other = mesh.omsClient(TOKENS.apcsOther);
    const r = await other.cancelOrder(
      { createRequestId: OWNER_REQUEST },
      { headers: { "x-request-id": requestId("other.cancel-by-request") } },
    );
    // Request ids are per participant: at most the other participant's own order with that id is cancelled.
    expect(r.order?.participantId ?? OTHER_PARTICIPANT, "nothing of the owner's comes back").toBe(OTHER_PARTICIPANT);
    expect(await ownerView()).toEqual(before);
  });

  it("a cancel mark set by another participant does not stop the owner's order placed later with that request id", async () => {
    const future = "authz-owner-future-0001";
    const other = mesh.omsClient(TOKENS.apcsOther);
    const r = await other.cancelOrder({ createRequestId: future }, { headers: { "x-request-id": requestId("other.cancel-future") } });
    expect(r.order).toBeUndefined();
    const placed = await mesh.apcs.placeOrder(milkOrder(10), future);
    expect(placed.participantId).toBe(PARTICIPANT);
    expect(placed.status).not.toBe(OrderStatus.CANCELLED);
  });

  /*
   * Request ids belong to their caller: OMS derives the id it sends to the
   * Registrar from participant + request id, so two participants using the
   * same x-request-id never collide below OMS.
   */
  it("another participant's own CreateOrder is not refused because the owner already used its x-request-id", async () => {
    const shared = "authz-shared-create-0001";
    await mesh.apcs.placeOrder(milkOrder(10), shared);
    const r = await mesh.omsClient(TOKENS.apcsOther).createOrder({ order: milkOrder(10) }, { headers: { "x-request-id": shared } });
    expect(r.order?.participantId).toBe(OTHER_PARTICIPANT);
  });

  it("another participant's CloseOrder of its own order reaches the Registrar although the owner used the same x-request-id", async () => {
    const mine = await mesh.apcs.placeOrder(milkOrder(10), "authz-close-owner-0001");
    const theirs = (
      await mesh
        .omsClient(TOKENS.apcsOther)
        .createOrder({ order: milkOrder(10) }, { headers: { "x-request-id": "authz-close-other-0001" } })
    ).order;
    const shared = { headers: { "x-request-id": "authz-shared-close-0001" } };
    await mesh.omsClient(TOKENS.apcs).closeOrder({ orderId: mine.orderId }, shared);
    await mesh.omsClient(TOKENS.apcsOther).closeOrder({ orderId: theirs?.orderId ?? "" }, shared);
    const deadline = Date.now() + 3_000;
    let status = PoolStatus.UNSPECIFIED;
    while (Date.now() < deadline) {
      status = (await mesh.registrarClient.getPool({ orderId: theirs?.orderId ?? "" })).pool?.status ?? PoolStatus.UNSPECIFIED;
      if (status === PoolStatus.CLOSED) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(PoolStatus[status]).toBe("CLOSED");
  });

  it("the owner can do what the other participant could not (the requests were valid)", async () => {
    const owner = mesh.to("oms", TOKENS.apcs);
    for (const method of ORDER_METHODS.filter((m) => m.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS)) {
      const outcome = await call(owner, OmsService, method, orderRequest(method, orderId), requestId(`owner.${method.name}`));
      expect(outcomeName(outcome), `${method.name} by the owner`).toBe("OK");
    }
    const oms = mesh.omsClient(TOKENS.apcs);
    const acked = await oms.acknowledgeBlocks({ orderId, throughBlock: 1 }, { headers: { "x-request-id": requestId("owner.ack") } });
    expect(acked.order?.deliveredBlocks).toBe(1);
    const cancelled = await oms.cancelOrder({ createRequestId: OWNER_REQUEST }, { headers: { "x-request-id": requestId("owner.cancel") } });
    expect(cancelled.order?.status).toBe(OrderStatus.CANCELLED);
  });
});

describe("journal visibility at OMS", () => {
  let mesh: InMemoryMesh;
  beforeAll(async () => {
    mesh = await inMemoryMesh();
  });
  afterAll(async () => {
    await mesh.close();
  });

  async function listAs(token: string): Promise<JournalEntry[]> {
    return (await createClient(JournalService, mesh.to("oms", token)).listJournal({ pageSize: 1000 })).entries;
  }

  it("a participant's token reads only that participant's entries", async () => {
    // An order the Emission server refuses (quantity 0) is journaled at OMS (step 13.1) under the caller's participant.
    const mine = "authz-journal-owner-0001";
    const theirs = "authz-journal-other-0001";
    const bad = create(OrderSpecSchema, milkOrder(1));
    for (const p of bad.products) p.quantity = 0;
    const refused = async (token: string, id: string): Promise<void> => {
      const outcome = await mesh
        .omsClient(token)
        .createOrder({ order: bad }, { headers: { "x-request-id": id } })
        .then(
          () => "ok",
          (e: unknown) => ConnectError.from(e).code,
        );
      expect(outcome).not.toBe("ok");
    };
    await refused(TOKENS.apcs, mine);
    await refused(TOKENS.apcsOther, theirs);

    const all = await listAs(TOKENS.admin);
    const ownerEntry = all.find((e) => e.requestId === mine);
    const otherEntry = all.find((e) => e.requestId === theirs);
    expect(ownerEntry?.participantId).toBe(PARTICIPANT);
    expect(otherEntry?.participantId).toBe(OTHER_PARTICIPANT);

    const asOther = await listAs(TOKENS.apcsOther);
    expect(asOther.map((e) => e.requestId)).toContain(theirs);
    expect(asOther.map((e) => e.requestId)).not.toContain(mine);
    expect(asOther.every((e) => e.participantId === OTHER_PARTICIPANT)).toBe(true);

    const asOwner = await listAs(TOKENS.apcs);
    expect(asOwner.map((e) => e.requestId)).toContain(mine);
    expect(asOwner.map((e) => e.requestId)).not.toContain(theirs);
    expect(asOwner.every((e) => e.participantId === PARTICIPANT)).toBe(true);

    // Asking for the owner's entries by order reference does not widen the view.
    const byRef = await createClient(JournalService, mesh.to("oms", TOKENS.apcsOther)).listJournal({ orderId: ownerEntry?.orderId ?? "" });
    expect(byRef.entries.filter((e) => e.participantId !== OTHER_PARTICIPANT)).toEqual([]);
  });
});

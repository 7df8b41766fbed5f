import { create, toBinary, type DescService } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type http2 from "node:http2";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import type { MeshConfig } from "../config.js";
import type { Caller, RefusalTally } from "../iotp/index.js";
import { encodeGrpcMessage, errorInfo } from "../rpc/index.js";

type NodeHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

export interface StreamGateOptions {
  /** The role's own services: their streaming methods are budgeted per caller. */
  services: readonly DescService[];
  tokens: ReadonlyMap<string, Caller>;
  streams: MeshConfig["streams"];
  /** Streams of the whole server (MAX_STREAMS). */
  maxStreams: number;
  retryHintMs: number;
  refusals: RefusalTally;
}

/** Open streams now, for metrics and tests. */
export interface StreamGateGauge {
  total: number;
  /** By caller: "apcs:<participant>", a role, "anonymous", or "infra" (health Watch, reflection). */
  byCaller: Record<string, number>;
}

/** Streams anyone may open without a token: bounded per connection. */
const INFRA_PATHS: ReadonlySet<string> = new Set([
  `/${Health.typeName}/${Health.method.watch.name}`,
  `/${ReflectionV1.typeName}/${ReflectionV1.method.serverReflectionInfo.name}`,
  `/${ReflectionV1alpha.typeName}/${ReflectionV1alpha.method.serverReflectionInfo.name}`,
]);

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Stream budgets, checked on the bare HTTP/2 request before connect parses
 * anything and before the interceptor chain: each participant has its own
 * share (MAX_STREAMS_PER_PARTICIPANT, all its connections together), the
 * role above its own (MAX_STREAMS_PER_ROLE: one code stream per order it
 * fills), health Watch and reflection streams a bound per connection
 * (MAX_INFRA_STREAMS_PER_CONNECTION), and all together MAX_STREAMS. A stream
 * past its budget is refused at once, RESOURCE_EXHAUSTED with a retry hint
 * (Trailers-Only), counted (reason STREAMS_EXHAUSTED) and not logged, so one
 * participant flooding streams neither locks out another nor costs the
 * server more than a header lookup per refused stream. The token is only
 * looked up here to pick the budget; the auth interceptor still decides.
 */
export class StreamGate {
  private readonly kinds = new Map<string, "own" | "infra">();
  private readonly open = new Map<string, number>();
  private readonly infraBySession = new WeakMap<http2.Http2Session, number>();
  private total = 0;
  private readonly wire = new Map<string, RefusalWire>();

  constructor(private readonly o: StreamGateOptions) {
    for (const s of o.services) {
      for (const m of s.methods) if (m.methodKind !== "unary") this.kinds.set(`/${s.typeName}/${m.name}`, "own");
    }
    for (const path of INFRA_PATHS) this.kinds.set(path, "infra");
  }

  gauge(): StreamGateGauge {
    return { total: this.total, byCaller: Object.fromEntries(this.open) };
  }

  /** The handler behind the gate. */
  wrap(handler: NodeHandler): NodeHandler {
    return (req, res) => {
      const kind = this.kinds.get(req.url ?? "");
      if (kind === undefined || this.admit(kind, req, res)) handler(req, res);
    };
  }

  private admit(kind: "own" | "infra", req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): boolean {
    const caller = kind === "infra" ? undefined : this.o.tokens.get(BEARER.exec(headerOf(req, "authorization"))?.[1] ?? "");
    const key =
      kind === "infra"
        ? "infra"
        : caller === undefined
          ? "anonymous"
          : caller.role === "apcs"
            ? `apcs:${caller.participantId}`
            : caller.role;
    const session = req.stream.session;
    const onSession = session === undefined ? 0 : (this.infraBySession.get(session) ?? 0);
    const used = this.open.get(key) ?? 0;
    const s = this.o.streams;
    const budget = caller !== undefined && caller.role !== "apcs" ? s.maxStreamsPerRole : s.maxStreamsPerParticipant;
    const refusal: Refusal | undefined =
      this.total >= this.o.maxStreams
        ? "server"
        : used >= budget
          ? caller !== undefined && caller.role !== "apcs"
            ? "role"
            : "participant"
          : kind === "infra" && onSession >= s.maxInfraStreamsPerConnection
            ? "connection"
            : undefined;
    if (refusal !== undefined) {
      this.refuse(req, res, refusal, caller?.participantId ?? "");
      return false;
    }
    this.total += 1;
    this.open.set(key, used + 1);
    if (kind === "infra" && session !== undefined) this.infraBySession.set(session, onSession + 1);
    req.stream.once("close", () => {
      this.total -= 1;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left === 0) this.open.delete(key);
      else this.open.set(key, left);
      if (kind === "infra" && session !== undefined) this.infraBySession.set(session, (this.infraBySession.get(session) ?? 1) - 1);
    });
    return true;
  }

  /** RESOURCE_EXHAUSTED with a jittered retry hint, in the caller's protocol; counted, never logged. */
  private refuse(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse, why: Refusal, participantId: string): void {
    const hint = Math.round(this.o.retryHintMs * (1 + Math.random()));
    const r = this.refusalOf(why, hint);
    this.o.refusals.add("STREAMS_EXHAUSTED", Code.ResourceExhausted, r.message, participantId);
    const contentType = headerOf(req, "content-type");
    res.statusCode = 200;
    if (contentType.startsWith("application/connect")) {
      // Connect streaming: the error is the end-of-stream message.
      res.setHeader("content-type", contentType);
      res.end(r.connectBody);
      return;
    }
    // gRPC (and gRPC-web): Trailers-Only, one HEADERS frame with END_STREAM, which retry policies honour.
    res.setHeader("content-type", contentType.startsWith("application/grpc") ? contentType : "application/grpc");
    for (const [name, value] of Object.entries(r.grpcHeaders)) res.setHeader(name, value);
    res.end();
  }

  /**
   * A refusal's wire form, made once per cause and hint and kept (a few
   * hundred at most): encoding a google.rpc.Status per refused stream would
   * cost more than the rest of the refusal.
   */
  private refusalOf(why: Refusal, hint: number): RefusalWire {
    const key = `${why}:${hint}`;
    const cached = this.wire.get(key);
    if (cached !== undefined) return cached;
    const s = this.o.streams;
    const limit = {
      server: `the server's streams are at their limit of ${this.o.maxStreams}`,
      role: `this role's streams are at their limit of ${s.maxStreamsPerRole}`,
      participant: `this participant's streams are at their limit of ${s.maxStreamsPerParticipant}`,
      connection: `this connection's health and reflection streams are at their limit of ${s.maxInfraStreamsPerConnection}`,
    }[why];
    const message = `${limit}; retry in ${hint} ms`;
    const info = errorInfo("STREAMS_EXHAUSTED").value;
    const retry = create(RetryInfoSchema, { retryDelay: durationFromMs(hint) });
    const status = create(StatusSchema, {
      code: Code.ResourceExhausted,
      message,
      details: [anyPack(RetryInfoSchema, retry), anyPack(ErrorInfoSchema, info)],
    });
    const details = [
      { type: RetryInfoSchema.typeName, value: base64(toBinary(RetryInfoSchema, retry)) },
      { type: ErrorInfoSchema.typeName, value: base64(toBinary(ErrorInfoSchema, info)) },
    ];
    const json = Buffer.from(JSON.stringify({ error: { code: "resource_exhausted", message, details } }));
    const prefix = Buffer.alloc(5);
    prefix.writeUInt8(0b10, 0);
    prefix.writeUInt32BE(json.length, 1);
    const wire: RefusalWire = {
      message,
      grpcHeaders: {
        "grpc-status": String(Code.ResourceExhausted),
        "grpc-message": encodeGrpcMessage(message),
        "grpc-retry-pushback-ms": String(hint),
        "grpc-status-details-bin": Buffer.from(toBinary(StatusSchema, status)).toString("base64"),
      },
      connectBody: Buffer.concat([prefix, json]),
    };
    this.wire.set(key, wire);
    return wire;
  }
}

/** Which budget a refused stream is over. */
type Refusal = "server" | "role" | "participant" | "connection";

interface RefusalWire {
  message: string;
  grpcHeaders: Record<string, string>;
  connectBody: Buffer;
}

function headerOf(req: http2.Http2ServerRequest, name: string): string {
  const v = req.headers[name];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "");
}

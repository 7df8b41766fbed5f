import http2 from "node:http2";
import type { OutgoingHttpHeaders } from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { errorInfo } from "./error-info.js";
import { grpcCodeName } from "./grpc-code-name.js";

/**
 * What connect-node writes for gRPC, fixed at the wire where it differs from
 * the gRPC HTTP/2 protocol (connect-node always sends headers, then trailers,
 * and percent-encodes grpc-message with encodeURIComponent).
 */

type NodeHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

const GRPC_MESSAGE = "grpc-message";
const GRPC_STATUS = "grpc-status";
const GRPC_DETAILS = "grpc-status-details-bin";

/** gRPC over HTTP/2 (application/grpc, +proto, +json, ...), not gRPC-web and not Connect. */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/grpc(?:\+[\w.-]+)?(?:\s*;.*)?$/i.test(contentType);
}

/**
 * Percent-encodes a grpc-message as the gRPC spec says: UTF-8 bytes outside
 * printable ASCII (0x20-0x7E), and '%' itself, become %XX (upper-case hex);
 * everything else is sent as is, so grpc-js, grpcio and grpc-go show the
 * text unchanged, and decodeURIComponent (connect-es) still reads it.
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Reads a percent-encoded grpc-message; malformed escapes are kept as text, as the spec asks. */
export function decodeGrpcMessage(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * The google.rpc.Status of an error that carries none (connect's own errors:
 * an unparsable message, a message over the size limit, an unknown method):
 * every error a client sees has one, with an ErrorInfo naming its code.
 */
export function statusDetailsBin(code: number, message: string): string {
  const status = create(StatusSchema, { code, message, details: [anyPack(ErrorInfoSchema, errorInfo(bareErrorReason(code)).value)] });
  return Buffer.from(toBinary(StatusSchema, status)).toString("base64");
}

/**
 * The reason of an error connect raised itself: its only RESOURCE_EXHAUSTED
 * is a request over its method's read limit (message-limits.ts); our own
 * (OVERLOADED) always carry their ErrorInfo.
 */
function bareErrorReason(code: number): string {
  return code === 8 ? "MESSAGE_TOO_LARGE" : grpcCodeName(code);
}

/**
 * Trailers as the gRPC spec wants them: connect's encodeURIComponent form of
 * grpc-message re-encoded the spec's way, and a Status where an error has none.
 */
function respecMessage(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const message = headers[GRPC_MESSAGE];
  const text = typeof message === "string" ? decodeGrpcMessage(message) : "";
  const out = typeof message === "string" ? { ...headers, [GRPC_MESSAGE]: encodeGrpcMessage(text) } : headers;
  const code = Number(headers[GRPC_STATUS] ?? 0);
  if (code === 0 || !Number.isInteger(code) || headers[GRPC_DETAILS] !== undefined) return out;
  return { ...out, [GRPC_DETAILS]: statusDetailsBin(code, text) };
}

/**
 * Wraps the node handler (connect's adapter) so every gRPC response is
 * conformant; other protocols pass through untouched.
 */
export function grpcWire(handler: NodeHandler): NodeHandler {
  return (req, res) => {
    if (isGrpcContentType(req.headers["content-type"])) sendTrailersOnlyOnEmptyBody(res);
    else addConnectErrorInfo(res);
    handler(req, res);
  };
}

/**
 * A Connect unary error connect raised itself (a request over its size
 * limit, an unparsable one) is a JSON body without details: it gets the same
 * ErrorInfo a gRPC client sees. The body is small; it is held until end().
 */
function addConnectErrorInfo(res: http2.Http2ServerResponse): void {
  const proto = http2.Http2ServerResponse.prototype;
  const writeHead: (this: http2.Http2ServerResponse, status: number, headers: OutgoingHttpHeaders) => http2.Http2ServerResponse =
    proto.writeHead;
  let held: { status: number; headers: OutgoingHttpHeaders; body: Buffer[] } | undefined;
  Object.assign(res, {
    writeHead(status: number, ...rest: unknown[]): http2.Http2ServerResponse {
      const headers = headersArg(rest);
      const type = headers?.["content-type"];
      if (headers === undefined || status < 400 || typeof type !== "string" || !type.startsWith("application/json")) {
        return proto.writeHead.apply(res, [status, ...rest] as Parameters<http2.Http2ServerResponse["writeHead"]>);
      }
      // connect calls writeHead again before end() when the headers are not sent yet: keep the body held so far.
      held = { status, headers, body: held?.body ?? [] };
      return res;
    },
    write(...args: Parameters<http2.Http2ServerResponse["write"]>): boolean {
      const [chunk] = args;
      if (held === undefined || !(chunk instanceof Uint8Array)) return proto.write.apply(res, args);
      held.body.push(Buffer.from(chunk));
      const done = args.find((a) => typeof a === "function");
      if (typeof done === "function") (done as () => void)();
      return true;
    },
    end(...args: Parameters<http2.Http2ServerResponse["end"]>): http2.Http2ServerResponse {
      if (held === undefined) return proto.end.apply(res, args);
      const body = withErrorInfo(Buffer.concat(held.body));
      const headers: OutgoingHttpHeaders = { ...held.headers, "content-length": body.length };
      writeHead.call(res, held.status, headers);
      held = undefined;
      const done = args.find((a) => typeof a === "function");
      if (typeof done === "function") res.once("finish", done as () => void);
      return proto.end.call(res, body, "binary", () => undefined);
    },
  });
}

/** A Connect error body with an ErrorInfo detail added when it has no details. */
function withErrorInfo(body: Buffer): Buffer {
  try {
    const error = JSON.parse(body.toString("utf8")) as { code?: string; message?: string; details?: unknown[] };
    if (error.details !== undefined && error.details.length > 0) return body;
    const code = CONNECT_CODES.indexOf(error.code ?? "");
    if (code < 1) return body;
    const info = toBinary(ErrorInfoSchema, errorInfo(bareErrorReason(code)).value);
    return Buffer.from(
      JSON.stringify({
        ...error,
        details: [{ type: ErrorInfoSchema.typeName, value: Buffer.from(info).toString("base64").replace(/=+$/, "") }],
      }),
    );
  } catch {
    return body;
  }
}

/** Connect's code names, at their gRPC numbers. */
const CONNECT_CODES = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
];

/**
 * Trailers-Only for errors before any response message: writeHead is held
 * back until the first body write; if end() comes with nothing written, the
 * held headers and the trailers go out merged as ONE HEADERS frame with
 * END_STREAM (Node's compat end() sends unsent headers with endStream set).
 * Retry policies of gRPC clients and proxies only retry a call that got no
 * response headers, and read grpc-retry-pushback-ms from there.
 * With a body, frames are as before: headers, data, trailers.
 */
export function sendTrailersOnlyOnEmptyBody(res: http2.Http2ServerResponse): void {
  const proto = http2.Http2ServerResponse.prototype;
  const writeHead: (this: http2.Http2ServerResponse, status: number, headers: OutgoingHttpHeaders) => http2.Http2ServerResponse =
    proto.writeHead;
  let held: OutgoingHttpHeaders = {};
  let trailers: OutgoingHttpHeaders | undefined;
  let ending = false;
  /** Headers now, as a normal response: trailers recorded so far go out at the end. */
  const sendHead = (): void => {
    if (res.headersSent || res.stream.destroyed) return;
    writeHead.call(res, res.statusCode, held);
    if (trailers !== undefined) proto.addTrailers.call(res, respecMessage(trailers));
  };
  Object.assign(res, {
    writeHead(status: number, ...rest: unknown[]): http2.Http2ServerResponse {
      const headers = headersArg(rest);
      // end() itself calls writeHead to send the merged head; array-form headers are not held.
      if (ending || res.headersSent || headers === undefined)
        return proto.writeHead.apply(res, [status, ...rest] as Parameters<http2.Http2ServerResponse["writeHead"]>);
      res.statusCode = status;
      held = { ...held, ...headers };
      return res;
    },
    write(...args: Parameters<http2.Http2ServerResponse["write"]>): boolean {
      sendHead();
      return proto.write.apply(res, args);
    },
    addTrailers(headers: OutgoingHttpHeaders): void {
      if (res.headersSent) proto.addTrailers.call(res, respecMessage(headers));
      else trailers = { ...trailers, ...headers };
    },
    end(...args: Parameters<http2.Http2ServerResponse["end"]>): http2.Http2ServerResponse {
      const chunk = args[0];
      if (chunk !== undefined && chunk !== null && typeof chunk !== "function") sendHead();
      if (!res.headersSent && !res.stream.destroyed) {
        // Trailers-Only: the held headers and the trailers, one HEADERS frame.
        for (const [name, value] of Object.entries({ ...held, ...respecMessage(trailers ?? {}) })) {
          if (value !== undefined) res.setHeader(name, value);
        }
      }
      ending = true;
      return proto.end.apply(res, args);
    },
  });
}

/** The headers object of writeHead(status, [message,] headers); undefined for the array form. */
function headersArg(rest: unknown[]): OutgoingHttpHeaders | undefined {
  const headers = typeof rest[0] === "string" ? rest[1] : rest[0];
  if (headers === undefined) return {};
  return typeof headers === "object" && headers !== null && !Array.isArray(headers) ? (headers as OutgoingHttpHeaders) : undefined;
}

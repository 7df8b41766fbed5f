import { toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import http2 from "node:http2";

/** What came back on one HTTP/2 stream, frame by frame as node:http2 reports them. */
export interface RawGrpcReply {
  /** The first HEADERS frame. */
  headers: http2.IncomingHttpHeaders;
  /** END_STREAM was set on the first HEADERS frame: a Trailers-Only response. */
  headersEndStream: boolean;
  /** Length-prefixed messages, raw. */
  data: Buffer;
  /** The second HEADERS frame, if any. */
  trailers: http2.IncomingHttpHeaders | undefined;
  /** HEADERS frames received in all (informational ones excluded). */
  headersFrames: number;
}

/** One gRPC message, length-prefixed (uncompressed). */
export function grpcFrame<D extends DescMessage>(schema: D, message: MessageShape<D>): Buffer {
  const body = toBinary(schema, message);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/**
 * A gRPC call made with bare node:http2, so a test sees exactly which frames
 * the server sends (a gRPC library would hide that), and so a deadline is
 * the server's alone (grpc-timeout without a client-side timer).
 */
export function rawGrpcCall(address: string, path: string, body: Buffer, headers: Record<string, string> = {}): Promise<RawGrpcReply> {
  const session = http2.connect(`http://${address}`);
  return new Promise<RawGrpcReply>((resolve, reject) => {
    session.once("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    const reply: RawGrpcReply = { headers: {}, headersEndStream: false, data: Buffer.alloc(0), trailers: undefined, headersFrames: 0 };
    stream.once("response", (h, flags) => {
      reply.headers = h;
      reply.headersFrames += 1;
      reply.headersEndStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.once("trailers", (t) => {
      reply.trailers = t;
      reply.headersFrames += 1;
    });
    stream.on("data", (chunk: Buffer) => (reply.data = Buffer.concat([reply.data, chunk])));
    stream.once("error", reject);
    stream.once("close", () => resolve(reply));
    stream.end(body);
  }).finally(() => session.close());
}

/** grpc-status of a reply, wherever it came (trailers, or headers of a Trailers-Only reply). */
export function grpcStatusOf(reply: RawGrpcReply): string | undefined {
  const v = (reply.trailers ?? reply.headers)["grpc-status"];
  return Array.isArray(v) ? v[0] : v;
}

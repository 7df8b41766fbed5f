import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodServerStreaming,
  type DescMethodUnary,
  type MessageShape,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/**
 * A unary call through @grpc/grpc-js, an independent gRPC implementation,
 * with serializers made from our descriptors: proves the wire contract
 * without connect on the client side.
 */
export function grpcJsUnary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  request: MessageShape<I>,
  headers: Record<string, string>,
): Promise<MessageShape<O>> {
  const metadata = metadataOf(headers);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(...wireOf(method), request, metadata, (err, res) =>
      err || res === undefined ? reject(err ?? new Error("no response")) : resolve(res),
    );
  });
}

/** What a grpc-js client saw of one unary call: the reply or the error, and both sets of metadata. */
export interface GrpcJsOutcome<O> {
  message?: O;
  error?: grpc.ServiceError;
  header: grpc.Metadata;
  trailer: grpc.Metadata;
}

/** A unary call through @grpc/grpc-js that keeps the leading and trailing metadata, success or not. */
export function grpcJsCall<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  request: MessageShape<I>,
  headers: Record<string, string>,
  options: grpc.CallOptions = {},
): Promise<GrpcJsOutcome<MessageShape<O>>> {
  const metadata = metadataOf(headers);
  return new Promise((resolve) => {
    let header = new grpc.Metadata();
    let result: { message?: MessageShape<O>; error?: grpc.ServiceError } = {};
    const call = client.makeUnaryRequest(...wireOf(method), request, metadata, options, (err, res) => {
      result = err ? { error: err } : res === undefined ? {} : { message: res };
    });
    call.on("metadata", (m: grpc.Metadata) => {
      header = m;
    });
    // "status" comes after the callback: the outcome is complete with the trailers.
    call.on("status", (s: grpc.StatusObject) => resolve({ ...result, header, trailer: s.metadata }));
  });
}

/** How a grpc-js server stream went: the messages read and the status it ended with (undefined = OK). */
export interface GrpcJsStreamResult<O> {
  messages: O[];
  error: grpc.ServiceError | undefined;
}

/** A server-streaming call through @grpc/grpc-js; `call` can cancel it. */
export function grpcJsServerStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodServerStreaming<I, O>,
  request: MessageShape<I>,
  headers: Record<string, string>,
  options: grpc.CallOptions = {},
): { call: grpc.ClientReadableStream<MessageShape<O>>; done: Promise<GrpcJsStreamResult<MessageShape<O>>> } {
  const metadata = metadataOf(headers);
  const call = client.makeServerStreamRequest(...wireOf(method), request, metadata, options);
  const messages: MessageShape<O>[] = [];
  call.on("data", (m: MessageShape<O>) => messages.push(m));
  const done = new Promise<GrpcJsStreamResult<MessageShape<O>>>((resolve) => {
    // "status" comes last, OK included; "error" comes before it for any other code.
    let error: grpc.ServiceError | undefined;
    call.on("error", (e: grpc.ServiceError) => (error = e));
    call.on("status", () => resolve({ messages, error }));
  });
  return { call, done };
}

function metadataOf(headers: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return metadata;
}

/** The path and the (de)serializers grpc-js needs for a method, made from our descriptors. */
function wireOf<I extends DescMessage, O extends DescMessage>(method: { parent: { typeName: string }; name: string; input: I; output: O }) {
  return [
    `/${method.parent.typeName}/${method.name}`,
    (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m)),
    (b: Buffer) => fromBinary(method.output, b),
  ] as const;
}

import { create, createFileRegistry, fromBinary, type DescService } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { registerReflection, type ReflectionRequest, type ReflectionResponse } from "../../src/core/rpc/reflection-service.js";
import { EmitterService } from "../../src/gen/emission/emitter/v1/emitter_pb.js";
import { OmsService } from "../../src/gen/emission/oms/v1/oms_pb.js";
import { ServerReflection as ReflectionV1 } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * The files of an answer, each after the files it imports, as a
 * FileDescriptorSet wants them; throws if an import is not in the answer.
 */
function importsFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered = new Map<string, FileDescriptorProto>();
  const visit = (file: FileDescriptorProto): void => {
    if (ordered.has(file.name)) return;
    for (const name of file.dependency) {
      const dep = byName.get(name);
      if (dep === undefined) throw new Error(`${name}, imported by ${file.name}, is not in the answer`);
      visit(dep);
    }
    ordered.set(file.name, file);
  };
  files.forEach(visit);
  return [...ordered.values()];
}

/** A request either protocol version accepts. */
type Request = { host?: string; messageRequest?: ReflectionRequest["messageRequest"] };
type Answer = ReflectionResponse["messageResponse"] | { case: undefined };

/** What the v1 and v1alpha clients have in common. */
interface ReflectionClient {
  serverReflectionInfo(requests: AsyncIterable<Request>): AsyncIterable<{ messageResponse: Answer }>;
}

/** A proto2 file with extensions and nested types, which the emission contracts lack. */
function extensionFixture(): DescService {
  const str = { type: Type.STRING, label: Label.OPTIONAL };
  const proto = create(FileDescriptorProtoSchema, {
    name: "test/ext/v1/ext.proto",
    package: "test.ext.v1",
    messageType: [
      {
        name: "Base",
        field: [{ name: "base_id", number: 1, ...str }],
        nestedType: [{ name: "Inner", field: [{ name: "x", number: 1, ...str }] }],
        enumType: [{ name: "Kind", value: [{ name: "KIND_A", number: 0 }] }],
        extensionRange: [{ start: 100, end: 200 }],
      },
      { name: "Plain" },
    ],
    extension: [
      { name: "note_text", number: 101, extendee: ".test.ext.v1.Base", ...str },
      { name: "tag", number: 100, extendee: ".test.ext.v1.Base", type: Type.INT32, label: Label.OPTIONAL },
    ],
    service: [{ name: "Probe", method: [{ name: "Ping", inputType: ".test.ext.v1.Base", outputType: ".test.ext.v1.Plain" }] }],
  });
  const service = createFileRegistry(proto, () => undefined).getService("test.ext.v1.Probe");
  if (service === undefined) throw new Error("fixture has no Probe service");
  return service;
}

function setup(version: "v1" | "v1alpha" = "v1"): (...requests: Request[]) => Promise<Answer[]> {
  const transport = createRouterTransport((router) => registerReflection(router, [OmsService, EmitterService, extensionFixture()]));
  const client: ReflectionClient = version === "v1" ? createClient(ReflectionV1, transport) : createClient(ReflectionV1alpha, transport);
  /** Sends the requests on one stream; returns the answers in order. */
  return async (...requests) => {
    const answers: Answer[] = [];
    for await (const res of client.serverReflectionInfo(fromArray(requests))) answers.push(res.messageResponse);
    return answers;
  };
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

function decodeFiles(answer: Answer | undefined): FileDescriptorProto[] {
  expect(answer?.case).toBe("fileDescriptorResponse");
  if (answer?.case !== "fileDescriptorResponse") return [];
  return answer.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

function errorCode(answer: Answer | undefined): number | undefined {
  return answer?.case === "errorResponse" ? answer.value.errorCode : undefined;
}

function allFields(messages: DescriptorProto[]): { name: string; jsonName: string }[] {
  return messages.flatMap((m) => [...m.field, ...m.extension, ...allFields(m.nestedType)]);
}

describe("registerReflection", () => {
  it("lists the given services plus health and both reflection services", async () => {
    const ask = setup();
    const [answer] = await ask({ messageRequest: { case: "listServices", value: "*" } });
    expect(answer?.case === "listServicesResponse" && answer.value.service.map((s) => s.name)).toEqual([
      "emission.oms.v1.OmsService",
      "emission.emitter.v1.EmitterService",
      "test.ext.v1.Probe",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("answers file_by_filename with the file first, then every transitive dependency once", async () => {
    const ask = setup();
    const files = decodeFiles((await ask({ messageRequest: { case: "fileByFilename", value: "emission/oms/v1/oms.proto" } }))[0]);
    const names = files.map((f) => f.name);
    expect(names[0]).toBe("emission/oms/v1/oms.proto");
    expect([...names].sort()).toEqual([
      "buf/validate/validate.proto",
      "emission/common/v1/order.proto",
      "emission/common/v1/status.proto",
      "emission/oms/v1/oms.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/field_mask.proto",
      "google/protobuf/timestamp.proto",
    ]);
    // Resolving every import from the answer alone proves it is self-contained.
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
    expect(registry.getService("emission.oms.v1.OmsService")?.methods.length).toBeGreaterThan(0);
    expect(registry.getMessage("google.protobuf.Timestamp")).toBeDefined();
  });

  it("serves complete descriptors: json_name on every field, dependencies and syntax kept", async () => {
    const ask = setup();
    const answers = await ask(
      { messageRequest: { case: "fileByFilename", value: "emission/oms/v1/oms.proto" } },
      { messageRequest: { case: "fileByFilename", value: "test/ext/v1/ext.proto" } },
    );
    const files = answers.flatMap(decodeFiles);
    for (const file of files) {
      for (const field of [...allFields(file.messageType), ...file.extension]) {
        expect(field.jsonName, `${file.name} ${field.name}`).not.toBe("");
      }
    }
    const oms = files.find((f) => f.name === "emission/oms/v1/oms.proto");
    expect(oms?.syntax).toBe("proto3");
    expect(oms?.dependency).toContain("google/protobuf/timestamp.proto");
    expect(files.find((f) => f.name === "test/ext/v1/ext.proto")?.extension.map((e) => e.jsonName)).toEqual(["noteText", "tag"]);
  });

  it.each([
    ["a service", "emission.oms.v1.OmsService", "emission/oms/v1/oms.proto"],
    ["a method", "emission.oms.v1.OmsService.CreateOrder", "emission/oms/v1/oms.proto"],
    ["a message", "emission.common.v1.OrderSpec", "emission/common/v1/order.proto"],
    ["a field", "emission.common.v1.OrderSpec.product_group", "emission/common/v1/order.proto"],
    ["an enum", "emission.common.v1.ProductGroup", "emission/common/v1/order.proto"],
    ["an enum value (sibling scope)", "emission.common.v1.PRODUCT_GROUP_SHOES", "emission/common/v1/order.proto"],
    ["an enum value (enum scope)", "emission.common.v1.ProductGroup.PRODUCT_GROUP_SHOES", "emission/common/v1/order.proto"],
    ["a nested message", "test.ext.v1.Base.Inner", "test/ext/v1/ext.proto"],
    ["a nested enum", "grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
    ["an extension", "test.ext.v1.note_text", "test/ext/v1/ext.proto"],
    ["a dependency's type", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    ["the reflection service", "grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"],
    ["an error detail (BadRequest)", "google.rpc.BadRequest", "google/rpc/error_details.proto"],
    ["an error detail (ErrorInfo)", "google.rpc.ErrorInfo", "google/rpc/error_details.proto"],
    ["an error detail (RetryInfo)", "google.rpc.RetryInfo", "google/rpc/error_details.proto"],
    ["an error detail (PreconditionFailure)", "google.rpc.PreconditionFailure", "google/rpc/error_details.proto"],
    ["the status of grpc-status-details-bin", "google.rpc.Status", "google/rpc/status.proto"],
    ["a request rule of the contracts", "buf.validate.FieldRules", "buf/validate/validate.proto"],
  ])("answers file_containing_symbol for %s", async (_kind, symbol, file) => {
    const ask = setup();
    const [answer] = await ask({ messageRequest: { case: "fileContainingSymbol", value: symbol } });
    expect(decodeFiles(answer)[0]?.name).toBe(file);
  });

  it("answers unknown names with a NOT_FOUND error_response and keeps the stream open", async () => {
    const ask = setup();
    const answers = await ask(
      { messageRequest: { case: "fileByFilename", value: "nope.proto" } },
      { messageRequest: { case: "fileContainingSymbol", value: "nope.v1.Nope" } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "test.ext.v1.Base", extensionNumber: 150 } } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "nope.v1.Nope", extensionNumber: 100 } } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "nope.v1.Nope" } },
      { messageRequest: { case: "listServices", value: "" } },
    );
    expect(answers.slice(0, 5).map(errorCode)).toEqual(Array<number>(5).fill(Code.NotFound));
    expect(answers[5]?.case).toBe("listServicesResponse");
  });

  it("answers an empty request with INVALID_ARGUMENT", async () => {
    const ask = setup();
    expect((await ask({ host: "h" })).map(errorCode)).toEqual([Code.InvalidArgument]);
  });

  it("answers file_containing_extension with the declaring file", async () => {
    const ask = setup();
    const [answer] = await ask({
      messageRequest: { case: "fileContainingExtension", value: { containingType: "test.ext.v1.Base", extensionNumber: 101 } },
    });
    expect(decodeFiles(answer).map((f) => f.name)).toEqual(["test/ext/v1/ext.proto"]);
  });

  it("answers all_extension_numbers_of_type sorted, and empty for a type nobody extends", async () => {
    const ask = setup();
    const answers = await ask(
      { messageRequest: { case: "allExtensionNumbersOfType", value: "test.ext.v1.Base" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "emission.common.v1.OrderSpec" } },
    );
    expect(answers).toEqual([
      {
        case: "allExtensionNumbersResponse",
        value: expect.objectContaining({ baseTypeName: "test.ext.v1.Base", extensionNumber: [100, 101] }),
      },
      { case: "allExtensionNumbersResponse", value: expect.objectContaining({ extensionNumber: [] }) },
    ]);
  });

  it("echoes the host and the original request", async () => {
    const transport = createRouterTransport((router) => registerReflection(router, [OmsService]));
    const client = createClient(ReflectionV1, transport);
    const request: Request = { host: "example:1", messageRequest: { case: "listServices", value: "" } };
    const responses = [];
    for await (const res of client.serverReflectionInfo(fromArray([request]))) responses.push(res);
    expect(responses).toHaveLength(1);
    expect(responses[0]?.validHost).toBe("example:1");
    expect(responses[0]?.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "" });
  });

  it("serves the same answers over grpc.reflection.v1alpha", async () => {
    const v1 = await setup("v1")({ messageRequest: { case: "fileContainingSymbol", value: "emission.emitter.v1.EmitterService" } });
    const v1alpha = await setup("v1alpha")({
      messageRequest: { case: "fileContainingSymbol", value: "emission.emitter.v1.EmitterService" },
    });
    expect(decodeFiles(v1alpha[0]).map((f) => f.name)).toEqual(decodeFiles(v1[0]).map((f) => f.name));
    expect(decodeFiles(v1alpha[0])[0]?.name).toBe("emission/emitter/v1/emitter.proto");
  });
});

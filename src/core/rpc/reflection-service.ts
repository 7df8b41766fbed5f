import {
  clone,
  create,
  createFileRegistry,
  isFieldSet,
  toBinary,
  type DescEnum,
  type DescFile,
  type DescService,
  type FileRegistry,
} from "@bufbuild/protobuf";
import { nestedTypes, protoCamelCase } from "@bufbuild/protobuf/reflect";
import {
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { file_buf_validate_validate } from "@bufbuild/protovalidate/gen/buf/validate/validate_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * A ServerReflectionRequest of either protocol version: v1 and v1alpha have
 * the same fields and differ only in their message type names.
 */
export interface ReflectionRequest {
  host: string;
  messageRequest:
    | { case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
}

/** The ServerReflectionResponse (init shape) answering a ReflectionRequest. */
export interface ReflectionResponse {
  validHost: string;
  originalRequest: ReflectionRequest;
  messageResponse:
    | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
    | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
    | { case: "listServicesResponse"; value: { service: { name: string }[] } }
    | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };
}

type Answer = ReflectionResponse["messageResponse"];

/**
 * Files no served method names but a reply can carry: the google.rpc error
 * details (in grpc-status-details-bin, each an Any that grpcurl and other
 * dynamic clients resolve by reflection to print it as JSON), and the
 * buf.validate rules the request messages are annotated with.
 */
const REPLY_FILES: readonly DescFile[] = [file_google_rpc_status, file_google_rpc_error_details, file_buf_validate_validate];

/**
 * Serves gRPC server reflection, both grpc.reflection.v1 and the older
 * v1alpha (still the only one some clients speak), for `services` plus
 * health and reflection themselves, from the generated descriptors, and
 * the types of REPLY_FILES.
 */
export function registerReflection(router: ConnectRouter, services: DescService[]): void {
  const index = new DescriptorIndex([...services, Health, ReflectionV1, ReflectionV1alpha], REPLY_FILES);
  const serverReflectionInfo = (requests: AsyncIterable<ReflectionRequest>): AsyncIterable<ReflectionResponse> =>
    answerAll(index, requests);
  router.service(ReflectionV1, { serverReflectionInfo });
  router.service(ReflectionV1alpha, { serverReflectionInfo });
}

async function* answerAll(index: DescriptorIndex, requests: AsyncIterable<ReflectionRequest>): AsyncGenerator<ReflectionResponse> {
  for await (const req of requests) {
    yield { validHost: req.host, originalRequest: req, messageResponse: answer(index, req) };
  }
}

function answer(index: DescriptorIndex, req: ReflectionRequest): Answer {
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.filesFor(r.value), `file "${r.value}" not found`);
    case "fileContainingSymbol":
      return files(index.filesFor(index.fileOfSymbol(r.value)), `symbol "${r.value}" not found`);
    case "fileContainingExtension": {
      const { containingType: type, extensionNumber: no } = r.value;
      return files(index.filesFor(index.fileOfExtension(type, no)), `extension ${no} of "${type}" not found`);
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(r.value);
      if (numbers === undefined) return error(Code.NotFound, `message type "${r.value}" not found`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } };
    }
    case undefined:
      return error(Code.InvalidArgument, "no message_request set");
  }
}

function files(encoded: Uint8Array[] | undefined, notFound: string): Answer {
  if (encoded === undefined) return error(Code.NotFound, notFound);
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto: encoded } };
}

/** Connect's Code numbers are gRPC's status codes, as error_code wants. */
function error(code: Code, message: string): Answer {
  return { case: "errorResponse", value: { errorCode: code, errorMessage: message } };
}

/** Files, symbols and extensions reachable from the served services. */
class DescriptorIndex {
  readonly services: string[];
  private readonly registry: FileRegistry;
  /** Fully-qualified symbol → name of the file declaring it. */
  private readonly symbols = new Map<string, string>();
  private readonly encoded = new Map<string, Uint8Array>();

  constructor(services: DescService[], extraFiles: readonly DescFile[]) {
    this.services = [...new Set(services.map((s) => s.typeName))];
    const protos = dependencyOrder([...services.map((s) => s.file), ...extraFiles]).map(completeFileProto);
    // Rebuilding from the protos proves they are self-contained and complete.
    this.registry = createFileRegistry(create(FileDescriptorSetSchema, { file: protos }));
    for (const file of this.registry.files) this.indexFile(file);
  }

  /** The named file first, then its transitive dependencies, each once. */
  filesFor(fileName: string | undefined): Uint8Array[] | undefined {
    const root = fileName === undefined ? undefined : this.registry.getFile(fileName);
    if (root === undefined) return undefined;
    const seen = new Map<string, DescFile>([[root.proto.name, root]]);
    for (const file of seen.values()) {
      for (const dep of file.dependencies) if (!seen.has(dep.proto.name)) seen.set(dep.proto.name, dep);
    }
    return [...seen.values()].map((file) => this.encode(file));
  }

  fileOfSymbol(name: string): string | undefined {
    return this.symbols.get(name);
  }

  fileOfExtension(typeName: string, number: number): string | undefined {
    const extendee = this.registry.getMessage(typeName);
    return extendee && this.registry.getExtensionFor(extendee, number)?.file.proto.name;
  }

  /** undefined for an unknown message type; [] for one nobody extends. */
  extensionNumbers(typeName: string): number[] | undefined {
    if (this.registry.getMessage(typeName) === undefined) return undefined;
    const numbers: number[] = [];
    for (const type of this.registry) {
      if (type.kind === "extension" && type.extendee.typeName === typeName) numbers.push(type.number);
    }
    return numbers.sort((a, b) => a - b);
  }

  private encode(file: DescFile): Uint8Array {
    const bytes = this.encoded.get(file.proto.name) ?? toBinary(FileDescriptorProtoSchema, file.proto);
    this.encoded.set(file.proto.name, bytes);
    return bytes;
  }

  private indexFile(file: DescFile): void {
    const add = (symbol: string): void => {
      if (!this.symbols.has(symbol)) this.symbols.set(symbol, file.proto.name);
    };
    for (const type of nestedTypes(file)) {
      add(type.typeName);
      switch (type.kind) {
        case "service":
          for (const m of type.methods) add(`${type.typeName}.${m.name}`);
          break;
        case "message":
          for (const member of type.members) add(`${type.typeName}.${member.name}`);
          break;
        case "enum":
          for (const name of enumValueNames(type)) add(name);
          break;
        case "extension":
          break;
      }
    }
  }
}

/**
 * Enum values are scoped as siblings of their enum ("pkg.VALUE"), which is
 * their real full name; "pkg.Enum.VALUE" is accepted too, as people type it.
 */
function enumValueNames(e: DescEnum): string[] {
  const scope = e.parent?.typeName ?? e.file.proto.package;
  return e.values.flatMap((v) => [scope === "" ? v.name : `${scope}.${v.name}`, `${e.typeName}.${v.name}`]);
}

/** Every file reachable from `roots`, each after its dependencies. */
function dependencyOrder(roots: DescFile[]): DescFile[] {
  const ordered = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (ordered.has(file.proto.name)) return;
    file.dependencies.forEach(visit);
    ordered.set(file.proto.name, file);
  };
  roots.forEach(visit);
  return [...ordered.values()];
}

/**
 * Generated code embeds descriptors without json_name where it is the
 * default camel case (restored on load only for message fields, not
 * extensions, and never for descriptor.proto's boot copy). protoc always
 * fills it, and clients rely on it for JSON, so fill in whatever is missing.
 */
function completeFileProto(file: DescFile): FileDescriptorProto {
  const proto = clone(FileDescriptorProtoSchema, file.proto);
  proto.extension.forEach(fillJsonName);
  proto.messageType.forEach(fillJsonNames);
  return proto;
}

function fillJsonNames(message: DescriptorProto): void {
  message.field.forEach(fillJsonName);
  message.extension.forEach(fillJsonName);
  message.nestedType.forEach(fillJsonNames);
}

function fillJsonName(field: FieldDescriptorProto): void {
  if (!isFieldSet(field, FieldDescriptorProtoSchema.field.jsonName)) field.jsonName = protoCamelCase(field.name);
}

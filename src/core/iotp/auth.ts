import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { meshError } from "../rpc/index.js";

/** The roles of the mesh, plus "admin" for operators reading any journal. */
export type Role = "apcs" | "oms" | "registrar" | "emission-server" | "admin";

export const ROLES: readonly Role[] = ["apcs", "oms", "registrar", "emission-server", "admin"];

/** Who is calling: resolved from the bearer token by the auth interceptor. */
export interface Caller {
  role: Role;
  /** The participant a line controller acts for; "" for service roles. */
  participantId: string;
}

export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "authenticated caller" });

/**
 * Service type name, or "service/Method" for a method that differs from its
 * service, → roles allowed to call it. Services not listed need no token.
 */
export type AccessPolicy = ReadonlyMap<string, readonly Role[]>;

export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (caller === undefined) throw new ConnectError("no authenticated caller", Code.Unauthenticated);
  return caller;
}

/** A participant id as the contracts bound it (CreatePool, CreateEmissionOrder). */
const MAX_PARTICIPANT_CHARS = 64;

/**
 * Parses "token=role[:participant],..." into a token table. Tokens come from
 * configuration; nothing here knows any token. A malformed entry is named by
 * its position and the shape expected, never by its text: the text holds a
 * secret (or, written the wrong way round, the secret is where the role goes).
 */
export function parseTokens(spec: string): Map<string, Caller> {
  const table = new Map<string, Caller>();
  const items = spec
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  items.forEach((item, index) => {
    const where = `MESH_TOKENS entry ${index + 1} of ${items.length}`;
    const eq = item.indexOf("=");
    const parts = item.slice(eq + 1).split(":");
    if (eq <= 0 || parts.length > 2) throw new Error(`${where} is not token=role[:participant]`);
    const [role = "", participantId = ""] = parts;
    if (!(ROLES as readonly string[]).includes(role)) throw new Error(`${where}: the role after "=" must be one of ${ROLES.join(", ")}`);
    if (role === "apcs" && participantId === "")
      throw new Error(`${where}: an apcs token must name its participant (token=apcs:participant)`);
    if (participantId.length > MAX_PARTICIPANT_CHARS)
      throw new Error(`${where}: a participant id is at most ${MAX_PARTICIPANT_CHARS} characters`);
    table.set(item.slice(0, eq), { role: role as Role, participantId });
  });
  return table;
}

/** Refusals name the journal's step for them. */
const AUTH_STEP = { step: "auth" } as const;

/** Where refused calls are counted (refusal-tally.ts): nothing the caller sent is kept. */
export type AuthFailureSink = (error: ConnectError, participantId: string) => void;

/**
 * Authenticates every call to a protected service and checks the caller's
 * role may call it; every refusal is counted, for the journal's aggregate
 * entries (a refused caller's headers are neither stored nor logged).
 */
export function authInterceptor(tokens: ReadonlyMap<string, Caller>, policy: AccessPolicy, refused: AuthFailureSink): Interceptor {
  return (next) => async (req) => {
    const allowed = policy.get(`${req.service.typeName}/${req.method.name}`) ?? policy.get(req.service.typeName);
    if (allowed === undefined) return next(req);
    const fail = (error: ConnectError, participantId = ""): never => {
      refused(error, participantId);
      throw error;
    };
    const match = /^Bearer\s+(\S+)$/i.exec(req.header.get("authorization") ?? "");
    if (match === null)
      return fail(
        meshError("missing bearer token: send `authorization: Bearer <token>`", Code.Unauthenticated, "TOKEN_MISSING", AUTH_STEP),
      );
    const caller = tokens.get(match[1] ?? "");
    if (caller === undefined) return fail(meshError("unknown bearer token", Code.Unauthenticated, "TOKEN_UNKNOWN", AUTH_STEP));
    if (!allowed.includes(caller.role)) {
      const method = `${req.service.typeName}/${req.method.name}`;
      return fail(
        meshError(`role ${caller.role} may not call ${method}`, Code.PermissionDenied, "ROLE_NOT_ALLOWED", {
          ...AUTH_STEP,
          metadata: { role: caller.role, method },
        }),
        caller.participantId,
      );
    }
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}

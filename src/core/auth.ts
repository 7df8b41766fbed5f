import {
  Code,
  ConnectError,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";

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

/**
 * Parses "token=role[:participant],..." into a token table. Tokens come from
 * configuration; nothing here knows any token.
 */
export function parseTokens(spec: string): Map<string, Caller> {
  const table = new Map<string, Caller>();
  for (const item of spec.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new Error(`token entry ${JSON.stringify(item)} is not token=role[:participant]`);
    const [role = "", participantId = ""] = item.slice(eq + 1).split(":");
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new Error(`token entry for role ${JSON.stringify(role)}: the role must be one of ${ROLES.join(", ")}`);
    }
    if (role === "apcs" && participantId === "") throw new Error("an apcs token must name its participant (token=apcs:participant)");
    table.set(item.slice(0, eq), { role: role as Role, participantId });
  }
  return table;
}

/** Where refused calls are recorded (the role's journal). */
export type AuthFailureSink = (failure: { error: ConnectError; requestId: string; participantId: string }) => Promise<unknown>;

/**
 * Authenticates every call to a protected service and checks the caller's
 * role may call it; every refusal is journaled.
 */
export function authInterceptor(tokens: ReadonlyMap<string, Caller>, policy: AccessPolicy, refused: AuthFailureSink): Interceptor {
  return (next) => async (req) => {
    const allowed = policy.get(`${req.service.typeName}/${req.method.name}`) ?? policy.get(req.service.typeName);
    if (allowed === undefined) return next(req);
    const fail = async (error: ConnectError, participantId = ""): Promise<never> => {
      await refused({ error, requestId: req.header.get("x-request-id") ?? "", participantId }).catch(() => undefined);
      throw error;
    };
    const match = /^Bearer\s+(\S+)$/i.exec(req.header.get("authorization") ?? "");
    if (match === null) return fail(new ConnectError("missing bearer token: send `authorization: Bearer <token>`", Code.Unauthenticated));
    const caller = tokens.get(match[1] ?? "");
    if (caller === undefined) return fail(new ConnectError("unknown bearer token", Code.Unauthenticated));
    if (!allowed.includes(caller.role)) {
      return fail(new ConnectError(`role ${caller.role} may not call ${req.service.typeName}/${req.method.name}`, Code.PermissionDenied), caller.participantId);
    }
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}

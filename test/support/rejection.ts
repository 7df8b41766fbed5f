import { ConnectError } from "@connectrpc/connect";

/** The error a call failed with; fails the test if the call succeeded. */
export async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/**
 * Every refusal the gateway gives a client, in OpenAI's error shape
 * (`{"error":{"message","type","param","code"}}`) so the official clients show the message.
 * `retryAfterS` becomes a `Retry-After` header where waiting helps.
 */
export type GatewayErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "insufficient_credits"
  | "rate_limit_error"
  | "upstream_error"
  | "server_error";

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly type: GatewayErrorType,
    readonly code: string,
    message: string,
    readonly options: { retryAfterS?: number; param?: string } = {},
  ) {
    super(message);
    this.name = "GatewayError";
  }

  get retryAfterS(): number | undefined {
    return this.options.retryAfterS;
  }

  toBody(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.options.param ?? null, code: this.code } };
  }
}

export const badRequest = (code: string, message: string, param?: string) => new GatewayError(400, "invalid_request_error", code, message, param ? { param } : {});

/**
 * The ledger did not answer (the database is down or unreachable, its disk failed): 503 with
 * `Retry-After`, so clients back off and retry, instead of a 500 that reads like a bug.
 */
export const ledgerUnavailable = (message: string) => new GatewayError(503, "server_error", "ledger_unavailable", message, { retryAfterS: 1 });

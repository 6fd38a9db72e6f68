/** The InferenceCredit contract of a client's deployment. */
import type { Address } from "viem";
import type { CtkClient } from "../client.js";
import { inferenceCreditAbi } from "../generated/abi.js";
import { CtkError } from "../ctkError.js";

export class NoInferenceCreditError extends CtkError {
  constructor() {
    super("this deployment has no InferenceCredit (deployment file without `inferenceCredit`): redeploy with `ctk devnet up --fresh` or add its address");
    this.name = "NoInferenceCreditError";
  }
}

export type InferenceCreditContract = { address: Address; abi: typeof inferenceCreditAbi };

/** `{ address, abi }` of the deployment's InferenceCredit, or {@link NoInferenceCreditError}. */
export function creditContract(client: Pick<CtkClient, "deployment">): InferenceCreditContract {
  const address = client.deployment.inferenceCredit;
  if (!address) throw new NoInferenceCreditError();
  return { address, abi: inferenceCreditAbi };
}

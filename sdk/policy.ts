/**
 * The redeemer's published policy (`GET /v1/policy`) and the ONE check of a job spec against it.
 * The redeemer runs it on every redemption before launching; `ctk redeem` and the web app run it
 * before burning, so nothing is burned that the redeemer is bound to refuse.
 *
 * `checkSpecPolicy` is pure and returns every refusal (not just the first), each with the field at
 * fault and a sentence a user can act on. The redeemer rejects with the first one's reason code.
 */
import { z } from "zod";
import { InvalidImageRef, isPinned, parseImageRef, registryAllows } from "./imageRef.js";
import { type JobSpec, encodeSpec } from "./jobSpec.js";
import type { RejectReason } from "./reasons.js";
import type { CtkClient } from "./client.js";
import { CtkError } from "./ctkError.js";

/** Where the policy is served, relative to the redeemer's API. */
export const POLICY_PATH = "/v1/policy";
/** The devnet's redeemer API (`npm start`). */
export const DEFAULT_REDEEMER_API = "http://127.0.0.1:8787";

/** A hardware class as the redeemer publishes it: the SDK's {@link ClassInfo} fields a client needs to check a spec. */
export const publishedClassSchema = z.object({
  classId: z.number().int().positive(),
  name: z.string(),
  /** The class's per-job GPU maximum (the schema's 1,024 is only an upper bound for every class). */
  maxGpusPerJob: z.number().int().nonnegative(),
  active: z.boolean(),
});

export const redeemerPolicySchema = z.object({
  /** The ComputeToken this redeemer serves (a client checks it is the one it burns on). */
  computeToken: z.string().optional(),
  /** The chain it serves (a client checks it is the one it burns on). */
  chainId: z.number().int().positive().optional(),
  /**
   * The hash of the deployment's block on the chain it reads: two local chains share their id and
   * their contracts' addresses, not this.
   */
  deployBlockHash: z.string().optional(),
  /** Registries (optionally narrowed to a repository path) images may come from. */
  allowedRegistries: z.array(z.string()),
  /** Images must be pinned by `@sha256:<64 hex>`. */
  requireDigest: z.boolean(),
  /** Largest spec, in bytes, the redeemer reads. */
  maxSpecBytes: z.number().int().positive(),
  executor: z.enum(["local", "kubernetes"]),
  /** Commands (`command[0]`) a job may run; null: any (the image decides). */
  allowedCommands: z.array(z.string()).nullable(),
  /** True when the executor cannot run an image's entrypoint, so `command` must be set. */
  commandRequired: z.boolean(),
  /** Named secrets a spec may reference in `secrets`. */
  allowedSecrets: z.array(z.string()),
  /** The hardware classes on chain, with their per-job GPU limit. */
  classes: z.array(publishedClassSchema),
});

export type RedeemerPolicy = z.infer<typeof redeemerPolicySchema>;
export type PublishedClass = z.infer<typeof publishedClassSchema>;

/** What the check needs: the image rules always; commands and secrets when the caller knows them. */
export interface SpecPolicy {
  allowedRegistries: readonly string[];
  requireDigest: boolean;
  maxSpecBytes: number;
  allowedCommands?: readonly string[] | null;
  commandRequired?: boolean;
  allowedSecrets?: readonly string[];
  classes?: readonly PublishedClass[];
}

export interface PolicyTarget {
  /** The class the spec is redeemed against (looked up in `policy.classes`). */
  className?: string;
  /** The class's per-job GPU maximum, when the caller read it elsewhere (the redeemer: from the chain). */
  classMaxGpus?: number;
  /** Size of the spec bytes as sent (default: the canonical encoding's). */
  specBytes?: number;
}

export interface PolicyRefusal {
  /** The reason code the redeemer would reject with. */
  reason: RejectReason;
  /** The spec field at fault ("image", "command", "env.HF_TOKEN", "gpus"), or "spec" for the whole. */
  field: string;
  /** One sentence saying what is wrong and what to do. */
  message: string;
}

const list = (items: readonly string[]): string => (items.length === 0 ? "none" : items.join(", "));
const quote = (s: string, max = 80): string => JSON.stringify(s.length > max ? `${s.slice(0, max - 3)}...` : s);

/** Names that say "this is a secret" (HF_TOKEN, AWS_SECRET_ACCESS_KEY, DB_PASSWORD, OPENAI_API_KEY …). */
const SECRET_NAME = /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|APIKEY|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?|AUTH)(_|$)/i;
/** Values that look like a credential whatever their name. */
const SECRET_VALUES: readonly RegExp[] = [
  /^hf_[A-Za-z0-9]{20,}$/, // Hugging Face
  /^(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})$/, // GitHub
  /^glpat-[\w-]{20,}$/, // GitLab
  /^sk-[\w-]{20,}$/, // OpenAI and others
  /^xox[abposr]-[\w-]{10,}$/, // Slack
  /^(AKIA|ASIA)[0-9A-Z]{16}$/, // AWS access key id
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /^eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}$/, // a JWT
  /^0x[0-9a-fA-F]{64}$/, // an Ethereum private key
  /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i, // a URL with a password in it
];

/** True when an env value looks like a credential: a secret-like name with a real value, or a known token shape. */
export function looksLikeCredential(name: string, value: string): boolean {
  const v = value.trim();
  if (v === "") return false;
  if (SECRET_VALUES.some((re) => re.test(v))) return true;
  // A secret-like name holding a path or a flag is configuration, not the secret itself.
  if (SECRET_NAME.test(name) && v.length >= 8 && !/^(\/|\.\/|~\/)/.test(v) && !/^(true|false|yes|no|\d+)$/i.test(v)) return true;
  return false;
}

/**
 * Every way `spec` breaks `policy` for the target class, in the order a user would fix them;
 * empty when the redeemer will accept it. The spec must already have passed `jobSpecSchema`.
 */
export function checkSpecPolicy(spec: JobSpec, policy: SpecPolicy, target: PolicyTarget = {}): PolicyRefusal[] {
  const out: PolicyRefusal[] = [];
  const refuse = (reason: RejectReason, field: string, message: string) => out.push({ reason, field, message });

  // Image: parseable, from an allowed registry, pinned.
  let image: ReturnType<typeof parseImageRef> | undefined;
  try {
    image = parseImageRef(spec.image);
  } catch (err) {
    if (!(err instanceof InvalidImageRef)) throw err;
    refuse("INVALID_SPEC", "image", err.message);
  }
  if (image) {
    if (!policy.allowedRegistries.some((entry) => registryAllows(entry, image))) {
      refuse("IMAGE_NOT_ALLOWED", "image", `images from ${image.registry}/${image.repository} are not allowed here; allowed registries: ${list(policy.allowedRegistries)}`);
    }
    if (policy.requireDigest && !isPinned(image)) {
      const got =
        image.digest !== undefined
          ? `its digest ${quote(image.digest)} is not sha256:<64 lower-case hex digits>`
          : image.tag !== undefined
            ? `it names the tag ${quote(image.tag)}, which can move`
            : "it names no digest";
      refuse("IMAGE_NOT_PINNED", "image", `the image must be pinned by digest (${image.registry}/${image.repository}@sha256:<64 hex digits>); ${got}`);
    }
  }

  // Command: what the executor will run.
  const command = spec.command[0];
  if (command === undefined) {
    if (policy.commandRequired) {
      refuse(
        "COMMAND_NOT_ALLOWED",
        "command",
        `this redeemer's executor runs a command, not an image's entrypoint: set "command" (allowed: ${list(policy.allowedCommands ?? [])})`,
      );
    }
  } else if (policy.allowedCommands && !policy.allowedCommands.includes(command)) {
    refuse("COMMAND_NOT_ALLOWED", "command", `command ${quote(command)} is not allowed by this redeemer; allowed: ${list(policy.allowedCommands)}`);
  }

  // Secrets: only names the cluster holds; and no credential pasted into env (the spec is public).
  const allowedSecrets = policy.allowedSecrets ?? [];
  for (const [variable, secret] of Object.entries(spec.secrets ?? {})) {
    if (!allowedSecrets.includes(secret)) {
      refuse("SECRET_NOT_ALLOWED", `secrets.${variable}`, `secret ${quote(secret)} is not one this redeemer provides; available: ${list(allowedSecrets)}`);
    }
  }
  for (const [variable, value] of Object.entries(spec.env)) {
    if (looksLikeCredential(variable, value)) {
      refuse(
        "CREDENTIAL_IN_SPEC",
        `env.${variable}`,
        `the value of ${variable} looks like a credential, and a job spec is public on-chain: reference a named secret instead ("secrets": { "${variable}": "<name>" }; available: ${list(allowedSecrets)})`,
      );
    }
  }

  // GPUs: the class's own limit, not the schema's.
  const cls = target.className !== undefined ? policy.classes?.find((c) => c.name === target.className) : undefined;
  if (target.className !== undefined && policy.classes && !cls) {
    refuse(
      "CLASS_UNAVAILABLE",
      "class",
      `this redeemer knows no hardware class ${quote(target.className)}; classes: ${list(policy.classes.filter((c) => c.active).map((c) => c.name))}`,
    );
  } else if (cls && !cls.active) {
    refuse("CLASS_UNAVAILABLE", "class", `hardware class ${cls.name} is retired: it can no longer be redeemed`);
  }
  const maxGpus = target.classMaxGpus ?? cls?.maxGpusPerJob;
  if (maxGpus !== undefined && spec.gpus > maxGpus) {
    const name = cls?.name ?? target.className ?? "the class";
    refuse("TOO_MANY_GPUS", "gpus", `the spec asks for ${spec.gpus} GPUs; ${name} allows at most ${maxGpus} per job`);
  }

  // Size: what goes on-chain.
  const bytes = target.specBytes ?? encodeSpec(spec).length;
  if (bytes > policy.maxSpecBytes) refuse("SPEC_TOO_LARGE", "spec", `the spec is ${bytes} bytes; this redeemer reads at most ${policy.maxSpecBytes}`);

  return out;
}

/** The deployment a client burns on, as it checks a redeemer's policy is that deployment's redeemer's. */
export interface PolicyOrigin {
  chainId: number;
  computeToken: string;
  /** The hash of the deployment's block as the client's own node reads it (read only when the policy names one). */
  deployBlockHash: () => Promise<string>;
}

/** The deployment of `client`, as a policy is checked against it. */
export function policyOrigin(client: Pick<CtkClient, "deployment" | "publicClient">): PolicyOrigin {
  const { deployment, publicClient } = client;
  return {
    chainId: deployment.chainId,
    computeToken: deployment.computeToken,
    deployBlockHash: async () => (await publicClient.getBlock({ blockNumber: BigInt(deployment.deployBlock) })).hash,
  };
}

/**
 * Why `policy` is not the policy of `ours`'s redeemer (one of another chain or contract: its check
 * would not be the one the burn is judged by), or undefined.
 */
export async function otherRedeemer(policy: RedeemerPolicy, ours: PolicyOrigin): Promise<string | undefined> {
  if (policy.chainId !== undefined && policy.chainId !== ours.chainId) return `serves chain ${policy.chainId}, not ${ours.chainId}`;
  if (policy.computeToken && policy.computeToken.toLowerCase() !== ours.computeToken.toLowerCase()) return `serves ComputeToken ${policy.computeToken}, not ${ours.computeToken}`;
  if (policy.deployBlockHash) {
    const here = await ours.deployBlockHash();
    if (policy.deployBlockHash.toLowerCase() !== here.toLowerCase())
      return `reads another chain with the same id and contract (its deployment block is ${policy.deployBlockHash}, here ${here})`;
  }
  return undefined;
}

/** Fetches and validates a redeemer's published policy. */
export async function fetchRedeemerPolicy(apiUrl: string, options: { timeoutMs?: number } = {}): Promise<RedeemerPolicy> {
  // Relative to the API's own path, so an API served under a prefix (the web app's /redeemer) works too.
  const url = new URL(POLICY_PATH.slice(1), apiUrl.endsWith("/") ? apiUrl : `${apiUrl}/`).toString();
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  } catch (err) {
    throw new PolicyUnavailable(apiUrl, `cannot reach the redeemer's API at ${apiUrl} (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message})`);
  }
  if (!res.ok) throw new PolicyUnavailable(apiUrl, `the redeemer's API at ${apiUrl} answered ${res.status} for ${POLICY_PATH}`);
  const parsed = redeemerPolicySchema.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) throw new PolicyUnavailable(apiUrl, `the redeemer's API at ${apiUrl} served a policy this version does not understand`);
  return parsed.data;
}

export class PolicyUnavailable extends CtkError {
  override readonly name = "PolicyUnavailable";
  constructor(
    readonly apiUrl: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Parses a container image reference the way Docker and containerd read one:
 *
 *   [host[:port]/]path[:tag][@algorithm:hex]
 *
 * The first path component is the registry host only when it contains "." or ":" or is
 * "localhost"; otherwise the image lives on Docker Hub ("ubuntu" is docker.io/library/ubuntu).
 * This matters for an allow-list: "registry.example.com@sha256:…" is Docker Hub's
 * "library/registry.example.com", not an image on registry.example.com.
 */
import { CtkError } from "./ctkError.js";

export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

export interface ImageRef {
  /** Registry host[:port], lower-cased; "docker.io" when the reference names none. */
  registry: string;
  /** Repository path, e.g. "team/train" ("library/ubuntu" for an official Docker Hub image). */
  repository: string;
  tag?: string;
  /** The digest exactly as written after "@", e.g. "sha256:<64 hex>". */
  digest?: string;
}

export class InvalidImageRef extends CtkError {
  override readonly name = "InvalidImageRef";
  constructor(
    readonly ref: string,
    readonly problem: string,
  ) {
    super(`invalid image reference ${JSON.stringify(ref.length > 80 ? `${ref.slice(0, 77)}...` : ref)}: ${problem}`);
  }
}

const MAX_NAME_LENGTH = 255;
const HOST_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const HOST_RE = new RegExp(`^(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::([0-9]{1,5}))?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** The only digest form the redeemer accepts as a pin. */
export const SHA256_DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

/** True for "host", "host:port", "[v6]:port" — what may precede the first "/" of a reference. */
export function isRegistryHost(host: string): boolean {
  const m = HOST_RE.exec(host);
  return m !== null && (m[1] === undefined || Number(m[1]) <= 65535);
}

/** Lower-cases a registry host and folds Docker Hub's aliases into "docker.io". */
export function normalizeRegistry(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

/** @throws InvalidImageRef */
export function parseImageRef(ref: string): ImageRef {
  if (ref.length === 0) throw new InvalidImageRef(ref, "empty");
  if (/\s/.test(ref)) throw new InvalidImageRef(ref, "contains whitespace");

  const at = ref.indexOf("@");
  let rest = ref;
  let digest: string | undefined;
  if (at !== -1) {
    digest = ref.slice(at + 1);
    rest = ref.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw new InvalidImageRef(ref, "the part after '@' is not a digest");
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new InvalidImageRef(ref, `invalid tag ${JSON.stringify(tag)}`);
  }

  if (rest.length === 0) throw new InvalidImageRef(ref, "no repository name");
  if (rest.length > MAX_NAME_LENGTH) throw new InvalidImageRef(ref, `name longer than ${MAX_NAME_LENGTH} characters`);

  const components = rest.split("/");
  let registry = DOCKER_HUB;
  const first = components[0]!;
  if (components.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    if (!isRegistryHost(first)) throw new InvalidImageRef(ref, `invalid registry host ${JSON.stringify(first)}`);
    registry = normalizeRegistry(first);
    components.shift();
  }
  for (const c of components) {
    if (!PATH_COMPONENT_RE.test(c)) {
      throw new InvalidImageRef(ref, `invalid path component ${JSON.stringify(c)} (lower-case letters, digits, '.', '_', '-')`);
    }
  }
  if (registry === DOCKER_HUB && components.length === 1) components.unshift("library");

  return { registry, repository: components.join("/"), ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** True when the reference is pinned by a sha256 digest of 64 lower-case hex digits. */
export const isPinned = (image: ImageRef): boolean => image.digest !== undefined && SHA256_DIGEST_RE.test(image.digest);

/**
 * True when an allow-list entry admits the image. An entry is "host[:port]" (any repository on
 * that registry) or "host[:port]/path" (that repository or anything under it). A port is part of
 * the host: "registry.example.com" does not admit "registry.example.com:5000".
 */
export function registryAllows(entry: string, image: ImageRef): boolean {
  const slash = entry.indexOf("/");
  const host = normalizeRegistry(slash === -1 ? entry : entry.slice(0, slash));
  const prefix = slash === -1 ? "" : entry.slice(slash + 1).replace(/\/+$/, "");
  if (host !== image.registry) return false;
  return prefix === "" || image.repository === prefix || image.repository.startsWith(`${prefix}/`);
}

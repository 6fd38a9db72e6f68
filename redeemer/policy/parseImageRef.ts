/** Image references are parsed in the SDK (the CLI and the web app check them too); re-exported here. */
export {
  DOCKER_HUB,
  type ImageRef,
  InvalidImageRef,
  isPinned,
  isRegistryHost,
  normalizeRegistry,
  parseImageRef,
  registryAllows,
  SHA256_DIGEST_RE,
} from "../../sdk/imageRef.js";

/** The SDK's atomic write (sdk/atomicFile.ts), under the name the receipt store imports it by. */
export { writeFileAtomic } from "../sdk/atomicFile.js";

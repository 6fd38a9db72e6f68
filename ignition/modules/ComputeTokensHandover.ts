// Hardhat Ignition loads modules from ignition/modules/; the module itself lives in deploy/.
export { default } from "../../deploy/ComputeTokensHandover.js";

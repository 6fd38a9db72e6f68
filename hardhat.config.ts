import { createRequire } from "node:module";
import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);

/** The optimizer settings we deploy with; the gas benchmark and every test use the same. */
export const SOLC_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  viaIR: true,
} as const;

const COMPILER = {
  version: "0.8.30",
  // No compiler downloads here: use the solc-js build from npm (pinned in package.json).
  path: require.resolve("solc/soljson.js"),
  settings: SOLC_SETTINGS,
};

export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  solidity: {
    // One compiler and one set of settings for every build profile: tests ("default") measure
    // exactly what `hardhat ignition deploy` ("production") deploys.
    profiles: {
      default: COMPILER,
      production: COMPILER,
    },
    // Deployed beside ComputeToken; built from the npm package so its artifact exists.
    npmFilesToBuild: ["@openzeppelin/contracts/access/manager/AccessManager.sol"],
  },
  paths: {
    tests: { mocha: "test", solidity: "contracts/test" },
  },
  test: {
    mocha: { timeout: 120_000 },
    // Solidity fuzz and invariant tests (contracts/test/*.t.sol). Sized so the whole Solidity
    // suite runs in well under two minutes on two cores (Hardhat's default fuzz seed is fixed, so
    // runs repeat). failOnRevert: every invariant-handler action must succeed; attacker and
    // forbidden calls are made with try/catch inside the handler and counted if they succeed.
    solidity: {
      fuzz: { runs: 256 },
      invariant: { runs: 48, depth: 80, failOnRevert: true },
    },
  },
});

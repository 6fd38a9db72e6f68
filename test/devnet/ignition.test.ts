/**
 * The Ignition module (deploy/ComputeTokens.ts) deploys on the Hardhat network with the same wiring
 * as sdk/deploy.ts (what the devnet uses): every selector's role, every role's members and delays,
 * the launch timeout and the priority multipliers. Its output converts to a ctk deployment file.
 */
import path from "node:path";
import { expect } from "chai";
import { network } from "hardhat";
import { type Address, type PublicClient, createPublicClient, createWalletClient, custom, defineChain, getAddress, toFunctionSelector, toFunctionSignature } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import ComputeTokens from "../../deploy/ComputeTokens.js";
import ComputeTokensHandover from "../../deploy/ComputeTokensHandover.js";
import { ROLES } from "../../sdk/roles.js";
import { deployComputeTokens } from "../../sdk/deploy.js";
import { accessManagerAbi, computeTokenAbi, inferenceCreditAbi } from "../../sdk/generated/abi.js";
import { ANVIL_KEYS } from "../../devkit/startAnvil.js";
import { deploymentFromIgnition } from "../../scripts/ignition-to-deployment.js";

const account = (i: number) => privateKeyToAccount(ANVIL_KEYS[i]).address;
const PARAMS = {
  admin: account(9),
  hr: account(1),
  operations: account(2),
  redeemer: account(3),
  pauser: account(4),
  gateway: account(8),
  launchTimeout: 7200,
  lowBps: 9000,
  normalBps: 10000,
  highBps: 13000,
  urgentBps: 20000,
  adminExecutionDelay: 60,
};

/** Everything about a deployment's permissions and settings that should not depend on how it was deployed. */
async function wiringOf(pc: PublicClient, manager: Address, token: Address, credit: Address) {
  const selectorRoles: Record<string, bigint> = {};
  for (const [target, abi, prefix] of [
    [token, computeTokenAbi, ""],
    [credit, inferenceCreditAbi, "credit."],
  ] as const) {
    const functions = (abi as readonly { type: string; stateMutability?: string }[]).filter(
      (x) => x.type === "function" && x.stateMutability !== "view" && x.stateMutability !== "pure",
    );
    for (const f of functions) {
      const sig = toFunctionSignature(f as never);
      selectorRoles[prefix + sig] = await pc.readContract({
        address: manager,
        abi: accessManagerAbi,
        functionName: "getTargetFunctionRole",
        args: [target, toFunctionSelector(sig)],
      });
    }
  }
  const creditReads = {
    computeToken: getAddress((await pc.readContract({ address: credit, abi: inferenceCreditAbi, functionName: "computeToken" })) as Address) === getAddress(token),
    authorityIsManager: getAddress((await pc.readContract({ address: credit, abi: inferenceCreditAbi, functionName: "authority" })) as Address) === getAddress(manager),
  };
  const members: Record<string, [boolean, number][]> = {};
  for (const [role, id] of Object.entries(ROLES)) {
    members[role] = (await Promise.all(
      ANVIL_KEYS.map((_, i) => pc.readContract({ address: manager, abi: accessManagerAbi, functionName: "hasRole", args: [id, account(i)] })),
    )) as [boolean, number][];
  }
  const read = <F extends "launchTimeout" | "authority">(functionName: F) => pc.readContract({ address: token, abi: computeTokenAbi, functionName } as never);
  return {
    selectorRoles,
    creditReads,
    members,
    launchTimeout: await read("launchTimeout"),
    authorityIsManager: getAddress((await read("authority")) as Address) === getAddress(manager),
    multipliers: await Promise.all([0, 1, 2, 3].map((p) => pc.readContract({ address: token, abi: computeTokenAbi, functionName: "priorityMultiplier", args: [p] }))),
  };
}

describe("Ignition module deploy/ComputeTokens.ts", function () {
  it("wires every selector and role exactly as sdk/deploy.ts does", async () => {
    const { ignition, provider } = await network.create();
    const chain = defineChain({ id: 31337, name: "hardhat", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [] } } });
    const pc = createPublicClient({ chain, transport: custom(provider), pollingInterval: 10 }) as PublicClient;

    const viaIgnition = await ignition.deploy(ComputeTokens, { parameters: { ComputeTokens: PARAMS } });
    const ignManager = getAddress(await viaIgnition.accessManager.getAddress());
    const ignToken = getAddress(await viaIgnition.computeToken.getAddress());
    const ignCredit = getAddress(await viaIgnition.inferenceCredit.getAddress());

    const wallet = createWalletClient({ chain, transport: custom(provider), account: privateKeyToAccount(ANVIL_KEYS[0]), pollingInterval: 10 });
    const viaSdk = await deployComputeTokens(pc, wallet, {
      roles: { ADMIN: [PARAMS.admin], HR: [PARAMS.hr], OPERATIONS: [PARAMS.operations], REDEEMER: [PARAMS.redeemer], PAUSER: [PARAMS.pauser], GATEWAY: [PARAMS.gateway] },
      launchTimeout: PARAMS.launchTimeout,
      multipliersBps: [PARAMS.lowBps, PARAMS.normalBps, PARAMS.highBps, PARAMS.urgentBps],
      adminExecutionDelay: PARAMS.adminExecutionDelay,
    });

    const a = await wiringOf(pc, ignManager, ignToken, ignCredit);
    const b = await wiringOf(pc, viaSdk.accessManager, viaSdk.computeToken, viaSdk.inferenceCredit!);
    expect(a).to.deep.equal(b);
    // and the wiring is the intended one, not merely the same mistake twice
    expect(a.selectorRoles["grantBatch(bytes32,address[],uint256[],uint256[])"]).to.equal(ROLES.HR);
    expect(a.selectorRoles["defineClass(string,string,uint32,uint16)"]).to.equal(ROLES.OPERATIONS);
    expect(a.selectorRoles["settle(uint256,uint256,bytes32)"]).to.equal(ROLES.REDEEMER);
    expect(a.selectorRoles["pause()"]).to.equal(ROLES.PAUSER);
    expect(a.selectorRoles["credit.settleUsage(bytes32,uint64,bytes32,((address,address,uint256,uint64,uint64,string[]),bytes)[],(address,uint64,uint256)[])"]).to.equal(
      ROLES.GATEWAY,
    );
    expect(a.selectorRoles["credit.grantBatch(bytes32,uint40,bool,address[],uint256[])"]).to.equal(ROLES.HR);
    expect(a.selectorRoles["credit.setModelPrice(string,uint64,uint64,uint64)"]).to.equal(ROLES.OPERATIONS);
    expect(a.selectorRoles["credit.pause()"]).to.equal(ROLES.PAUSER);
    expect(a.selectorRoles["credit.revokeAuthorization(address,uint64)"]).to.equal(ROLES.ADMIN);
    expect(a.creditReads).to.deep.equal({ computeToken: true, authorityIsManager: true });
    expect(a.members.GATEWAY.map(([m]) => m)).to.deep.equal(ANVIL_KEYS.map((_, i) => i === 8));
    expect(a.members.OPERATIONS.map(([m]) => m)).to.deep.equal(ANVIL_KEYS.map((_, i) => i === 2));
    expect(a.members.ADMIN[9]).to.deep.equal([true, 60]);
    expect(a.members.ADMIN[0]).to.deep.equal([true, 0]);
    expect(a.launchTimeout).to.equal(7200);
    expect(a.multipliers).to.deep.equal([9000, 10000, 13000, 20000]);
    expect(a.authorityIsManager).to.equal(true);
  });

  it("hands ADMIN over with ComputeTokensHandover: the deployer keeps no role", async () => {
    const { ignition, provider } = await network.create();
    const chain = defineChain({ id: 31337, name: "hardhat", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [] } } });
    const pc = createPublicClient({ chain, transport: custom(provider) }) as PublicClient;
    const { accessManager, computeToken, inferenceCredit } = await ignition.deploy(ComputeTokensHandover, { parameters: { ComputeTokensHandover: PARAMS } });
    const w = await wiringOf(pc, getAddress(await accessManager.getAddress()), getAddress(await computeToken.getAddress()), getAddress(await inferenceCredit.getAddress()));
    for (const role of Object.keys(ROLES)) expect(w.members[role][0], role).to.deep.equal([false, 0]);
    expect(w.members.ADMIN[9]).to.deep.equal([true, 60]);
  });

  it("turns Ignition's output directory into a ctk deployment file", () => {
    const dir = path.join(import.meta.dirname, "fixtures", "ignition-chain-31337");
    expect(deploymentFromIgnition(dir)).to.deep.equal({
      chainId: 31337,
      computeToken: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
      accessManager: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      deployBlock: 1,
      roles: {
        ADMIN: [account(0)],
        HR: [account(1)],
        OPERATIONS: [account(2)],
        REDEEMER: [account(3)],
        PAUSER: [account(4)],
      },
    });
  });
});

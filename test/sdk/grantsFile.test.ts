import { expect } from "chai";
import { encodeAbiParameters, keccak256, toBytes, zeroAddress } from "viem";
import { parseEmployeesCsv, parseWallet } from "../../sdk/holders.js";
import {
  GRANT_COLUMNS,
  grantBatchRef,
  grantFileHash,
  parseGrantsCsv,
  planGrantBatches,
  totalsByClass,
  type ResolvedGrantRow,
} from "../../sdk/grants.js";
import { encodeLotId } from "../../sdk/lotId.js";

const A = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const B = "0x976EA74026E726554dB657fA54763abd0C3a0aa9";
const HEADER = GRANT_COLUMNS.join(",");

describe("grants and employees files (sdk/grants.ts, sdk/holders.ts)", () => {
  it("parses a clean grants file into exact GPU-seconds and expiries", () => {
    const { rows, problems } = parseGrantsCsv(`${HEADER}\nE1,${A},H100-80GB,1.5,2030-01-01,false\nE2,${B},B200,10,2030-01-01T12:00:00Z,true\n`);
    expect(problems).to.deep.equal([]);
    expect(rows).to.deep.equal([
      { line: 2, employeeId: "E1", wallet: A, className: "H100-80GB", units: 5400n, expiresAt: 1893456000n, policy: "soulbound" },
      { line: 3, employeeId: "E2", wallet: B, className: "B200", units: 36000n, expiresAt: 1893499200n, policy: "transferable" },
    ]);
  });

  it("lists every row problem with its line: address, hours, expiry, policy, fields, duplicates", () => {
    const csv = [
      HEADER,
      `E1,${A},H100-80GB,2,2030-01-01,false`, // 2 ok
      `E2,0x1234,H100-80GB,2,2030-01-01,false`, // 3 bad address
      `E3,${A.toLowerCase().replace("0x9", "0x8")},H100-80GB,-1,2030-01-01,false`, // 4 negative hours
      `E4,${B},H100-80GB,0.0001,2030-01-01,false`, // 5 fractional second
      `E4,${B},H100-80GB,2,31/12/2030,false`, // 6 malformed expiry
      `E4,${B},H100-80GB,2,2030-01-01,perhaps`, // 7 bad policy
      `E1,${A},H100-80GB,2,2030-01-01,false`, // 8 duplicate of 2
      `E9,${A},H100-80GB,3,2030-01-01,false`, // 9 wallet of E1 under another id
      `,${B},H100-80GB,0,2030-01-01`, // 10 empty id, zero hours, missing field
      `E5,${zeroAddress},H100-80GB,1,2030-01-01,false`, // 11 zero address
      `E6,${A.replace("9965507D", "9965507d")},H100-80GB,1,2030-01-01,false`, // 12 bad checksum
    ].join("\n");
    const { rows, problems } = parseGrantsCsv(csv);
    expect(rows.map((r) => r.line)).to.deep.equal([2]);
    const byLine = (line: number) => problems.filter((p) => p.line === line).map((p) => p.message);
    expect(byLine(3)).to.deep.equal(['wallet "0x1234" is not a 0x-prefixed 20-byte address']);
    expect(byLine(4)).to.deep.equal(['gpu_hours "-1" is negative']);
    expect(byLine(5)).to.deep.equal(['gpu_hours "0.0001" is not a whole number of GPU-seconds (hours × 3600)']);
    expect(byLine(6)[0]).to.match(/expires_at "31\/12\/2030" is not an ISO-8601 date/);
    expect(byLine(7)).to.deep.equal(['transferable "perhaps" must be true or false']);
    expect(byLine(8)).to.deep.equal(["duplicates line 2"]);
    expect(byLine(9)).to.deep.equal([`wallet ${A} belongs to employee E1 on line 2`]);
    expect(byLine(10)).to.have.members([
      "has 5 fields, the header has 6",
      "employee_id is empty",
      'gpu_hours "0" is not positive',
      'transferable "" must be true or false',
    ]);
    expect(byLine(11)).to.deep.equal(["wallet is the zero address"]);
    expect(byLine(12)[0]).to.match(/wrong EIP-55 checksum/);
    expect(problems.map((p) => p.line)).to.deep.equal([...problems.map((p) => p.line)].sort((a, b) => a - b));
  });

  it("names missing header columns on line 1", () => {
    const { problems } = parseGrantsCsv("employee_id,wallet,class\nE1,0x,B200\n");
    expect(problems).to.deep.equal([
      { line: 1, message: `header must have columns ${HEADER} (missing gpu_hours, expires_at, transferable)` },
    ]);
  });

  it("plans batches deterministically by lot, each batchRef = keccak256(abi.encode(fileHash, index, count))", () => {
    const content = "any file content";
    const fileHash = grantFileHash(content);
    expect(fileHash).to.equal(keccak256(toBytes(content)));
    const lotX = encodeLotId({ classId: 2, expiresAt: 1893456000n, policy: "soulbound" });
    const lotY = encodeLotId({ classId: 1, expiresAt: 1893456000n, policy: "transferable" });
    const rows: ResolvedGrantRow[] = Array.from({ length: 5 }, (_, i) => ({
      line: i + 2,
      employeeId: `E${i}`,
      wallet: i % 2 ? A : B,
      className: i % 2 ? "H100-80GB" : "A100-80GB",
      classId: i % 2 ? 2 : 1,
      units: BigInt(3600 * (i + 1)),
      expiresAt: 1893456000n,
      policy: i % 2 ? "soulbound" : "transferable",
      lotId: i % 2 ? lotX : lotY,
    }));
    const batches = planGrantBatches(fileHash, rows, 2);
    expect(batches.map((b) => b.rows.map((r) => r.line))).to.deep.equal([[2, 4], [6, 3], [5]]);
    expect(batches.map((b) => b.index)).to.deep.equal([0, 1, 2]);
    for (const b of batches) {
      expect(b.batchRef).to.equal(
        keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }, { type: "uint256" }], [fileHash, BigInt(b.index), 3n])),
      );
      expect(b.batchRef).to.equal(grantBatchRef(fileHash, b.index, b.count));
    }
    expect(planGrantBatches(fileHash, [...rows].reverse(), 2)).to.deep.equal(batches);
    expect(totalsByClass(rows)).to.deep.equal([
      { className: "A100-80GB", rows: 3, recipients: 1, units: 3600n * 9n },
      { className: "H100-80GB", rows: 2, recipients: 1, units: 3600n * 6n },
    ]);
  });

  it("parses employees.csv and lists bad, duplicate and conflicting rows", () => {
    const { rows, problems } = parseEmployeesCsv(`employee_id,wallet\nE1,${A}\nE2,nope\nE1,${A}\nE3,${A}\nE1,${B}\n,${B}\n`);
    expect(rows).to.deep.equal([{ line: 2, employeeId: "E1", wallet: A }]);
    expect(problems).to.deep.equal([
      { line: 3, message: 'wallet "nope" is not a 0x-prefixed 20-byte address' },
      { line: 4, message: "duplicates line 2" },
      { line: 5, message: `wallet ${A} is already employee E1 on line 2` },
      { line: 6, message: `employee E1 already has wallet ${A} on line 2` },
      { line: 7, message: "employee_id is empty" },
    ]);
    expect(parseWallet(A.toLowerCase())).to.equal(A);
  });
});

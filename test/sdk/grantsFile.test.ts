import { expect } from "chai";
import { keccak256, toBytes, zeroAddress } from "viem";
import { parseEmployeesCsv, parseWallet } from "../../sdk/holders.js";
import { GRANT_COLUMNS, grantFileHash, grantRowKeyOf, parseGrantsCsv, totalsByClass, type ResolvedGrantRow } from "../../sdk/grants.js";
import { chunkBatchRef, chunkByGas, grantRowKey, isBatchOfRun, matchLandedRows, runTag, InvalidRunName } from "../../sdk/grantRows.js";
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
    expect(byLine(10)).to.have.members(["has 5 fields, the header has 6", "employee_id is empty", 'gpu_hours "0" is not positive', 'transferable "" must be true or false']);
    expect(byLine(11)).to.deep.equal(["wallet is the zero address"]);
    expect(byLine(12)[0]).to.match(/wrong EIP-55 checksum/);
    expect(problems.map((p) => p.line)).to.deep.equal([...problems.map((p) => p.line)].sort((a, b) => a - b));
  });

  it("names missing header columns on line 1", () => {
    const { problems } = parseGrantsCsv("employee_id,wallet,class\nE1,0x,B200\n");
    expect(problems).to.deep.equal([{ line: 1, message: `header must have columns ${HEADER} (missing gpu_hours, expires_at, transferable)` }]);
  });

  it("keys a row by run, recipient, lot and amount: independent of the file's encoding, chunking and other rows", () => {
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
    const keys = rows.map(grantRowKeyOf);
    expect(grantRowKey(keys[1]!)).to.equal(`${A.toLowerCase()}:${lotX}:7200`);
    // The same rows parsed from CRLF + BOM and from LF give the same keys (the file hash differs).
    const lf = `${GRANT_COLUMNS.join(",")}\nE1,${A},H100-80GB,2,2030-01-01,false\n`;
    const crlf = `\ufeff${lf.replaceAll("\n", "\r\n")}`;
    expect(grantFileHash(lf)).to.not.equal(grantFileHash(crlf));
    const [fromLf, fromCrlf] = [lf, crlf].map((t) => parseGrantsCsv(t).rows);
    expect(fromCrlf).to.deep.equal(fromLf);
    // A chunk's batchRef: the run's 16-byte tag, then the hash of its sorted row keys (order-free).
    const ref = chunkBatchRef("2026-11", keys.slice(0, 2));
    expect(ref.slice(0, 34)).to.equal(runTag("2026-11"));
    expect(chunkBatchRef("2026-11", [keys[1]!, keys[0]!])).to.equal(ref);
    expect(chunkBatchRef("2026-12", keys.slice(0, 2))).to.not.equal(ref);
    expect(isBatchOfRun(ref, "2026-11")).to.equal(true);
    expect(isBatchOfRun(ref, "2026-12")).to.equal(false);
    expect(runTag("2026-11")).to.equal(keccak256(toBytes("grant-run:2026-11")).slice(0, 34));
    expect(runTag("2026-11", "credit-run")).to.not.equal(runTag("2026-11"));
    expect(() => runTag("")).to.throw(InvalidRunName);
    expect(() => runTag(" padded ")).to.throw(InvalidRunName);
    // Landed rows are matched one mint per row, whatever chunk they came in.
    const split = matchLandedRows(
      rows.map((r) => ({ ...r, ...grantRowKeyOf(r) })),
      [keys[3]!, keys[0]!, keys[0]!],
    );
    expect(split.landed.map((r) => r.line)).to.deep.equal([2, 5]);
    expect(split.pending.map((r) => r.line)).to.deep.equal([3, 4, 6]);
    expect(totalsByClass(rows)).to.deep.equal([
      { className: "A100-80GB", rows: 3, recipients: 1, units: 3600n * 9n },
      { className: "H100-80GB", rows: 2, recipients: 1, units: 3600n * 6n },
    ]);
  });

  it("cuts chunks by row count and by gas estimate, halving a chunk over budget", async () => {
    const rows = Array.from({ length: 10 }, (_, i) => i);
    const estimated: number[] = [];
    const chunks = await chunkByGas(rows, {
      maxRows: 8,
      gasBudget: 1000n,
      gasOf: async (c) => {
        estimated.push(c.length);
        return BigInt(c.length * 300);
      },
    });
    expect(chunks).to.deep.equal([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
    ]);
    expect(estimated).to.deep.equal([8, 4, 2, 2, 4, 2, 2, 2]);
    expect(await chunkByGas(rows, { maxRows: 4, gasBudget: 1n })).to.deep.equal([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
  });

  it("never puts rows of two groups in one chunk (one credit bucket per grantBatch)", async () => {
    const rows = [1, 1, 1, 2, 2, 3, 3, 3, 3, 3].map((group, i) => ({ group, i }));
    const chunks = await chunkByGas(rows, { maxRows: 4, gasBudget: 1n, groupOf: (r) => String(r.group) });
    expect(chunks.map((c) => c.map((r) => r.i))).to.deep.equal([[0, 1, 2], [3, 4], [5, 6, 7, 8], [9]]);
    expect(chunks.every((c) => c.every((r) => r.group === c[0].group))).to.equal(true);
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

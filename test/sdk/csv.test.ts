import { expect } from "chai";
import { CsvSyntaxError, columnIndex, parseCsv, parseCsvRecords } from "../../sdk/csv.js";

describe("CSV reader (sdk/csv.ts)", () => {
  it("keeps each record's starting line, skipping blank lines", () => {
    const recs = parseCsvRecords("a,b\n\n1,2\r\n3,4\n\n");
    expect(recs).to.deep.equal([
      { line: 1, fields: ["a", "b"] },
      { line: 3, fields: ["1", "2"] },
      { line: 4, fields: ["3", "4"] },
    ]);
  });

  it("reads quoted fields with commas, doubled quotes and newlines, and counts the lines inside them", () => {
    const recs = parseCsvRecords('h1,h2\n"a, b","say ""hi"""\n"multi\nline",x\nlast,y');
    expect(recs.map((r) => r.line)).to.deep.equal([1, 2, 3, 5]);
    expect(recs[1].fields).to.deep.equal(["a, b", 'say "hi"']);
    expect(recs[2].fields).to.deep.equal(["multi\nline", "x"]);
  });

  it("strips a byte-order mark and lower-cases the header", () => {
    const t = parseCsv("\uFEFFEmployee_ID, Wallet\nE1,0x1\n");
    expect(t.header).to.deep.equal(["employee_id", "wallet"]);
    expect(t.records).to.have.length(1);
  });

  it("reports an unclosed quote with the line it starts on", () => {
    expect(() => parseCsvRecords('a\n"open,\nstill open')).to.throw(CsvSyntaxError, /line 2: a quoted field is never closed/);
  });

  it("finds required columns in any order and names the missing ones", () => {
    expect(columnIndex(["wallet", "employee_id", "extra"], ["employee_id", "wallet"])).to.deep.equal({ index: { employee_id: 1, wallet: 0 } });
    expect(columnIndex(["wallet"], ["employee_id", "wallet"])).to.deep.equal({ missing: ["employee_id"] });
  });
});

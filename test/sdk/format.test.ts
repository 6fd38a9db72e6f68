import { expect } from "chai";
import { InputFormatError, formatExpiry, formatHours, lotLabel, parseExpiry, parseHours, parseTransferable } from "../../sdk/format.js";

describe("hours and expiry formats (sdk/format.ts)", () => {
  it("turns decimal GPU-hours into exact GPU-seconds", () => {
    expect(parseHours("12")).to.equal(43_200n);
    expect(parseHours("1.5")).to.equal(5_400n);
    expect(parseHours("0.25")).to.equal(900n);
    expect(parseHours("0.0025")).to.equal(9n);
    expect(parseHours(" 100000000.5 ")).to.equal(360_000_001_800n);
    expect(parseHours("007.50")).to.equal(27_000n);
  });

  it("refuses malformed, non-positive and fractional-second hours", () => {
    for (const [text, why] of [
      ["", /not a number/],
      ["abc", /not a number/],
      ["1e3", /not a number/],
      ["1,5", /not a number/],
      ["-2", /negative/],
      ["0", /not positive/],
      ["0.000", /not positive/],
      ["0.0001", /whole number of GPU-seconds/],
      ["1.00001", /whole number of GPU-seconds/],
    ] as const) {
      expect(() => parseHours(text), text).to.throw(InputFormatError, why);
    }
  });

  it("shows GPU-seconds as hours, exact when it can and marked ~ when rounded", () => {
    expect(formatHours(43_200n)).to.equal("12");
    expect(formatHours(5_400n)).to.equal("1.5");
    expect(formatHours(9n)).to.equal("0.0025");
    expect(formatHours(1n)).to.equal("~0.000278");
    expect(formatHours(0n)).to.equal("0");
  });

  it("reads ISO-8601 dates (midnight UTC) and date-times with a zone", () => {
    expect(parseExpiry("2027-03-31")).to.equal(BigInt(Date.UTC(2027, 2, 31) / 1000));
    expect(parseExpiry("2027-03-31T18:30:00Z")).to.equal(BigInt(Date.UTC(2027, 2, 31, 18, 30) / 1000));
    expect(parseExpiry("2027-03-31T18:30Z")).to.equal(BigInt(Date.UTC(2027, 2, 31, 18, 30) / 1000));
    expect(parseExpiry("2027-03-31T20:30:00+02:00")).to.equal(BigInt(Date.UTC(2027, 2, 31, 18, 30) / 1000));
    expect(parseExpiry("2027-03-31T13:30:00-0500")).to.equal(BigInt(Date.UTC(2027, 2, 31, 18, 30) / 1000));
    expect(parseExpiry("2027-03-31T18:30:00.000Z")).to.equal(BigInt(Date.UTC(2027, 2, 31, 18, 30) / 1000));
  });

  it("refuses ambiguous or impossible expiries", () => {
    for (const [text, why] of [
      ["31/03/2027", /not an ISO-8601 date/],
      ["2027-3-31", /not an ISO-8601 date/],
      ["tomorrow", /not an ISO-8601 date/],
      ["2027-02-30", /not a valid date/],
      ["2027-13-01", /not a valid date/],
      ["2027-03-31T24:00:00Z", /not a valid date/],
      ["2027-03-31T18:00:00", /no time zone/],
      ["2027-03-31T18:00:00.5Z", /fractional seconds/],
    ] as const) {
      expect(() => parseExpiry(text), text).to.throw(InputFormatError, why);
    }
  });

  it("prints an expiry as a date at midnight UTC, else as a full UTC time, and round-trips", () => {
    expect(formatExpiry(parseExpiry("2027-03-31"))).to.equal("2027-03-31");
    expect(formatExpiry(parseExpiry("2027-03-31T20:30:00+02:00"))).to.equal("2027-03-31T18:30:00Z");
    expect(lotLabel("H100-80GB", parseExpiry("2027-03-31"), "soulbound")).to.equal("H100-80GB expiring 2027-03-31 (soulbound)");
  });

  it("reads the transferable column as a transfer policy", () => {
    expect(parseTransferable("true")).to.equal("transferable");
    expect(parseTransferable("YES")).to.equal("transferable");
    expect(parseTransferable("0")).to.equal("soulbound");
    expect(parseTransferable("false")).to.equal("soulbound");
    expect(() => parseTransferable("maybe")).to.throw(InputFormatError, /must be true or false/);
  });
});

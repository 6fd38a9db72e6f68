import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { createFileExclusive, createFileExclusiveSync, isTempFile, removeTempFiles, removeTempFilesSync, writeFileAtomic, writeFileAtomicSync } from "../../sdk/atomicFile.js";

/** The whole content behind an open descriptor, from the start. */
function readFd(fd: number): string {
  const buf = Buffer.alloc(1 << 20);
  const n = readSync(fd, buf, 0, buf.length, 0);
  return buf.subarray(0, n).toString("utf8");
}

const variants = [
  { name: "writeFileAtomic", write: writeFileAtomic, create: createFileExclusive, clean: removeTempFiles },
  { name: "writeFileAtomicSync", write: writeFileAtomicSync, create: createFileExclusiveSync, clean: removeTempFilesSync },
] as const;

describe("atomic file writes (sdk/atomicFile.ts)", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "ctk-atomic-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  for (const v of variants) {
    describe(v.name, () => {
      it("replaces the content by a rename: a reader that opened the old file still reads all of it, the path gives all of the new", async () => {
        const file = join(dir, "state.json");
        const before = "a".repeat(200_000);
        const after = "b".repeat(100_000);
        await v.write(file, before);
        const fd = openSync(file, "r");
        try {
          await v.write(file, after);
          // An in-place rewrite (truncate, then write) would show the old reader an empty or mixed file.
          expect(readFd(fd)).to.equal(before);
        } finally {
          closeSync(fd);
        }
        expect(readFileSync(file, "utf8")).to.equal(after);
        expect(readdirSync(dir)).to.deep.equal(["state.json"]);
      });

      it("writes bytes as given", async () => {
        const file = join(dir, "blob.bin");
        const bytes = Uint8Array.from([0, 255, 1, 254, 10]);
        await v.write(file, bytes);
        expect([...readFileSync(file)]).to.deep.equal([...bytes]);
      });

      it("leaves the file and a crash's leftover temporary file alone, and removeTempFiles deletes only the leftover", async () => {
        const file = join(dir, "receipt.json");
        await v.write(file, '{"v":1}\n');
        // What a crash between the temporary write and the rename leaves behind: a torn temporary file.
        const leftover = `${file}.tmp-4242-deadbeef`;
        writeFileSync(leftover, '{"v":2, "torn');
        expect(isTempFile("receipt.json.tmp-4242-deadbeef")).to.equal(true);
        expect(isTempFile("receipt.json")).to.equal(false);
        expect(readFileSync(file, "utf8")).to.equal('{"v":1}\n');

        await v.write(file, '{"v":3}\n');
        expect(readFileSync(file, "utf8")).to.equal('{"v":3}\n');
        expect(await v.clean(dir)).to.equal(1);
        expect(readdirSync(dir)).to.deep.equal(["receipt.json"]);
        expect(await v.clean(dir)).to.equal(0);
      });

      it("throws when the rename fails and leaves no temporary file behind", async () => {
        const target = join(dir, "taken");
        mkdirSync(join(target, "inside"), { recursive: true });
        let error: unknown;
        try {
          await v.write(target, "x");
        } catch (e) {
          error = e;
        }
        expect((error as NodeJS.ErrnoException | undefined)?.code).to.be.oneOf(["EISDIR", "ENOTEMPTY", "EEXIST"]);
        expect(readdirSync(dir)).to.deep.equal(["taken"]);
      });

      it("creates a file exclusively: the first create wins, a second one returns false and changes nothing", async () => {
        const file = join(dir, "job-7.json");
        expect(await v.create(file, "first\n")).to.equal(true);
        expect(await v.create(file, "second\n")).to.equal(false);
        expect(readFileSync(file, "utf8")).to.equal("first\n");
        expect(readdirSync(dir)).to.deep.equal(["job-7.json"]);
      });
    });
  }

  it("lets exactly one of many concurrent exclusive creates win, with its whole content", async () => {
    const file = join(dir, "once.json");
    const contents = Array.from({ length: 12 }, (_, i) => `${String(i).repeat(50_000)}\n`);
    const won = await Promise.all(contents.map((c) => createFileExclusive(file, c)));
    expect(won.filter(Boolean)).to.have.length(1);
    expect(readFileSync(file, "utf8")).to.equal(contents[won.indexOf(true)]);
    expect(readdirSync(dir)).to.deep.equal(["once.json"]);
  });
});

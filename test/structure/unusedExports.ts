/**
 * Exports nothing imports: every `export` of the repository's own TypeScript, less those another
 * file imports by name (static imports, `export … from`, `import type`), those of a module some file
 * imports whole (`import * as`, dynamic `import()`), and the default exports of entry points that
 * tools load by path (Hardhat's config, Ignition modules).
 *
 *   npx tsx test/structure/unusedExports.ts     prints file:line name, one a line
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export interface UnusedExport {
  file: string;
  line: number;
  name: string;
  /** A type or interface (not emitted), or a value. */
  kind: "type" | "value";
  /** Referenced elsewhere in its own file: only the `export` is unused. */
  usedLocally: boolean;
}

export function findUnusedExports(root: string, extraRoots: readonly string[] = []): UnusedExport[] {
  const configFile = ts.readConfigFile(path.join(root, "tsconfig.json"), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root);
  const program = ts.createProgram([...parsed.fileNames, ...extraRoots.map((f) => path.join(root, f))], parsed.options);
  const checker = program.getTypeChecker();
  const ours = program.getSourceFiles().filter((sf) => !sf.isDeclarationFile && !sf.fileName.includes("/node_modules/") && sf.fileName.startsWith(root));

  const used = new Set<ts.Symbol>();
  const wholeModules = new Set<ts.SourceFile>();
  const resolveModule = (from: ts.SourceFile, specifier: string): ts.SourceFile | undefined => {
    const resolved = ts.resolveModuleName(specifier, from.fileName, parsed.options, ts.sys).resolvedModule;
    return resolved ? program.getSourceFile(resolved.resolvedFileName) : undefined;
  };
  const markAlias = (node: ts.Node) => {
    const symbol = checker.getSymbolAtLocation(node);
    if (!symbol) return;
    used.add(symbol);
    if (symbol.flags & ts.SymbolFlags.Alias) {
      let target = symbol;
      // Follow re-export chains to the declaration, marking each hop.
      for (let i = 0; i < 10 && target.flags & ts.SymbolFlags.Alias; i++) {
        target = checker.getImmediateAliasedSymbol(target) ?? target;
        used.add(target);
        if (!(target.flags & ts.SymbolFlags.Alias)) break;
      }
      used.add(checker.getAliasedSymbol(symbol));
    }
  };

  for (const sf of ours) {
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const clause = node.importClause;
        if (clause?.name) markAlias(clause.name);
        const bindings = clause?.namedBindings;
        if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) markAlias(el.name);
        if (bindings && ts.isNamespaceImport(bindings)) {
          const target = resolveModule(sf, node.moduleSpecifier.text);
          if (target) wholeModules.add(target);
        }
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        // `export *`: an import through the re-exporting module resolves to the original symbol.
        if (node.exportClause && ts.isNamespaceExport(node.exportClause)) {
          const target = resolveModule(sf, node.moduleSpecifier.text);
          if (target) wholeModules.add(target);
        } else if (node.exportClause) for (const el of node.exportClause.elements) markAlias(el.propertyName ?? el.name);
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const arg = node.arguments[0];
        if (arg && ts.isStringLiteral(arg)) {
          const target = resolveModule(sf, arg.text);
          if (target) wholeModules.add(target);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }

  const unused: UnusedExport[] = [];
  for (const sf of ours) {
    if (wholeModules.has(sf)) continue;
    const moduleSymbol = checker.getSymbolAtLocation(sf);
    if (!moduleSymbol) continue;
    const rel = path.relative(root, sf.fileName);
    for (const exp of checker.getExportsOfModule(moduleSymbol)) {
      if (used.has(exp)) continue;
      const target = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      if (used.has(target)) continue;
      if (exp.name === "default") continue;
      const decl = exp.declarations?.[0];
      if (!decl || decl.getSourceFile() !== sf) {
        // a re-export whose target nobody imports through this module
        if (!decl) continue;
      }
      const line = sf.getLineAndCharacterOfPosition((decl ?? sf).getStart()).line + 1;
      const kind = target.flags & ts.SymbolFlags.Value ? "value" : "type";
      const usedLocally = new RegExp(`\\b${exp.name}\\b`, "g").test(sf.text.slice(0, decl.getStart()) + sf.text.slice(decl.getEnd()));
      unused.push({ file: rel, line, name: exp.name, kind, usedLocally });
    }
  }
  return unused.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
  for (const u of findUnusedExports(root)) console.log(`${u.file}:${u.line} ${u.name} ${u.kind}${u.usedLocally ? " (used in its file)" : ""}`);
}

const t0 = performance.now();
await import("../redeemer/index.ts");
await import("../redeemer/executor/local/index.ts");
console.log("import ms", Math.round(performance.now() - t0));

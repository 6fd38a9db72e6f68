const t0 = performance.now();
await import("viem"); console.log("viem", Math.round(performance.now() - t0));
await import("viem/accounts"); console.log("viem/accounts", Math.round(performance.now() - t0));
await import("pino"); await import("express"); await import("prom-client"); console.log("rest", Math.round(performance.now() - t0));
await import("zod"); console.log("zod", Math.round(performance.now() - t0));

import { applyOps, dict, Slicer, type State } from "@switchyard/shared";
import { pino } from "pino";
import { TableHolder } from "./src/serve/holder.js";
const pools = dict([["p1", { targets: [{ address: "127.0.0.1:9001", weight: 1 }] }], ["p2", { targets: [{ address: "127.0.0.1:9002", weight: 1 }] }]] as any);
const routes = dict(Array.from({ length: 10000 }, (_, i) => [`h${i}.example.com`, { upstream: i % 2 ? "p1" : "p2" }] as const)) as any;
let s: State = { defaultUpstream: null, pools, routes } as State;
const holder = new TableHolder({ retain() {} }, new Slicer(0.5), pino({ level: "silent" }));
await holder.install(1, s);
const wall: number[] = [], cpu: number[] = [];
for (let i = 0; i < 2000; i++) {
  const c0 = process.cpuUsage(); const t0 = performance.now();
  s = applyOps(s, [{ op: "route.put", host: `h${(i * 37) % 10000}.example.com`, route: { upstream: i % 2 ? "p2" : "p1" } }]);
  await holder.install(2 + i, s);
  wall.push(performance.now() - t0); const c = process.cpuUsage(c0); cpu.push((c.user + c.system) / 1000);
}
const p = (xs: number[], q: number) => [...xs.slice(-200)].sort((a, b) => a - b)[Math.ceil(q * 200) - 1]!.toFixed(3);
console.log("wall p50", p(wall, 0.5), "p99", p(wall, 0.99), "cpu p50", p(cpu, 0.5), "p99", p(cpu, 0.99));
console.log(holder.current!.resolve("h37.example.com", "/"), holder.current!.revision);

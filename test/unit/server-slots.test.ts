// Blue-green on the server (R16): the pure parts of components/model-service/server-slots.ts. The switch itself runs
// against the real haproxy in test/integration/server-slots.test.ts and on a real host in the server e2e.
import { describe, expect, it } from "vitest";
import { checkSlotPorts, slotContainerName, slotPorts, slotRoutingConfig, slotSwitchScript } from "../../components/model-service/server-slots";

const TRITON = { http: 8000, metrics: 8002 };
const router = (active: "blue" | "green", deployed: ("blue" | "green")[] = ["blue", "green"]) =>
    slotRoutingConfig({ active, deployed, router: TRITON, triton: TRITON, adminSocket: "/run/haproxy-admin/admin.sock" });

describe("the server's blue-green slots", () => {
    it("gives each slot its own loopback ports and container, clear of Triton's own (the router's)", () => {
        expect(slotPorts("blue", TRITON)).toEqual({ http: 8100, metrics: 8102 });
        expect(slotPorts("green", TRITON)).toEqual({ http: 8200, metrics: 8202 });
        expect(slotContainerName("green")).toBe("triton-model-server-green");
    });

    it("routes to the active slot only: the other's servers start in maintenance, on the loopback", () => {
        const cfg = router("green");
        expect(cfg).toMatch(/^ {4}bind 127\.0\.0\.1:8000$/m);
        expect(cfg).toMatch(/^ {4}server blue 127\.0\.0\.1:8100 disabled$/m);
        expect(cfg).toMatch(/^ {4}server green 127\.0\.0\.1:8200$/m);
        expect(cfg).toMatch(/^ {4}server blue 127\.0\.0\.1:8102 disabled$/m);
        expect(cfg).toMatch(/^ {4}server green 127\.0\.0\.1:8202$/m);
        // The admin actions only on a root-only unix socket, never on a TCP port.
        expect(cfg).toMatch(/^ {4}bind unix@\/run\/haproxy-admin\/admin\.sock mode 600$/m);
        expect(cfg.match(/^ {4}bind /gm)).toHaveLength(3);
        // A slot without an image has no server; the active slot must have one.
        expect(router("blue", ["blue"])).not.toMatch(/server green/);
        expect(() => router("green", ["blue"])).toThrow(/the active slot "green" has no container on the server: set slots\.green\.image/);
    });

    it("switches only after the new slot is ready, then stops the old one (stopped) or keeps it (warm)", () => {
        const o = { active: "green" as const, deployed: ["blue", "green"] as const, triton: TRITON, routingFile: "/etc/triton-platform/gateway/slots.cfg", adminDir: "/var/lib/triton-platform/gateway-admin", adminSocket: "/var/lib/triton-platform/gateway-admin/admin.sock", timeoutSeconds: 300, stopSeconds: 35 };
        const stopped = slotSwitchScript({ ...o, idle: "stopped" });
        expect(stopped.indexOf("ready_url")).toBeLessThan(stopped.indexOf("admin ready"));
        expect(stopped).toContain("ready_url='http://127.0.0.1:8200/v2/health/ready'");
        expect(stopped).toContain("docker stop --time 35");
        expect(slotSwitchScript({ ...o, idle: "warm" })).not.toContain("docker stop");
    });

    it("refuses Triton ports whose slot ports collide with the router or another listener", () => {
        expect(() => checkSlotPorts(TRITON, { "the gateway's statistics port (gateway.statsPort)": 8405 })).not.toThrow();
        expect(() => checkSlotPorts({ http: 8000, metrics: 8100 }, {})).toThrow(/the blue slot's http port 8100 \(modelService\.ports\.http \+ 100\) is already taken by the slot router \(modelService\.ports\.metrics\)/);
        expect(() => checkSlotPorts(TRITON, { "the gateway's statistics port (gateway.statsPort)": 8202 })).toThrow(/green slot's metrics port 8202 .*\(gateway\.statsPort\)/);
    });
});

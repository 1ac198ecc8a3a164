// The gateway as stack/program.ts wires it: in front of the model service's routing Service, with the
// Keys component's JWT secret, for the dev and prod definitions.
import { describe, expect, it } from "vitest";
import { gatewaySchema } from "../../components/gateway";
import { StackDefinition } from "../../stack/definition";
import { definitionFrom, stackFileRaw } from "../support/definitions";
import { deployPlatform } from "../../stack/program";
import { one, ofType, runMocked } from "../support/harness";

/** A stack's definition with a `gateway` key (parsed here until stack/definition.ts composes it). */
function definitionOf(stack: string, gateway: Record<string, unknown> = {}): StackDefinition {
    const raw = stackFileRaw(stack);
    delete raw.gateway;
    return { ...definitionFrom(raw, stack), gateway: gatewaySchema.parse(gateway) };
}

describe("the gateway in the platform program", () => {
    it("fronts the model service's routing Service (18789, metrics 8002) in the stack's namespace", async () => {
        const def = definitionOf("dev", { host: "bot.dev.acme.io" });
        const run = await runMocked(() => deployPlatform(def, {}), { stack: "dev" });
        const gateway = one(run, "triton-platform:gateway:Gateway", "gateway");
        expect(gateway.parent).toBeUndefined();
        // The routing Service is auto-named; the mocks name it `triton-mock`.
        expect(one(run, "kubernetes:core/v1:Service", "triton").inputs.metadata.name).toBeUndefined();
        const cfg: string = one(run, "kubernetes:core/v1:ConfigMap", "gateway-config").inputs.data["haproxy.cfg"];
        const fqdn = "triton-mock.triton-dev.svc.cluster.local";
        expect(cfg).toContain(`server upstream ${fqdn}:18789 `);
        expect(cfg).toContain(`server upstream ${fqdn}:8002 `);
        // The claims it checks are the keys settings' (R10).
        expect(cfg).toContain("-m str model-service }");
        expect(cfg).toContain("acl aud_ok var(txn.jwt_aud) -m str collaboration-platform");
        expect(one(run, "kubernetes:core/v1:Secret", "gateway-jwt").inputs.metadata.namespace).toBe("triton-dev");
        expect(run.outputs).toMatchObject({ gatewayUrl: "https://bot.dev.acme.io", chatUrl: "wss://bot.dev.acme.io/chat" });
    });

    it("declares no gateway when it is disabled", async () => {
        const run = await runMocked(() => deployPlatform(definitionOf("dev", { enabled: false }), {}), { stack: "dev" });
        expect(ofType(run, "triton-platform:gateway:Gateway")).toEqual([]);
        expect(run.outputs.gatewayUrl).toBeUndefined();
    });
});

// A prod preview that cannot reach its cluster must say so instead of looking like a green diff
// (components/cluster/reachability.ts). Real sockets on loopback; no cluster needed.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiServer, kubeconfigText, probe, unreachableWarning } from "../../components/cluster/reachability";
import { freePort } from "../support/ports";

const kubeconfig = (server: string, current = "prod") =>
    [
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{name: main, cluster: {server: '${server}'}}, {name: other, cluster: {server: 'https://10.255.0.1:6443'}}]`,
        "users: [{name: u, user: {token: x}}]",
        "contexts: [{name: prod, context: {cluster: main, user: u}}, {name: staging, context: {cluster: other, user: u}}]",
        `current-context: ${current}`,
    ].join("\n");

describe("finding the API server of a kubeconfig", () => {
    it("uses cluster.context, else the current context", () => {
        expect(apiServer(kubeconfig("https://127.0.0.1:6443"))).toEqual({ context: "prod", server: "https://127.0.0.1:6443" });
        expect(apiServer(kubeconfig("https://127.0.0.1:6443"), "staging")).toEqual({ context: "staging", server: "https://10.255.0.1:6443" });
    });

    it("names what is missing", () => {
        expect(apiServer(kubeconfig("https://x:1"), "dev")).toEqual({ problem: 'the kubeconfig has no context "dev"' });
        expect(apiServer("apiVersion: v1\nkind: Config\n")).toEqual({ problem: "the kubeconfig has no current-context and cluster.context is not set" });
        expect(apiServer("clusters: [")).toMatchObject({ problem: expect.stringContaining("not valid YAML") });
    });

    it("reads cluster.kubeconfig as contents or as a path, else KUBECONFIG", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-"));
        const file = path.join(dir, "config");
        fs.writeFileSync(file, kubeconfig("https://a:1"));
        expect(kubeconfigText({ mode: "kubeconfig", kubeconfig: kubeconfig("https://b:2") })).toMatchObject({ source: "cluster.kubeconfig" });
        expect(kubeconfigText({ mode: "kubeconfig", kubeconfig: file })).toEqual({ text: kubeconfig("https://a:1"), source: file });
        expect(kubeconfigText({ mode: "kubeconfig" }, { KUBECONFIG: `${path.join(dir, "absent")}:${file}` })).toEqual({ text: kubeconfig("https://a:1"), source: file });
        expect(kubeconfigText({ mode: "kubeconfig" }, { KUBECONFIG: path.join(dir, "absent") }).text).toBeUndefined();
        fs.rmSync(dir, { recursive: true });
    });
});

describe("probing the API server", () => {
    let server: net.Server;
    let open: number;
    let closed: number;
    beforeAll(async () => {
        closed = await freePort();
        server = net.createServer((s) => s.end());
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        open = (server.address() as net.AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("passes a server that accepts connections, silently", async () => {
        expect(await probe(`https://127.0.0.1:${open}`)).toBeUndefined();
        expect(await unreachableWarning({ mode: "kubeconfig", kubeconfig: kubeconfig(`https://127.0.0.1:${open}`) })).toBeUndefined();
    });

    it("says plainly that nothing was reached, naming the server, the context and the fix", async () => {
        expect(await probe(`https://127.0.0.1:${closed}`)).toBe("ECONNREFUSED");
        const warning = await unreachableWarning({ mode: "kubeconfig", kubeconfig: kubeconfig(`https://127.0.0.1:${closed}`) });
        expect(warning).toContain("NOTHING WAS REACHED");
        expect(warning).toContain(`https://127.0.0.1:${closed} (context "prod", from cluster.kubeconfig)`);
        expect(warning).toContain("ECONNREFUSED");
        expect(warning).toContain("not a diff");
        expect(warning).toContain("cluster.kubeconfig / cluster.context / KUBECONFIG");
    });

    it("says so too when there is no kubeconfig at all", async () => {
        const warning = await unreachableWarning({ mode: "kubeconfig" }, { KUBECONFIG: "/nonexistent/kubeconfig" });
        expect(warning).toContain("NOTHING WAS REACHED: the cluster of /nonexistent/kubeconfig cannot be reached from here (no kubeconfig at /nonexistent/kubeconfig)");
    });
});

// A preview against a cluster it cannot reach looks like any other preview: every Kubernetes resource
// planned as a create, all green. This says plainly, on the stack, that nothing was reached, so the
// on-call engineer reading the plan before a switchover does not take it for a diff.
import * as yaml from "js-yaml";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { ClusterSettings } from "./schema";

type KubeconfigSettings = Extract<ClusterSettings, { mode: "kubeconfig" }>;

interface Kubeconfig {
    "current-context"?: string;
    contexts?: { name: string; context?: { cluster?: string } }[];
    clusters?: { name: string; cluster?: { server?: string } }[];
}

/** Where the API server is: the context used and its server URL, or why it cannot be told. */
export type ApiServer = { context: string; server: string } | { problem: string };

/** The text of the kubeconfig the provider will use: the setting (a path or contents), else KUBECONFIG, else ~/.kube/config. */
export function kubeconfigText(settings: KubeconfigSettings, env: NodeJS.ProcessEnv = process.env): { text?: string; source: string } {
    const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined);
    if (settings.kubeconfig) {
        // The provider takes either a path or the file's contents.
        return /\n/.test(settings.kubeconfig) || settings.kubeconfig.trimStart().startsWith("{")
            ? { text: settings.kubeconfig, source: "cluster.kubeconfig" }
            : { text: read(settings.kubeconfig), source: settings.kubeconfig };
    }
    // KUBECONFIG may list several files; the first that exists and names the context wins, as in kubectl.
    const files = (env.KUBECONFIG ?? path.join(os.homedir(), ".kube", "config")).split(path.delimiter).filter(Boolean);
    for (const file of files) {
        const text = read(file);
        if (text !== undefined) return { text, source: file };
    }
    return { source: files.join(path.delimiter) || "~/.kube/config" };
}

/** Finds the API server URL of the context the provider will use. */
export function apiServer(text: string, context?: string): ApiServer {
    let config: Kubeconfig;
    try {
        config = (yaml.load(text) ?? {}) as Kubeconfig;
    } catch (e) {
        return { problem: `the kubeconfig is not valid YAML (${(e as Error).message.split("\n")[0]})` };
    }
    const name = context ?? config["current-context"];
    if (!name) return { problem: "the kubeconfig has no current-context and cluster.context is not set" };
    const cluster = config.contexts?.find((c) => c.name === name)?.context?.cluster;
    if (!cluster) return { problem: `the kubeconfig has no context "${name}"` };
    const server = config.clusters?.find((c) => c.name === cluster)?.cluster?.server;
    if (!server) return { problem: `the kubeconfig's cluster "${cluster}" (context "${name}") has no server` };
    return { context: name, server };
}

/** Opens and closes a TCP connection to the server's host and port; resolves to the reason it failed, or undefined. */
export function probe(server: string, timeoutMs = 3000): Promise<string | undefined> {
    let url: URL;
    try {
        url = new URL(server);
    } catch {
        return Promise.resolve(`the server "${server}" is not a URL`);
    }
    const port = Number(url.port || (url.protocol === "http:" ? 80 : 443));
    const host = url.hostname.replace(/^\[|\]$/g, "");
    return new Promise((resolve) => {
        const socket = net.connect({ host, port });
        const done = (reason?: string) => {
            socket.destroy();
            resolve(reason);
        };
        socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000} s`));
        socket.once("connect", () => done(undefined));
        socket.once("error", (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    });
}

/** The warning a preview shows when the API server cannot be reached, or undefined when it can. */
export async function unreachableWarning(settings: KubeconfigSettings, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
    const { text, source } = kubeconfigText(settings, env);
    const where = text === undefined ? { problem: `no kubeconfig at ${source}` } : apiServer(text, settings.context);
    const reason = "problem" in where ? where.problem : await probe(where.server);
    if (reason === undefined) return undefined;
    const target = "problem" in where ? `the cluster of ${source}` : `the API server ${where.server} (context "${where.context}", from ${source})`;
    return (
        `NOTHING WAS REACHED: ${target} cannot be reached from here (${reason}). ` +
        "This preview compared the program with no cluster: every Kubernetes resource shows as planned and no live object was read, " +
        "so it is not a diff. Run it where the cluster is reachable (VPN, bastion, CI runner), or fix cluster.kubeconfig / cluster.context / KUBECONFIG."
    );
}

/**
 * Whether the API server was reached: probed during a preview (with a warning on the stack when it was
 * not), and true after an `up`, which cannot succeed without it. The program exports it as a stack output,
 * which also makes the engine wait for the probe.
 */
export function clusterReached(settings: KubeconfigSettings): pulumi.Output<boolean> {
    if (!pulumi.runtime.isDryRun()) {
        // `up` fails on its own at the first Kubernetes resource, with the provider's error.
        return pulumi.output(true);
    }
    return pulumi.output(unreachableWarning(settings)).apply((warning) => {
        if (warning) pulumi.log.warn(warning);
        return warning === undefined;
    });
}

// The entry point on the lightweight server (R8-R10): from serverGateway() (server-plan.ts), haproxy.cfg (no
// secret) and the JWT secrets (stdin, root-only, never on a command line or in a Docker setting) as
// files, the pinned image, the container (host network, listening on 80 and 18789, Triton on the loopback
// behind it) and a bounded check that every listener refuses a request without a token. Declared on the
// host (components/server/host.ts).
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { imageVersion } from "../../kit/image-ref";
import { recommendedLabels } from "../../kit/labels";
import { ContainerLogSource, hostContainer, ServerHost } from "../server/host";
import { removeFileScript, remoteCommand, StdinFileOptions, stdinFileScript } from "../server/scripts";
import type { JwtPolicy } from "./haproxy";
import type { GatewaySettings } from "./schema";
import {
    GATEWAY_READY_TIMEOUT_SECONDS,
    gatewayContainerArgs,
    gatewayProbe,
    gatewayReadyScript,
    previousJwtFileAction,
    SERVER_GATEWAY_CONTAINER,
    ServerGateway,
} from "./server-plan";

/** The collaboration-platform entry point on the server, as the definition gives it. */
export interface ServerGatewayOptions {
    /**
     * The definition's `gateway` settings. With `enabled` (the default) haproxy listens on 80 and 18789
     * and Triton is published on 127.0.0.1 only; with `enabled: false` Triton is published on the
     * service port itself, as without a gateway.
     */
    settings: GatewaySettings;
    /** The R10 claims the gateway checks (the definition's `keys.jwt`). */
    jwt: JwtPolicy;
    /**
     * Key rotation without an outage (Keys.jwtPreviousSecret and jwtRotation), as the Kubernetes gateway
     * takes it: the previous period's JWT secret, accepted until `acceptedUntilEpoch` (Unix seconds).
     * While that overlap runs it is written to `jwt-secret-previous` beside the current secret (stdin,
     * root, 0400); after it the file is removed. Unset: the current secret only.
     */
    previousJwt?: { secret: pulumi.Input<string>; acceptedUntilEpoch: pulumi.Input<number> };
}

/** Inputs of {@link declareServerGateway}. */
export interface ServerGatewayArgsOnHost {
    settings: GatewaySettings;
    /** The HS256 secret (Keys.jwtSecret, secret). */
    jwtSecret: pulumi.Output<string>;
    /** The previous JWT secret, the overlap's end, the gateway's plan for that end, and now (Unix seconds). */
    previousJwt?: { secret: pulumi.Output<string>; acceptedUntilEpoch: pulumi.Output<number>; plan: (until: number) => ServerGateway; nowEpochSeconds: number };
    /** The log shipper's Docker logging and labels for the entry point (R13), when one runs. */
    logSource?: ContainerLogSource;
    /**
     * Triton's serving container and the step after which it serves (the slot switch, which writes the
     * slot router's file haproxy reads at start).
     */
    triton: { container: docker.Container; ready: command.remote.Command };
}

/** Declares the entry point on the server; `ready` once every listener refuses a request without a token. */
export function declareServerGateway(host: ServerHost, gw: ServerGateway, a: ServerGatewayArgsOnHost): { container: docker.Container; ready: command.remote.Command } {
    const { settings: s, step, file } = host;
    const prev = a.previousJwt;
    // With a previous secret, haproxy.cfg carries the overlap's end (`date lt <end>`): it refuses that
    // secret afterwards by itself.
    const plan = prev ? prev.acceptedUntilEpoch.apply((until) => prev.plan(until)) : pulumi.output(gw);
    const config = file("gateway-config", { path: gw.configFile.path, mode: "0644", dirMode: "0755" }, plan.config, false);
    // The secret alone in its file (no newline needed: the container reads it with `$(cat ...)`).
    const secret = file("gateway-jwt-secret", { path: gw.secretFile.path, mode: secretFileMode(gw.secretFile.mode), dirMode: "0700" }, a.jwtSecret, true);
    // Rotation without an outage: the previous period's secret beside it, exactly as the current one
    // (stdin, secret in the state, not logged, root 0400) while the overlap runs; removed after it. The
    // script differs (write or remove), so the step's id, a label of the container, changes with it.
    const previous =
        prev &&
        (() => {
            const action = prev.acceptedUntilEpoch.apply((until) => previousJwtFileAction(prev.nowEpochSeconds, until));
            const path = gw.previousSecretFile.path;
            const script = action.apply((act) =>
                act === "write" ? stdinFileScript({ path, mode: secretFileMode(gw.previousSecretFile.mode), dirMode: "0700" }) : removeFileScript(path),
            );
            return step(
                "gateway-jwt-previous-secret",
                "",
                s.sudo,
                [host.firewall],
                {
                    create: script.apply((sc) => remoteCommand(sc, { sudo: s.sudo })),
                    stdin: pulumi.secret(pulumi.all([action, prev.secret]).apply(([act, value]) => (act === "write" ? value : ""))),
                    logging: "none",
                },
                true,
            );
        })();

    const container = hostContainer(
        host,
        "gateway",
        {
            image: { pull: a.settings.image, role: "gateway-image" },
            args: gatewayContainerArgs(gw, { source: a.logSource, logRotation: s.logRotation, memoryLimit: a.settings.resources.memoryLimit }),
            labels: recommendedLabels({ name: "gateway", instance: host.instance, component: "entry-point", version: imageVersion(a.settings.image) }),
            revisions: [
                // The shipper picks up the entry point's access log (route and refusal reason; never a token).
                ...(a.logSource?.labels ?? []),
                // haproxy reads its files at start only: a new config or secret recreates the container.
                { label: "triton-platform/config-sha256", value: plan.fingerprint },
                { label: "triton-platform/config-file-revision", value: config.id },
                { label: "triton-platform/key-file-revision", value: secret.id },
                ...(previous ? [{ label: "triton-platform/previous-key-file-revision", value: previous.id }] : []),
            ],
        },
        // Host ports 80 and 18789: after Triton's container (which may have held 18789 before the gateway
        // existed) and before a replacement binds them again. And after the slot switch step, which writes
        // the slot router's file haproxy reads at start.
        { dependsOn: [config, secret, ...(previous ? [previous] : []), a.triton.container, a.triton.ready, host.firewall], deleteBeforeReplace: true },
    );
    const ready = step(
        "gateway-ready",
        gatewayReadyScript({
            containerName: SERVER_GATEWAY_CONTAINER,
            healthUrl: gw.healthUrl,
            listenerUrls: gw.listenPorts.map((p) => `http://127.0.0.1:${p}`),
            probe: gatewayProbe(a.settings.routes),
            timeoutSeconds: GATEWAY_READY_TIMEOUT_SECONDS,
        }),
        s.sudo,
        [container, a.triton.ready],
        { triggers: [container.id] },
    );
    return { container, ready };
}

/** The JWT secret file's mode from serverGateway(), checked to be one the file step writes. */
function secretFileMode(mode: string): StdinFileOptions["mode"] {
    if (mode !== "0400" && mode !== "0600") {
        throw new Error(`the gateway's JWT secret file must be root-only (0400 or 0600), not ${mode}`);
    }
    return mode;
}

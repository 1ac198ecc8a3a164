// Composes the platform onto the lightweight server, as stack/kubernetes.ts composes it onto Kubernetes: the
// host (components/server: bootstrap, firewall, sshd, key files, Docker engine), then each concern through
// its own server.ts on that host, in the order their dependencies run: the log shipper (whose logging
// options the others carry), the model service (Triton, one container per blue-green slot), the gateway
// in front of it, the dialogue service behind the gateway.
import * as path from "path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { DialogueSettings } from "../components/dialogue/schema";
import { declareServerDialogue, SERVER_DIALOGUE_PORTS } from "../components/dialogue/server";
import { declareServerGateway, ServerGatewayOptions } from "../components/gateway/server";
import { checkGatewayServicePort, envelopePath, READINESS_PATH, SERVER_GATEWAY_CONTAINER, serverGateway } from "../components/gateway/server-plan";
import { resolveNow } from "../components/keys/rotation";
import { declareServerLogShipper, ServerLogSinkArgs } from "../components/logsink/server";
import { declareServerModelService, ServerModelServiceArgs } from "../components/model-service/server";
import type { TritonSettings } from "../components/model-service/server-plan";
import { repositoryFiles } from "../components/model-service/server-repository";
import { NFT_CHECK_TABLE, NFT_TABLE, renderNftables, renderSshCheckTable } from "../components/network";
import { alertmanagerConfig } from "../components/observability";
import { GATEWAY_ADMIN_DIR, GATEWAY_ADMIN_SOCKET, SLOT_ROUTING_FILE } from "../components/model-service/server-slots";
import { LightweightServer, LightweightServerArgs, serverEndpoint, ServerKeys, ServerSettings } from "../components/server";
import type { PlatformInputs, PlatformOutputs } from "./program";
import { serverTroubleshootingCommands } from "./troubleshooting";

/** What the platform on the server is made of: the host's arguments and each concern's. */
export interface ServerPlatformArgs extends LightweightServerArgs {
    /** The keys of the host's files, and Triton's restricted-API key (secret). */
    keys: ServerKeys & { tritonAdminKey: pulumi.Output<string> };
    /** Triton's ports and drain time, from the definition. */
    triton: TritonSettings;
    /** R16: the definition's `activeSlot` and each slot's image (see ServerModelServiceArgs). */
    slots?: ServerModelServiceArgs["slots"];
    /** The model repository to ship (repositoryFiles()). Unset: the operator's. */
    modelFiles?: ServerModelServiceArgs["modelFiles"];
    /** R16: the recorded releases kept on the server for a rollback, newest first. */
    releases?: string[];
    /**
     * R8-R10: the entry point in front of Triton, verifying HS256 JWTs. Unset or disabled: Triton is
     * published on the service port (18789) for everyone the firewall lets in, with no token check.
     */
    gateway?: ServerGatewayOptions;
    /** R13: run the log shipper next to Triton. Unset (logSink.enabled false): no shipper. */
    logSink?: ServerLogSinkArgs;
    /** R9, R11: the dialogue service behind the gateway (needs the gateway and `dialogue.server`). */
    dialogue?: { settings: DialogueSettings; hmacKey: pulumi.Output<string>; replyUrls?: pulumi.Output<string> };
    /**
     * The clock deciding whether the JWT overlap still runs (gateway.previousJwt).
     * @default TRITON_PLATFORM_NOW when set, else the current time (the Keys component's clock)
     */
    now?: Date;
}

/** The platform on the server, as the stack outputs name it. */
export interface ServerPlatform {
    /** Where collaboration platforms reach the model service (R8: the domain when set). Resolves once it serves. */
    endpoint: pulumi.Output<string>;
    /** R15 troubleshooting commands, by symptom. */
    troubleshooting: pulumi.Output<Record<string, string>>;
    /** The gateway container's name; undefined without a gateway. */
    gatewayContainerName?: string;
    /** `s3://bucket/prefix/` the server's logs land under; undefined without a log sink. */
    logDestination?: string;
}

/** Declares the platform on one lightweight server. */
export function deployServer(name: string, args: ServerPlatformArgs): ServerPlatform {
    const s = args.settings;
    // The gateway's plan is pure and comes first: it decides where Triton publishes (behind it, a slot per
    // image on loopback ports, reached through its slot router).
    const gatewayArgs = args.gateway?.settings.enabled ? args.gateway : undefined;
    const dialogue = gatewayArgs && args.dialogue;
    const gatewayFor = (g: ServerGatewayOptions, previousKeyValidUntil?: number) =>
        serverGateway({
            settings: g.settings,
            jwt: previousKeyValidUntil === undefined ? g.jwt : { ...g.jwt, previousKeyValidUntil },
            tritonHttpPort: args.triton.ports.http,
            tritonMetricsPort: args.triton.ports.metrics,
            // The dialogue routes go to the dialogue service on the loopback when it runs, else to Triton.
            dialoguePort: dialogue ? SERVER_DIALOGUE_PORTS.http : undefined,
            // R16: the slot router beside haproxy.cfg and the admin socket the switch step uses.
            slotRouting: { fileName: SLOT_ROUTING_FILE, adminDir: GATEWAY_ADMIN_DIR, socketName: GATEWAY_ADMIN_SOCKET },
        });
    // With a previous JWT secret, the overlap's end is an Output: only haproxy.cfg (and its fingerprint)
    // depend on its value, resolved by the gateway; ports, files and the container do not.
    const gw = gatewayArgs ? gatewayFor(gatewayArgs, gatewayArgs.previousJwt ? 0 : undefined) : undefined;
    if (gw) {
        checkGatewayServicePort(args.triton.servicePort, gw.listenPorts);
    }

    const host = new LightweightServer(name, args).host;
    // R13: the log shipper first; Triton's and the gateway's containers carry its logging options.
    const shipper = args.logSink && declareServerLogShipper(host, args.logSink);
    const model = declareServerModelService(host, {
        triton: args.triton,
        adminKey: args.keys.tritonAdminKey,
        slots: args.slots,
        router: gw?.slotRouting && {
            routingFile: gw.slotRouting.file.path,
            adminSocketHostPath: gw.slotRouting.adminSocketHostPath,
            adminSocketContainerPath: gw.slotRouting.adminSocketContainerPath,
            reservedPorts: { "the gateway's statistics port (gateway.statsPort)": gatewayArgs!.settings.statsPort },
        },
        modelFiles: args.modelFiles,
        releases: args.releases,
        logSource: shipper?.logSource("model-server"),
    });
    const gateway =
        gw &&
        gatewayArgs &&
        declareServerGateway(host, gw, {
            settings: gatewayArgs.settings,
            jwtSecret: args.keys.jwtSecret,
            previousJwt: gatewayArgs.previousJwt && {
                secret: pulumi.output(gatewayArgs.previousJwt.secret),
                acceptedUntilEpoch: pulumi.output(gatewayArgs.previousJwt.acceptedUntilEpoch),
                plan: (until: number) => gatewayFor(gatewayArgs, until),
                nowEpochSeconds: Math.floor(resolveNow(args.now).getTime() / 1000),
            },
            logSource: shipper?.logSource("entry-point"),
            triton: model,
        });
    // Triton is reached through the slot router in the gateway: ready once both are.
    const tritonReady: command.remote.Command = gateway ? gateway.ready : model.ready;
    if (dialogue) {
        declareServerDialogue(host, { ...dialogue, tritonHttpPort: args.triton.ports.http, tritonReady });
    }

    return {
        endpoint: pulumi.all([model.ready.stdout, gateway?.ready.stdout]).apply(() => serverEndpoint(s, args.triton.servicePort)),
        troubleshooting: pulumi.output(
            serverTroubleshootingCommands(s, args.triton.servicePort, {
                logShipperContainer: shipper?.containerName,
                modelContainer: model.containerName,
                slotAdminSocket: gw?.slotRouting?.adminSocketHostPath,
                gateway: gw &&
                    gatewayArgs && {
                        containerName: SERVER_GATEWAY_CONTAINER,
                        tritonHttpPort: gw.triton.httpPort,
                        readinessPath: READINESS_PATH,
                        envelopePath: envelopePath(gatewayArgs.settings.routes),
                    },
            }),
        ),
        gatewayContainerName: gateway ? SERVER_GATEWAY_CONTAINER : undefined,
        logDestination: shipper?.destination,
    };
}

/** Declares the platform on the stack's lightweight server (`server` settings) and adds its stack outputs. */
export function deployServerTarget(c: PlatformInputs, settings: ServerSettings, outputs: PlatformOutputs): void {
    const { def, secrets, keys, securityPolicy, staticKeys, instance } = c;
    // The dialogue service beside Triton (components/dialogue/server.ts) once its image is given
    // (dialogue.server: the archive and id scripts/build-dialogue-image.sh printed); until then the
    // server gateway's dialogue routes reach Triton.
    const dialogueOnServer = def.dialogue.enabled && def.gateway.enabled && def.dialogue.server !== undefined;
    const server = deployServer("server", {
        settings,
        // R16: the same blue-green slots as on Kubernetes; the server's gateway routes to the active one.
        slots: { active: def.activeSlot, images: { blue: def.slots.blue.image, green: def.slots.green.image } },
        privateKey: secrets.serverPrivateKey,
        keys,
        // The same rules as the cluster's NetworkPolicies, rendered for the host.
        firewall: { ruleset: renderNftables(securityPolicy), sshCheck: renderSshCheckTable(securityPolicy), table: NFT_TABLE, checkTable: NFT_CHECK_TABLE },
        triton: { servicePort: def.modelService.servicePort, ports: def.modelService.ports, exitTimeoutSeconds: def.modelService.exitTimeoutSeconds },
        // The models of the definition, with config.pbtxt generated as on Kubernetes, when the stack
        // names the folder of their files (server.modelSource, relative to the project).
        modelFiles: settings.modelSource ? repositoryFiles(def.models, path.resolve(settings.modelSource)) : undefined,
        // R16: the recorded releases stay on the server for a rollback, older model-server images go.
        releases: def.releases.length > 0 ? def.releases : undefined,
        // R8-R10: haproxy on 80 and 18789 verifying HS256 JWTs, Triton on 127.0.0.1 behind it; with
        // gateway.enabled false, Triton on 18789 itself. The JWT secret comes from `keys` above, and
        // (rotation without an outage, as the Kubernetes gateway) the previous period's secret with the
        // end of its overlap.
        gateway: {
            settings: def.gateway,
            jwt: def.keys.jwt,
            previousJwt: { secret: keys.jwtPreviousSecret, acceptedUntilEpoch: keys.jwtRotation.apply((r) => r.previousAcceptedUntilEpoch) },
        },
        dialogue: dialogueOnServer ? { settings: def.dialogue, hmacKey: keys.hmacKey, replyUrls: secrets.dialogueReplyUrls } : undefined,
        instance,
        localSsh: { name: instance },
        // R13: Triton's logs to object storage; static keys when both secrets are set.
        logSink: def.logSink.enabled
            ? {
                  definition: def,
                  credentials: staticKeys,
                  zone: settings.zone,
              }
            : undefined,
    });
    outputs.serverEndpoint = server.endpoint;
    // R16, named as on Kubernetes: the slot that serves and each slot's image.
    outputs.activeSlot ??= def.activeSlot;
    outputs.images ??= Object.fromEntries(Object.entries(def.slots).flatMap(([slot, v]) => (v.image ? [[slot, v.image]] : [])));
    // The operator's Alertmanager configuration for this server's alerts (monitoring.alertRoute); it
    // reads each webhook URL from <urlFileDirectory>/<receiver>.url, written there by the operator.
    if (def.monitoring.alertRoute && outputs.alertmanagerConfig === undefined) {
        outputs.alertmanagerConfig = JSON.stringify(alertmanagerConfig(def.monitoring.alertRoute), null, 2);
    }
    outputs.serverTroubleshooting = server.troubleshooting;
    if (def.logSink.enabled) {
        outputs.serverLogDestination = server.logDestination;
    }
}

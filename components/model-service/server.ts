// Triton on the lightweight server (R7, R16): the admin-key file, the shipped model repository, a Triton
// container per blue-green slot behind the gateway's slot router and the switch step (or, without the
// gateway, the active slot's image as the one container on the service port and a readiness wait), then
// the image retention of the last releases. Declared on the host (components/server/host.ts); the specs
// and scripts are the pure builders of server-plan.ts, server-slots.ts, server-repository.ts and
// server-releases.ts.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { imageTag, imageVersion } from "../../kit/image-ref";
import { recommendedLabels } from "../../kit/labels";
import { DEFAULT_TRITON_IMAGE, SLOT_NAMES, SlotName } from "../../kit/slots";
import { ContainerLogSource, hostContainer, ServerHost } from "../server/host";
import { envFileContent } from "../server/scripts";
import { CONTAINER_NAME, modelContainerSpec, modelKeyFileOptions, slotContainerSpec, TritonSettings, waitReadyScript } from "./server-plan";
import { imageRetentionScript } from "./server-releases";
import { modelRepositoryScript, RELEASE_ENV, RepositoryFile, repositoryPayload } from "./server-repository";
import { checkSlotPorts, GATEWAY_ADMIN_DIR, slotContainerName, slotPorts, slotRoutingConfig, slotSwitchScript } from "./server-slots";
import { TRITON_READY_PATH } from "./workload";

/** The gateway's slot router in front of the slots (components/gateway's serverGateway().slotRouting). */
export interface SlotRouter {
    /** The router's file on the server (haproxy reads it at start; the switch step rewrites it). */
    routingFile: string;
    /** haproxy's admin socket, as the server and as haproxy inside its container see it. */
    adminSocketHostPath: string;
    adminSocketContainerPath: string;
    /** Other loopback listeners the slots' ports must not take, by the setting that moves them. */
    reservedPorts: Record<string, number>;
}

/** Inputs of {@link declareServerModelService}. */
export interface ServerModelServiceArgs {
    /** Triton's ports and drain time, from the definition. */
    triton: TritonSettings;
    /** Triton's restricted-API key (Keys.tritonAdminKey, secret): a file only its container's user reads. */
    adminKey: pulumi.Output<string>;
    /**
     * R16 blue-green: the definition's `activeSlot` and each slot's image (a slot without one has no
     * container). With a `router` each slot runs its own Triton on loopback ports and the router sends
     * traffic to the active one; without it only the active slot runs, on the service port.
     * @default blue, with `server.image` (or the default Triton image)
     */
    slots?: { active: SlotName; images: Partial<Record<SlotName, string>> };
    /** The gateway's slot router. Unset (no gateway): Triton itself on the service port. */
    router?: SlotRouter;
    /**
     * The model repository to ship (repositoryFiles(): config.pbtxt from the definition and the files of
     * `server.modelSource`). Unset: the repository on the server is the operator's.
     */
    modelFiles?: RepositoryFile[];
    /**
     * The recorded releases of the model server's image, newest first (at most 3). Once the current image
     * serves, older images of those repositories are removed from the server. Unset or empty: none is.
     */
    releases?: string[];
    /** The log shipper's Docker logging and labels (R13), when one runs. */
    logSource?: ContainerLogSource;
}

/** What the rest of the server orders after and points operators at. */
export interface ServerModelService {
    /** The step after which Triton serves (the switch, or the readiness wait). */
    ready: command.remote.Command;
    /** The container of the active slot. */
    container: docker.Container;
    /** Its name on the server (R15 commands). */
    containerName: string;
}

/** Declares Triton on the server (R7, R16). */
export function declareServerModelService(host: ServerHost, a: ServerModelServiceArgs): ServerModelService {
    const { settings: s, step, file } = host;
    // Triton's admin key: readable by the model container's user only (server.modelContainerUser).
    const keyFile = file("model-server-env", modelKeyFileOptions(s.modelContainerUser), a.adminKey.apply((key) => envFileContent({ TRITON_ADMIN_KEY: key })), true);
    // The model repository (mounted read-only): Triton reads it at start only (--model-control-mode=none),
    // so a changed repository (a new step id) recreates the container.
    const repository =
        a.modelFiles && step("model-repository", modelRepositoryScript(s.modelRepository), s.sudo, [host.install], { stdin: repositoryPayload(a.modelFiles), logging: "stderr" });
    const slots = a.slots ?? { active: "blue" as SlotName, images: { blue: s.image ?? DEFAULT_TRITON_IMAGE } };
    const activeImage = slots.images[slots.active];
    if (!activeImage) {
        throw new Error(`the active slot "${slots.active}" has no image: set slots.${slots.active}.image`);
    }
    const modelContainer = (role: string, imageRole: string, image: string, spec: ReturnType<typeof modelContainerSpec>, o: pulumi.CustomResourceOptions) =>
        hostContainer(
            host,
            role,
            {
                image: { pull: image, role: imageRole },
                args: {
                    ...spec,
                    ...(a.logSource ? { logDriver: a.logSource.logDriver, logOpts: a.logSource.logOpts } : {}),
                    // Not a secret: the release that serves, for the model's replies (the example model names it).
                    envs: [`${RELEASE_ENV}=${imageTag(image) ?? image}`],
                },
                labels: recommendedLabels({ name: "triton", instance: host.instance, component: "model-server", version: imageVersion(image) }),
                revisions: [
                    // The shipper picks exactly the containers that carry its component label in their log lines.
                    ...(a.logSource?.labels ?? []),
                    // A rewritten key file gets a new id: the container is recreated and reads the new key.
                    { label: "triton-platform/key-file-revision", value: keyFile.id },
                    ...(repository ? [{ label: "triton-platform/model-repository-revision", value: repository.id }] : []),
                ],
            },
            { dependsOn: [keyFile, host.firewall, ...(repository ? [repository] : [])], ...o },
        );
    let ready: command.remote.Command;
    let container: docker.Container;
    const deployed: docker.Container[] = [];
    const router = a.router;
    if (router) {
        // R16 blue-green behind the gateway: a container per slot with an image, each on its own loopback
        // ports; the switch step makes the active one serve. Nothing here depends on activeSlot but that
        // step (and, at creation only, whether a stopped-idle slot starts), so a switch previews as that
        // step alone.
        checkSlotPorts(a.triton.ports, router.reservedPorts);
        const withImage = SLOT_NAMES.filter((slot) => slots.images[slot] !== undefined);
        for (const slot of withImage) {
            const ports = slotPorts(slot, a.triton.ports);
            const start = slot === slots.active || s.idleSlot === "warm";
            const c = modelContainer(`model-server-${slot}`, `image-${slot}`, slots.images[slot]!, slotContainerSpec(s, a.triton, { slot, ports, start }), {
                // Its own name and ports: replacing one slot never touches the other (the old slot serves
                // meanwhile); a slot's own replacement must free its ports first.
                deleteBeforeReplace: true,
                // The single model container of earlier versions becomes the active slot (one replacement).
                aliases: slot === slots.active ? [{ name: `${host.name}-model-server` }] : [],
                // `start` decides only at creation: an idle slot is created stopped under idleSlot: stopped.
                // Later it is the switch step that starts and stops slots.
                ignoreChanges: ["start"],
            });
            deployed.push(c);
            if (slot === slots.active) {
                container = c;
            }
        }
        const routingConfig = slotRoutingConfig({ active: slots.active, deployed: withImage, router: a.triton.ports, triton: a.triton.ports, adminSocket: router.adminSocketContainerPath });
        ready = step(
            "slot-switch",
            slotSwitchScript({
                active: slots.active,
                deployed: withImage,
                idle: s.idleSlot,
                triton: a.triton.ports,
                routingFile: router.routingFile,
                adminDir: GATEWAY_ADMIN_DIR,
                adminSocket: router.adminSocketHostPath,
                timeoutSeconds: s.readyTimeoutSeconds,
                stopSeconds: a.triton.exitTimeoutSeconds + 5,
            }),
            s.sudo,
            deployed,
            { stdin: routingConfig, triggers: deployed.map((c) => c.id) },
        );
    } else {
        // Without the gateway nothing can switch between slots: the active slot's image runs as the one
        // model container, published on the service port (R7), and a new image replaces it.
        container = modelContainer("model-server", "image", activeImage, modelContainerSpec(s, a.triton, undefined), {
            // Fixed host ports, one container: the old one must go before the new one can publish them.
            deleteBeforeReplace: true,
        });
        deployed.push(container);
        const tritonUrl = `http://127.0.0.1:${a.triton.servicePort}${TRITON_READY_PATH}`;
        ready = step("wait-ready", waitReadyScript({ url: tritonUrl, timeoutSeconds: s.readyTimeoutSeconds, containerName: CONTAINER_NAME }), s.sudo, [container], {
            triggers: [container.id],
        });
    }
    // R16: the last releases stay for a rollback; older images go, only once the current one serves.
    if (a.releases && a.releases.length > 0) {
        step("image-retention", imageRetentionScript(a.releases), s.sudo, [ready], { triggers: deployed.map((c) => c.id) });
    }
    return { ready, container: container!, containerName: router ? slotContainerName(slots.active) : CONTAINER_NAME };
}

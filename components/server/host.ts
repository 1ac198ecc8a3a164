// What the lightweight server offers the concerns that run on it (model service, gateway, log shipper,
// dialogue service): its remote steps, a writer of files from stdin, its Docker engine, the bootstrap steps
// to order after, and a small primitive for "a container on the host". Each concern's server.ts declares
// its resources through this, as its kubernetes.ts does through a Kubernetes provider; every resource is a
// child of the LightweightServer, so its name and URN do not depend on which file declares it.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { ServerSettings } from "./schema";
import type { StdinFileOptions } from "./scripts";

/** Runs a script on the host as a remote step named `<server>-<role>` (through `sudo -n` when `sudo`). */
export type RemoteStep = (
    role: string,
    script: string,
    sudo: boolean,
    dependsOn: pulumi.Resource[],
    extra?: Partial<command.remote.CommandArgs>,
    secretStdin?: boolean,
) => command.remote.Command;

/** Writes a file from stdin (a secret one stays secret in the state and is not logged), after the install step. */
export type StdinFile = (role: string, o: StdinFileOptions, content: pulumi.Output<string>, secret: boolean) => command.remote.Command;

/** Docker logging and labels of a container whose logs a log shipper picks up (components/logsink). */
export interface ContainerLogSource {
    logDriver: string;
    logOpts: Record<string, string>;
    labels: { label: string; value: string }[];
}

/** The lightweight server as the concerns running on it see it. */
export interface ServerHost {
    /** The component's name (prefix of every child's name) and the component itself (their parent). */
    name: string;
    parent: pulumi.Resource;
    settings: ServerSettings;
    /** app.kubernetes.io/instance of the stack (container labels). */
    instance: string;
    connection: command.types.input.remote.ConnectionArgs;
    step: RemoteStep;
    file: StdinFile;
    engine: docker.Provider;
    /** The bootstrap steps: packages and Docker installed, the host firewall in place. */
    install: command.remote.Command;
    firewall: command.remote.Command;
}

/** A container on the host: {@link hostContainer}'s arguments. */
export interface HostContainerArgs {
    /** The image: a reference pulled as `<server>-<role>` (kept on the host), or an image id already there. */
    image: { pull: string; role: string } | { id: pulumi.Input<string> };
    /** Docker settings but the image and labels. */
    args: Omit<docker.ContainerArgs, "image" | "labels">;
    /** Labels (the recommended ones first), then revisions of the files it reads at start. */
    labels: Record<string, string>;
    revisions?: { label: string; value: pulumi.Input<string> }[];
}

/**
 * Declares `<server>-<role>`: the image (pulled and kept, unless given by id) and the container on the
 * server's Docker engine, both children of the server.
 */
export function hostContainer(host: ServerHost, role: string, c: HostContainerArgs, opts: pulumi.CustomResourceOptions = {}): docker.Container {
    const image =
        "pull" in c.image
            ? new docker.RemoteImage(`${host.name}-${c.image.role}`, { name: c.image.pull, keepLocally: true }, { parent: host.parent, provider: host.engine }).imageId
            : c.image.id;
    return new docker.Container(
        `${host.name}-${role}`,
        {
            ...c.args,
            image,
            labels: [...Object.entries(c.labels).map(([label, value]) => ({ label, value })), ...(c.revisions ?? [])],
        },
        { ...opts, parent: host.parent, provider: host.engine },
    );
}

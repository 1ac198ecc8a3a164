// The collaboration-platform entry point on the server (components/gateway, serverGateway()): pure
// helpers that turn its description into what the server component declares: the container's arguments,
// the request that proves it checks tokens, and the paths the troubleshooting commands use.
import type { RouteSettings } from "../gateway/schema";
import type { ServerGateway } from "../gateway/server";
import { quantityValue } from "../../kit/schema";
import { dockerCapabilities, memoryLimitMiB } from "./container";
import type { SourceContainerArgs } from "../logsink";
import type { GatewayProbe } from "./scripts";

/** Upper bound of the wait for the gateway after a new container: haproxy starts in about a second. */
export const GATEWAY_READY_TIMEOUT_SECONDS = 60;

/** The path collaboration platforms and operators use for Triton's readiness (the default `health` route). */
export const READINESS_PATH = "/v2/health/ready";

/** The first route haproxy picks for a path (first match wins, as in the generated config). */
export function routeFor(routes: readonly RouteSettings[], path: string): RouteSettings | undefined {
    return routes.find((r) => {
        switch (r.match) {
            case "exact":
                return r.path === path;
            case "prefix":
                return path.startsWith(r.path);
            case "regex":
                return new RegExp(r.path).test(path);
        }
    });
}

/** Methods a route accepts (the gateway's defaults per access mode when unset). */
function methodsOf(r: RouteSettings): string[] {
    return r.methods ?? (r.access === "websocket" ? ["GET"] : r.access === "webhook" ? ["POST"] : ["GET", "POST"]);
}

/** A literal path a route matches, when one can be written down (not for regex routes). */
function literalPath(r: RouteSettings, leaf: string): string | undefined {
    if (r.match === "exact") {
        return r.path;
    }
    if (r.match === "prefix") {
        return `${r.path}${r.path.endsWith("/") ? "" : "/"}${leaf}`;
    }
    return undefined;
}

/**
 * The request every public listener must refuse without a token: Triton's readiness path when a
 * non-WebSocket route takes it (the default `health` route), else a literal path of another such route.
 * Refused with 401, it proves haproxy runs, loaded the routes and holds a JWT secret of at least 32
 * bytes (503 otherwise). When every route is a WebSocket or a regex that cannot be probed, the request
 * falls back to a path no route takes and only proves haproxy answers (404).
 */
export function gatewayProbe(routes: readonly RouteSettings[]): GatewayProbe {
    const candidates = [READINESS_PATH, ...routes.filter((r) => r.access !== "websocket").flatMap((r) => literalPath(r, "gateway-probe") ?? [])];
    for (const path of candidates) {
        const route = routeFor(routes, path);
        if (!route || route.access === "websocket") {
            continue;
        }
        const methods = methodsOf(route);
        const method = methods.includes("GET") ? "GET" : methods.includes("POST") ? "POST" : undefined;
        if (method) {
            return { method, path, expectStatus: 401 };
        }
    }
    const fallback = "/triton-platform-gateway-probe";
    // A WebSocket route taking it answers 426 (no Upgrade header) before any token check.
    return { method: "GET", path: fallback, expectStatus: routeFor(routes, fallback) ? 426 : 404 };
}

/** The path of a webhook route that takes R11 envelopes (POST), when the routes have one. */
export function envelopePath(routes: readonly RouteSettings[]): string | undefined {
    for (const r of routes.filter((x) => x.access === "webhook" && methodsOf(x).includes("POST"))) {
        const path = literalPath(r, "test");
        if (path && routeFor(routes, path) === r) {
            return path;
        }
    }
    return undefined;
}

/**
 * Refuses a service port the gateway does not listen on: the firewall opens `modelService.servicePort`
 * (and 80), and the gateway holds 80 and 18789, so they must agree or nothing reaches the gateway.
 */
export function checkGatewayServicePort(servicePort: number, listenPorts: readonly number[]): void {
    if (!listenPorts.includes(servicePort)) {
        throw new Error(
            `modelService.servicePort is ${servicePort}, but the server's gateway listens on ${listenPorts.join(" and ")} (R3, R7): set modelService.servicePort to 18789, or gateway.enabled to false to publish Triton on ${servicePort} itself`,
        );
    }
}

/**
 * Whether the previous rotation period's JWT secret goes onto the server: while its overlap runs
 * (`now` before `acceptedUntilEpoch`, Unix seconds) it is written beside the current one; after it the
 * file is removed, so a secret the gateway no longer accepts does not stay on the disk. The gateway also
 * refuses it after that instant by itself (`date lt <end>` in haproxy.cfg), whether or not an `up` ran.
 */
export function previousJwtFileAction(nowEpochSeconds: number, acceptedUntilEpoch: number): "write" | "remove" {
    return nowEpochSeconds < acceptedUntilEpoch ? "write" : "remove";
}

/** What the gateway container needs besides serverGateway()'s description. */
export interface GatewayContainerOptions {
    /** The log shipper's source options for `entry-point` (its lines are then shipped, R13). */
    source?: SourceContainerArgs;
    /** json-file rotation (`server.logRotation`), when there is no shipper. */
    logRotation: { maxSize: string; maxFiles: number };
    /** `gateway.resources.memoryLimit`, as a quantity. */
    memoryLimit: string;
}

/**
 * The docker.Container arguments of the gateway, except the image and labels: serverGateway()'s container
 * (host network, read-only root, every capability dropped but the three haproxy needs, the secret read
 * from the mounted root-only file, healthcheck, restart policy) with a memory limit and Docker logging
 * the log shipper picks up. Nothing secret: the container has no `envs`.
 */
export function gatewayContainerArgs(gw: ServerGateway, o: GatewayContainerOptions) {
    return {
        ...gw.container,
        // serverGateway() gives plain lists (typed as the provider's Input); Docker's own spelling avoids refresh drift.
        capabilities: dockerCapabilities((gw.container.capabilities ?? {}) as { drops?: string[]; adds?: string[] }),
        ...memoryLimitMiB(Math.floor(quantityValue(o.memoryLimit) / 2 ** 20)),
        logDriver: "json-file",
        logOpts: o.source ? o.source.logOpts : { "max-size": o.logRotation.maxSize, "max-file": String(o.logRotation.maxFiles) },
    };
}

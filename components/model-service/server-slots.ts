// Blue-green on the lightweight server (R16): two Triton slots on separate loopback ports behind the
// gateway's haproxy, which routes to the active one. Pure: server.ts declares the containers and
// runs the switch script as a remote step; tests call these directly.
//
// haproxy.cfg keeps sending Triton's routes to 127.0.0.1:<Triton's HTTP port> (8000), as before slots;
// that address is now the slot router, a frontend in a second file (slots.cfg) whose backend holds both
// slots, the idle one in maintenance. A switch writes slots.cfg (what haproxy reads when it starts) and
// changes the two servers' states in the running haproxy through its admin socket: no reload, no new
// process, open connections untouched; each request after it goes to the new slot. Anything else on the
// server that reaches Triton at 127.0.0.1:8000 (the dialogue service, the operator's `tritonDirect`)
// follows the switch too.
import { otherSlot, SlotName, SLOT_NAMES } from "../../kit/slots";
import { shq } from "../server/scripts";
import { CONTAINER_NAME } from "./server-plan";
import { TRITON_READY_PATH } from "./workload";

/** How far each slot's loopback ports are from Triton's own (8000/8002 stay the router's). */
export const SLOT_PORT_OFFSET: Record<SlotName, number> = { blue: 100, green: 200 };

/** Where a slot's Triton publishes its HTTP and metrics ports on 127.0.0.1 (blue 8100/8102, green 8200/8202). */
export function slotPorts(slot: SlotName, triton: { http: number; metrics: number }): { http: number; metrics: number } {
    const offset = SLOT_PORT_OFFSET[slot];
    return { http: triton.http + offset, metrics: triton.metrics + offset };
}

/**
 * Refuses Triton ports whose slot ports collide with each other, with the router's (Triton's own) or with
 * another loopback listener of the server (the gateway's statistics port). Pure; throws with the keys to change.
 */
export function checkSlotPorts(triton: { http: number; metrics: number }, others: Record<string, number>): void {
    const used = new Map<number, string>([
        [triton.http, "the slot router (modelService.ports.http)"],
        [triton.metrics, "the slot router (modelService.ports.metrics)"],
    ]);
    for (const [what, port] of Object.entries(others)) {
        used.set(port, what);
    }
    for (const slot of SLOT_NAMES) {
        for (const [kind, port] of Object.entries(slotPorts(slot, triton))) {
            const taken = used.get(port);
            if (taken || port > 65535) {
                throw new Error(
                    `the ${slot} slot's ${kind} port ${port} (modelService.ports.${kind} + ${SLOT_PORT_OFFSET[slot]}) ${port > 65535 ? "is not a port" : `is already taken by ${taken}`}: choose other modelService.ports (or gateway.statsPort)`,
                );
            }
            used.set(port, `the ${slot} slot's ${kind} port`);
        }
    }
}

/** The container of a slot on the server. */
export function slotContainerName(slot: SlotName): string {
    return `${CONTAINER_NAME}-${slot}`;
}

/** File name of the slot router beside haproxy.cfg in the gateway's config folder. */
export const SLOT_ROUTING_FILE = "slots.cfg";
/** Host folder of the gateway's admin socket (root-only): the switch step talks to haproxy there. */
export const GATEWAY_ADMIN_DIR = "/var/lib/triton-platform/gateway-admin";
/** The admin socket's name in that folder. */
export const GATEWAY_ADMIN_SOCKET = "admin.sock";
/** haproxy backends of the slot router: Triton's HTTP port and its metrics port. */
export const SLOT_BACKENDS = { http: "slot_http", metrics: "slot_metrics" } as const;

/** Inputs of {@link slotRoutingConfig}. */
export interface SlotRoutingInput {
    active: SlotName;
    /** The slots that have an image (a container); the active one among them. */
    deployed: readonly SlotName[];
    /** The router's addresses on the loopback: Triton's own ports (haproxy.cfg's upstreams). */
    router: { http: number; metrics: number };
    /** Triton's ports inside the container (the slots publish them at slotPorts()). */
    triton: { http: number; metrics: number };
    /** The admin socket as haproxy sees it (inside the gateway container). */
    adminSocket: string;
}

/**
 * slots.cfg: the slot router (loaded after haproxy.cfg, whose `defaults` it uses) and the admin socket the
 * switch step uses. The idle slot's servers are `disabled` (maintenance), so a haproxy that starts or
 * restarts routes to the active slot. No access log: the public frontend already logs each request once.
 */
export function slotRoutingConfig(input: SlotRoutingInput): string {
    if (!input.deployed.includes(input.active)) {
        throw new Error(`the active slot "${input.active}" has no container on the server: set slots.${input.active}.image`);
    }
    const slots = SLOT_NAMES.filter((s) => input.deployed.includes(s));
    const servers = (port: "http" | "metrics") =>
        slots.map((s) => `    server ${s} 127.0.0.1:${slotPorts(s, input.triton)[port]}${s === input.active ? "" : " disabled"}`);
    return [
        "# Blue-green slots (R16), generated by Pulumi (triton-platform) from activeSlot: edit the definition, not this file.",
        `# Active slot: ${input.active}. The slot-switch step rewrites this file and applies it to the running`,
        "# haproxy through the admin socket (no reload); haproxy reads it again only when it starts.",
        "",
        "frontend slot_router_http",
        `    bind 127.0.0.1:${input.router.http}`,
        "    no log",
        `    default_backend ${SLOT_BACKENDS.http}`,
        "",
        "frontend slot_router_metrics",
        `    bind 127.0.0.1:${input.router.metrics}`,
        "    no log",
        `    default_backend ${SLOT_BACKENDS.metrics}`,
        "",
        `backend ${SLOT_BACKENDS.http}`,
        "    http-reuse always",
        ...servers("http"),
        "",
        `backend ${SLOT_BACKENDS.metrics}`,
        ...servers("metrics"),
        "",
        "# The switch step's way in: haproxy's statistics page with its admin actions, on a unix socket only",
        "# root reaches (0600 in a root-only folder), never on a TCP port.",
        "listen slot_admin",
        `    bind unix@${input.adminSocket} mode 600`,
        "    no log",
        "    stats enable",
        "    stats uri /",
        "    stats admin if TRUE",
        "",
    ].join("\n");
}

/** Inputs of {@link slotSwitchScript}. */
export interface SlotSwitchOptions {
    active: SlotName;
    deployed: readonly SlotName[];
    /** What the idle slot does: `stopped` (docker stop after the switch) or `warm` (kept running). */
    idle: "stopped" | "warm";
    /** Triton's ports inside the container and the router's on the loopback (both Triton's own). */
    triton: { http: number; metrics: number };
    /** Host path of slots.cfg (in the gateway's config folder). */
    routingFile: string;
    /** Host folder and path of the gateway's admin socket. */
    adminDir: string;
    adminSocket: string;
    /** Upper bound of the wait for the new slot's readiness (server.readyTimeoutSeconds). */
    timeoutSeconds: number;
    /** Seconds `docker stop` gives a retired slot to drain (Triton's exit timeout and a margin). */
    stopSeconds: number;
    /** Pause between readiness attempts. @default 2 */
    intervalSeconds?: number;
}

/**
 * The switch (R16): (1) the active slot runs (a stopped one is started) and answers its own
 * /v2/health/ready, or the step fails with its logs and nothing is rerouted; (2) slots.cfg from stdin
 * (atomic); (3) with the gateway running: the new slot's servers to `ready`, then the others' to `maint`,
 * through the admin socket, and checked (the statistics say so, and the router answers ready); (4) the
 * idle slot is stopped (its open requests drain first) or kept running. Idempotent: a second run finds
 * everything in place and says so. Prints `switched the gateway to <slot> at <epoch seconds> (began <epoch
 * seconds>)`: between the two both slots serve (the new one is ready by then).
 */
export function slotSwitchScript(o: SlotSwitchOptions): string {
    if (!o.deployed.includes(o.active)) {
        throw new Error(`the active slot "${o.active}" has no container on the server`);
    }
    const others = SLOT_NAMES.filter((s) => s !== o.active && o.deployed.includes(s));
    const ports = slotPorts(o.active, o.triton);
    const slash = o.routingFile.lastIndexOf("/");
    return `#!/usr/bin/env bash
# Blue-green switch (R16): the active slot serves once it is ready; the other is ${o.idle === "stopped" ? "stopped" : "kept warm"}.
# Generated by Pulumi (triton-platform). Idempotent: a second run changes nothing.
set -euo pipefail
root="\${TRITON_FILES_ROOT:-}"
active=${o.active}
container=${shq(slotContainerName(o.active))}
ready_url=${shq(`http://127.0.0.1:${ports.http}${TRITON_READY_PATH}`)}
router_url=${shq(`http://127.0.0.1:${o.triton.http}${TRITON_READY_PATH}`)}
others=(${others.join(" ")})
routing_dir="$root"${shq(o.routingFile.slice(0, slash))}
routing="$root"${shq(o.routingFile)}
admin_dir="$root"${shq(o.adminDir)}
socket="$root"${shq(o.adminSocket)}
timeout=${o.timeoutSeconds}
interval=${o.intervalSeconds ?? 2}

# 1. The new slot runs and reports ready; until then the gateway keeps sending traffic where it did.
if [[ "$(docker inspect --format '{{.State.Running}}' "$container")" != true ]]; then
  docker start "$container" >/dev/null
  echo "started $container"
fi
SECONDS=0
until curl -fsS -o /dev/null --max-time 5 "$ready_url" 2>/dev/null; do
  if (( SECONDS >= timeout )); then
    {
      echo "slot $active is not ready after \${timeout}s (server.readyTimeoutSeconds): $ready_url; traffic stays where it was."
      echo "Look at: docker logs --tail 100 $container. Last log lines:"
      docker logs --tail 20 "$container" 2>&1 || true
    } >&2
    exit 1
  fi
  sleep "$interval"
done
echo "slot $active ready after \${SECONDS}s: $ready_url"

# 2. What haproxy reads when it starts (the gateway container mounts this folder).
install -d -m 0755 "$routing_dir"
install -d -m 0700 "$admin_dir"
tmp="$(mktemp "$routing_dir/.incoming.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
cat > "$tmp"
[[ -s "$tmp" ]] || { echo "refusing to install an empty $routing: nothing arrived on stdin" >&2; exit 1; }
chmod 0644 "$tmp"
if [[ -f "$routing" ]] && cmp -s "$tmp" "$routing"; then
  echo "$routing unchanged"
else
  mv -f "$tmp" "$routing"
  echo "$routing written (active slot $active)"
fi

# 3. The running gateway: the new slot first, then the others out; no reload, open connections stay.
admin() { # <action> <server> <backend>: haproxy answers with a redirect whose st= says how it went
  local answer
  answer="$(curl -sS -o /dev/null -w '%{redirect_url}' --max-time 10 --unix-socket "$socket" --data "s=$2&action=$1&b=$3" http://gateway/)"
  [[ "$answer" == *"st=DONE"* ]] || { echo "haproxy refused '$1' for $3/$2: \${answer:-no answer}" >&2; return 1; }
}
state_of() { # <backend> <server>: haproxy's status of a server (UP, MAINT, no check, ...)
  curl -fsS --max-time 10 --unix-socket "$socket" 'http://gateway/;csv' | awk -F, -v b="$1" -v s="$2" '$1 == b && $2 == s { print $18 }'
}
if [[ -S "$socket" ]] && curl -fsS -o /dev/null --max-time 10 --unix-socket "$socket" 'http://gateway/;csv'; then
  # Per backend, the new slot in and at once the others out: both serve (both are ready) for a moment only.
  began_at="$(date +%s.%N)"
  for backend in ${Object.values(SLOT_BACKENDS).join(" ")}; do
    admin ready "$active" "$backend"
    for other in "\${others[@]}"; do
      admin maint "$other" "$backend"
    done
  done
  switched_at="$(date +%s.%N)"
  # Verify: haproxy reports the new slot in service and the others in maintenance, and the router answers.
  for backend in ${Object.values(SLOT_BACKENDS).join(" ")}; do
    state="$(state_of "$backend" "$active")"
    [[ -n "$state" && "$state" != MAINT* ]] || { echo "haproxy reports $backend/$active as '$state' after the switch" >&2; exit 1; }
    for other in "\${others[@]}"; do
      state="$(state_of "$backend" "$other")"
      [[ "$state" == MAINT* ]] || { echo "haproxy reports $backend/$other as '$state', not in maintenance, after the switch" >&2; exit 1; }
    done
  done
  curl -fsS -o /dev/null --max-time 10 "$router_url" || { echo "the slot router does not answer $router_url after the switch" >&2; exit 1; }
  echo "switched the gateway to $active at \${switched_at:0:14} (began \${began_at:0:14})"
else
  echo "the gateway is not running (no admin socket at $socket): it routes to $active when it starts"
fi

# 4. The other slot: ${o.idle === "stopped" ? "stopped once it no longer gets requests (open ones drain first)" : "kept running for an instant rollback"}.
for other in "\${others[@]}"; do
  name="${CONTAINER_NAME}-$other"
  running="$(docker inspect --format '{{.State.Running}}' "$name" 2>/dev/null || echo absent)"
${
    o.idle === "stopped"
        ? `  if [[ "$running" == true ]]; then
    docker stop --time ${o.stopSeconds} "$name" >/dev/null
    echo "stopped $name (server.idleSlot: stopped)"
  else
    echo "$name not running (server.idleSlot: stopped)"
  fi`
        : `  if [[ "$running" == false ]]; then
    docker start "$name" >/dev/null
    echo "started $name (server.idleSlot: warm)"
  else
    echo "$name running (server.idleSlot: warm)"
  fi`
}
done
`;
}

/** The slot the gateway does not route to. */
export { otherSlot };

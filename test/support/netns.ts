import { spawnSync } from "child_process";

/** Whether this process can make throw-away network namespaces (`unshare -rn`). */
export const canNamespace = spawnSync("unshare", ["-rn", "true"]).status === 0;

/** Tests that need a throw-away network namespace call this first: without one they fail, never skip. */
export function requireNetns(available: boolean = canNamespace): void {
    if (!available) {
        throw new Error("`unshare -rn` is not available: run the tests as root (as .ci/run does) or enable unprivileged user namespaces");
    }
}

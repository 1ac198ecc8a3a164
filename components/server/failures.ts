// What an operator reads when a remote step fails: the step, the server (user@host:port) and, for the
// failures that happen before any script runs, what to check. The step's own script already says what it
// found (below the minimum, sshd -t rejected the configuration, ...); connection failures come from the
// SSH client and name neither the step's purpose nor, for a host-key mismatch, the host.

/** Where a remote step runs. */
export interface RemoteTarget {
    user: string;
    host: string;
    port: number;
    /** Whether server.hostKey pins the host's key. */
    hostKeyPinned: boolean;
}

const UNREACHABLE = /no route to host|network is unreachable|connection refused|i\/o timeout|connection timed out|no such host|host is down|connection reset/i;

/**
 * The message of a failed remote step, from the errors Pulumi saw (newest first). Names the step and the
 * server, says whether the step ran at all, and what to change when the connection itself failed.
 */
export function remoteStepFailureMessage(step: string, target: RemoteTarget, errors: readonly string[]): string {
    const where = `${target.user}@${target.host}:${target.port}`;
    const error = errors[0] ?? "";
    if (/host key mismatch|key mismatch|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(error)) {
        return (
            `step "${step}" did not run: ${target.host}:${target.port} presented an SSH host key other than the pinned server.hostKey. ` +
            `If the server was rebuilt, pin its new key (ssh-keyscan -t ed25519 -p ${target.port} ${target.host}); otherwise something else answers at this address. Nothing was changed on the server.`
        );
    }
    if (UNREACHABLE.test(error)) {
        return (
            `step "${step}" did not run: ${where} cannot be reached over SSH (${UNREACHABLE.exec(error)?.[0]}). ` +
            `Check server.host and server.sshPort, that sshd runs there, and that this machine's address is allowed (securityGroup.sshCidrs, the provider's own firewall). Nothing was changed on the server.`
        );
    }
    if (/unable to authenticate|no supported methods remain|permission denied/i.test(error)) {
        return (
            `step "${step}" did not run: ${where} refused the SSH key (serverPrivateKey) for user ${target.user}. ` +
            `Check server.user and that the key's public half is in that user's authorized_keys. Nothing was changed on the server.`
        );
    }
    return (
        `step "${step}" failed on ${where}${target.hostKeyPinned ? "" : " (host key not verified: server.hostKey is unset)"}; its own message above says why. ` +
        `The steps before it are in place, no step after it ran, and the next \`pulumi up\` runs it again.`
    );
}

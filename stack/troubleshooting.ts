// R15 troubleshooting commands for the deployed Kubernetes endpoint, exported as a stack output so
// on-call engineers copy them from `pulumi stack output troubleshooting` instead of reconstructing them.
import * as pulumi from "@pulumi/pulumi";

/** The exact kubectl commands for port reachability, auth, resources and logs of the model service on a cluster (the lightweight server's are components/server/container.ts's). */
export function clusterTroubleshootingCommands(args: {
    namespace: string;
    serviceName: pulumi.Input<string>;
    port: number;
    /** The active slot's Deployment, for exec-based checks. */
    activeDeployment: pulumi.Input<string>;
    gpu: boolean;
}): pulumi.Output<Record<string, string>> {
    const { namespace, port, gpu } = args;
    return pulumi.all([args.serviceName, args.activeDeployment]).apply(([svc, deployment]) => {
        const host = `${svc}.${namespace}.svc.cluster.local`;
        const commands: Record<string, string> = {
            // Port reachability (R15: telnet 18789), from inside the cluster and through a port-forward.
            portFromCluster: `kubectl -n ${namespace} run triton-probe --rm -i --restart=Never --image=busybox:1.36 -- telnet ${host} ${port}`,
            portForward: `kubectl -n ${namespace} port-forward svc/${svc} ${port}:${port}`,
            ready: `curl -fsS http://127.0.0.1:${port}/v2/health/ready && echo ready`,
            live: `curl -fsS http://127.0.0.1:${port}/v2/health/live && echo live`,
            // Auth failures: a token's claims and the clock (JWT exp/nbf need NTP-synced clocks).
            verifyToken: "npm run token -- --verify <token>",
            clock: `kubectl -n ${namespace} get nodes -o wide && date -u`,
            // Resources (R15: top, docker stats, nvidia-smi).
            rollout: `kubectl -n ${namespace} rollout status deploy/${deployment}`,
            top: `kubectl -n ${namespace} top pods -l app.kubernetes.io/component=model-server`,
            endpoints: `kubectl -n ${namespace} get endpointslices -l kubernetes.io/service-name=${svc} -o wide`,
            // Logs (R15: journalctl, docker logs).
            logs: `kubectl -n ${namespace} logs -l app.kubernetes.io/component=model-server -c triton --tail=200 --prefix`,
            events: `kubectl -n ${namespace} get events --sort-by=.lastTimestamp`,
        };
        if (gpu) {
            commands.gpu = `kubectl -n ${namespace} exec deploy/${deployment} -c triton -- nvidia-smi`;
        }
        return commands;
    });
}

// One pass over a stack's resources that the Kubernetes stack policies share: workloads, HPAs,
// PDBs, Services and NetworkPolicies with their comparable facts. A resource whose facts are not
// known yet (preview) is left out and its kind is marked incomplete, so a policy never reports
// "nothing selects this" because the selector was merely unknown.
import { PolicyResource } from "@pulumi/policy";
import {
    Autoscaler,
    HPA_TYPES,
    LabelSelector,
    T,
    WORKLOAD_TYPES,
    Workload,
    autoscalerOf,
    namespaceOf,
    scales,
    workloadOf,
} from "./k8s";
import { StackContext } from "./policy";

export interface Pdb {
    r: PolicyResource;
    namespace: string;
    selector: LabelSelector | undefined;
    minAvailable: number | string | undefined;
    maxUnavailable: number | string | undefined;
}

export interface Svc {
    r: PolicyResource;
    namespace: string;
    type: string;
    selector: Record<string, string> | undefined;
    /** Service ports as numbers (targetPort may be a name). */
    ports: { port: number; targetPort: number | string | undefined; nodePort?: number }[];
}

export interface NetPol {
    r: PolicyResource;
    namespace: string;
    podSelector: LabelSelector | undefined;
}

export interface StackView {
    workloads: Workload[];
    hpas: Autoscaler[];
    pdbs: Pdb[];
    services: Svc[];
    netpols: NetPol[];
    /** Kinds of which at least one resource could not be read (unknown during preview). */
    incomplete: Set<"workload" | "hpa" | "pdb" | "service" | "netpol">;
}

export function stackView(ctx: StackContext<unknown>): StackView {
    const view: StackView = { workloads: [], hpas: [], pdbs: [], services: [], netpols: [], incomplete: new Set() };
    for (const r of ctx.resources) {
        if ((WORKLOAD_TYPES as readonly string[]).includes(r.type)) {
            const w = ctx.known(() => workloadOf(r));
            if (w) view.workloads.push(w);
            else view.incomplete.add("workload");
        } else if (HPA_TYPES.includes(r.type)) {
            const h = ctx.known(() => autoscalerOf(r));
            if (h) view.hpas.push(h);
            else view.incomplete.add("hpa");
        } else if (r.type === T.PDB) {
            const p = ctx.known(
                (): Pdb => ({
                    r,
                    namespace: namespaceOf(r.props),
                    selector: r.props.spec?.selector === undefined ? undefined : JSON.parse(JSON.stringify(r.props.spec.selector)),
                    minAvailable: r.props.spec?.minAvailable,
                    maxUnavailable: r.props.spec?.maxUnavailable,
                }),
            );
            if (p) view.pdbs.push(p);
            else view.incomplete.add("pdb");
        } else if (r.type === T.Service) {
            const s = ctx.known(
                (): Svc => ({
                    r,
                    namespace: namespaceOf(r.props),
                    type: r.props.spec?.type ?? "ClusterIP",
                    selector: r.props.spec?.selector === undefined ? undefined : { ...r.props.spec.selector },
                    ports: (r.props.spec?.ports ?? []).map((p: any) => ({ port: p.port, targetPort: p.targetPort, nodePort: p.nodePort })),
                }),
            );
            if (s) view.services.push(s);
            else view.incomplete.add("service");
        } else if (r.type === T.NetworkPolicy) {
            const n = ctx.known(
                (): NetPol => ({
                    r,
                    namespace: namespaceOf(r.props),
                    podSelector: r.props.spec?.podSelector === undefined ? undefined : JSON.parse(JSON.stringify(r.props.spec.podSelector)),
                }),
            );
            if (n) view.netpols.push(n);
            else view.incomplete.add("netpol");
        }
    }
    return view;
}

/** The HPA scaling a workload, if any. */
export function hpaFor(view: StackView, w: Workload): Autoscaler | undefined {
    return view.hpas.find((h) => scales(h, w));
}

/**
 * The fewest pods a workload runs in normal operation: the HPA minimum when autoscaled, else
 * spec.replicas (Kubernetes defaults it to 1).
 */
export function minimumScale(view: StackView, w: Workload): number {
    const hpa = hpaFor(view, w);
    return hpa ? hpa.minReplicas : (w.replicas ?? 1);
}

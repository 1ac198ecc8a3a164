// Where alerts go: the alert route of the definition (monitoring.alertRoute) as pure data,
// in the two forms Alertmanager reads: the spec of a Prometheus Operator AlertmanagerConfig
// (monitoring.coreos.com/v1alpha1, webhook URLs from a Secret), and a plain Alertmanager configuration
// file (plain Prometheus on Kubernetes, the lightweight server), whose webhooks read their URL from a
// file (`url_file`, Alertmanager 0.26 or newer), so the URL is never in the file itself. Tests run
// `amtool check-config` on every generated file and deliver real alerts through it.
import { AlertRouteSettings } from "./schema";

/** Alert severities of the rules (components/observability/rules.ts). */
export const SEVERITIES = ["critical", "warning"] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * Labels a critical alert and the warning it silences must share: the same model served by the same
 * slot of the same namespace. A critical error rate makes the latency warning of that model noise.
 */
export const INHIBIT_EQUAL = ["namespace", "slot", "model"] as const;

/** Name of the route's fallback receiver: it has no integration, so alerts no receiver takes end there. */
export const NULL_RECEIVER = "none";

/** The key of a receiver's URL in the webhook Secret, and its file name under urlFileDirectory. */
export function webhookSecretKey(receiver: string): string {
    return `${receiver}.url`;
}

/** Severity matcher of a receiver's route: exact for one severity, a regex for several. */
function severityMatcher(severities: readonly Severity[]): { name: string; value: string; regex: boolean } {
    const sorted = [...new Set(severities)].sort();
    return sorted.length === 1 ? { name: "severity", value: sorted[0], regex: false } : { name: "severity", value: sorted.join("|"), regex: true };
}

/**
 * A plain Alertmanager configuration (the object that is the YAML file). One child route per receiver,
 * matching its severities, each with `continue` so a critical alert reaches every receiver that takes
 * criticals; anything no receiver takes ends at a receiver with no integration. Criticals inhibit
 * warnings of the same model ({@link INHIBIT_EQUAL}); the source must name a model, so a critical
 * without one (scrape down) silences nothing. Pure.
 */
export function alertmanagerConfig(route: AlertRouteSettings): Record<string, unknown> {
    const timing = { group_wait: route.groupWait, group_interval: route.groupInterval, repeat_interval: route.repeatInterval };
    return {
        route: {
            receiver: NULL_RECEIVER,
            group_by: route.groupBy,
            ...timing,
            routes: route.receivers.map((r) => {
                const m = severityMatcher(r.severities);
                return { receiver: r.name, matchers: [`${m.name}${m.regex ? "=~" : "="}"${m.value}"`], continue: true };
            }),
        },
        inhibit_rules: [
            {
                source_matchers: ['severity="critical"', 'model=~".+"'],
                target_matchers: ['severity="warning"'],
                equal: [...INHIBIT_EQUAL],
            },
        ],
        receivers: [
            { name: NULL_RECEIVER },
            ...route.receivers.map((r) => ({
                name: r.name,
                webhook_configs: [
                    {
                        url_file: `${route.urlFileDirectory.replace(/\/+$/, "")}/${webhookSecretKey(r.name)}`,
                        send_resolved: r.sendResolved,
                        max_alerts: 0,
                    },
                ],
            })),
        ],
    };
}

/**
 * The spec of an AlertmanagerConfig (monitoring.coreos.com/v1alpha1) with the same routing, grouping and
 * inhibition as {@link alertmanagerConfig}; the webhook URLs come from the Secret `secretName` in the
 * same namespace (key {@link webhookSecretKey}). The operator scopes the route and the inhibition to
 * alerts whose `namespace` label is the AlertmanagerConfig's namespace (its default matcher strategy).
 * Pure.
 */
export function alertmanagerConfigSpec(route: AlertRouteSettings, secretName: string): Record<string, unknown> {
    return {
        route: {
            receiver: NULL_RECEIVER,
            groupBy: route.groupBy,
            groupWait: route.groupWait,
            groupInterval: route.groupInterval,
            repeatInterval: route.repeatInterval,
            routes: route.receivers.map((r) => {
                const m = severityMatcher(r.severities);
                return { receiver: r.name, matchers: [{ name: m.name, value: m.value, matchType: m.regex ? "=~" : "=" }], continue: true };
            }),
        },
        inhibitRules: [
            {
                sourceMatch: [
                    { name: "severity", value: "critical", matchType: "=" },
                    { name: "model", value: ".+", matchType: "=~" },
                ],
                targetMatch: [{ name: "severity", value: "warning", matchType: "=" }],
                equal: [...INHIBIT_EQUAL],
            },
        ],
        receivers: [
            { name: NULL_RECEIVER },
            ...route.receivers.map((r) => ({
                name: r.name,
                webhookConfigs: [{ urlSecret: { name: secretName, key: webhookSecretKey(r.name) }, sendResolved: r.sendResolved, maxAlerts: 0 }],
            })),
        ],
    };
}

/** The receivers that get alerts of a severity (for docs and tests). Pure. */
export function receiversFor(route: AlertRouteSettings, severity: Severity): string[] {
    return route.receivers.filter((r) => r.severities.includes(severity)).map((r) => r.name);
}

// What every component knows of the stack it belongs to: its names and the labels it adds.

/** The stack's identity as components see it (the rest of the definition comes as each concern's settings). */
export interface StackScope {
    /** Pulumi project name. */
    project: string;
    /** Pulumi stack name. */
    stack: string;
    /** Namespace of every workload of the stack. */
    namespace: string;
    /** User labels put after the recommended ones. */
    labels: Record<string, string>;
}

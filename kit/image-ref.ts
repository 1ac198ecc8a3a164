// OCI image references, parsed without zod: the policy pack imports this too, and every preview with
// `--policy-pack` waits for the pack to start before the program runs (docs/BENCHMARKS.md).

/** The parts of an OCI image reference. */
export interface ImageRef {
    /** Registry host, e.g. `nvcr.io`; `docker.io` when the reference names none. */
    registry: string;
    /** Repository path without the registry. */
    repository: string;
    tag?: string;
    digest?: string;
}

const IMAGE_REF =
    /^(?:(?<registry>[a-zA-Z0-9.-]+(?::\d+)?)\/)?(?<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;

/** Parses an image reference, or returns undefined when it is not one. */
export function parseImageRef(ref: string): ImageRef | undefined {
    const m = IMAGE_REF.exec(ref);
    if (!m?.groups) {
        return undefined;
    }
    let registry: string | undefined = m.groups.registry;
    let repository = m.groups.repository;
    // "library/busybox" style references have a first segment without a dot or port: not a registry.
    if (registry !== undefined && !/[.:]/.test(registry) && registry !== "localhost") {
        repository = `${registry}/${repository}`;
        registry = undefined;
    }
    return {
        registry: registry ?? "docker.io",
        repository,
        tag: m.groups.tag,
        digest: m.groups.digest,
    };
}

/**
 * Tags that name a moving target rather than a release (compared case-insensitively: registries treat
 * `Latest` and `latest` as different tags, and both move). A tag with no digit at all names no version
 * either (`stable-alpine`, `bookworm`); see isMutableTag.
 */
export const MUTABLE_TAGS = [
    "latest", "stable", "main", "master", "edge", "nightly", "dev", "devel", "develop", "head", "current",
    "release", "lts", "rolling", "beta", "alpha", "canary", "next", "prod", "production", "staging", "test", "testing", "unstable",
] as const;

/** True when a tag is a moving name: one of `mutableTags` (any case), or a tag without any digit. */
export function isMutableTag(tag: string, mutableTags: readonly string[] = MUTABLE_TAGS): boolean {
    const t = tag.toLowerCase();
    return mutableTags.some((m) => m.toLowerCase() === t) || !/[0-9]/.test(t);
}

/**
 * The release an image reference names, for the `app.kubernetes.io/version` label: its tag (also when a
 * digest pins it), else the digest's first 12 hex digits as `sha256-<hex>`, else undefined (no label).
 * Every component labels its workloads through this one function.
 */
export function imageVersion(image: string): string | undefined {
    const ref = parseImageRef(image);
    if (ref?.tag) {
        return ref.tag;
    }
    return ref?.digest ? ref.digest.replace("sha256:", "sha256-").slice(0, 19) : undefined;
}

/**
 * How `docker image inspect` lists an image pulled by this reference: Docker Hub references without
 * `docker.io/` and `library/`; a digest as `repository@digest` (RepoDigests), else `repository:tag`.
 */
export function familiarImageReference(image: string): string {
    const ref = parseImageRef(image);
    if (!ref) {
        throw new Error(`"${image}" is not an image reference`);
    }
    const repository = ref.registry === "docker.io" ? ref.repository.replace(/^library\//, "") : `${ref.registry}/${ref.repository}`;
    return ref.digest ? `${repository}@${ref.digest}` : `${repository}:${ref.tag ?? "latest"}`;
}

/**
 * The tag of an image reference alone: the release name the server gives Triton (its container's
 * TRITON_PLATFORM_RELEASE). Labels use imageVersion(), on both targets.
 */
export function imageTag(image: string): string | undefined {
    return parseImageRef(image)?.tag;
}

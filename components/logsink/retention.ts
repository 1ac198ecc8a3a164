// Retention of shipped logs (logSink.retentionDays): an S3 lifecycle expiration rule on the sink's
// prefix, merged into the bucket's existing lifecycle configuration by a one-shot script. Pure: tests lint
// the script with shellcheck and run it against a real S3 server where one is available.
import { LifecycleRule } from "./config";

/**
 * Environment the retention script reads. None of these is secret: the credentials come from the
 * container's own AWS_* variables (Secret) or from workload identity.
 */
export interface RetentionEnv {
    BUCKET: string;
    S3_ENDPOINT: string;
    /** `path` or `virtual`: S3 addressing style. */
    S3_ADDRESSING_STYLE: "path" | "virtual";
    AWS_REGION: string;
    /** The rule (JSON) to merge; its ID replaces any rule with the same ID. */
    RULE_JSON: string;
    RULE_ID: string;
}

/** The environment of the retention script for one rule. */
export function retentionEnv(args: {
    bucket: string;
    endpoint: string;
    region: string;
    forcePathStyle: boolean;
    rule: LifecycleRule;
}): RetentionEnv {
    return {
        BUCKET: args.bucket,
        S3_ENDPOINT: args.endpoint,
        S3_ADDRESSING_STYLE: args.forcePathStyle ? "path" : "virtual",
        AWS_REGION: args.region,
        RULE_JSON: JSON.stringify(args.rule),
        RULE_ID: args.rule.ID,
    };
}

/**
 * POSIX sh script that merges the rule into the bucket's lifecycle configuration with the aws CLI:
 * reads the current rules except ours (a bucket without a configuration counts as none), appends ours,
 * writes them back and reads them again to check. Other rules on the bucket are kept. Idempotent.
 */
export function retentionScript(): string {
    return `#!/bin/sh
# Applies the log sink's retention: an expiration lifecycle rule on the sink's prefix (triton-platform).
set -eu

work="\${TMPDIR:-/tmp}/retention.$$"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
export HOME="$work"
export AWS_CONFIG_FILE="$work/config"
printf '[default]\\ns3 =\\n    addressing_style = %s\\n' "$S3_ADDRESSING_STYLE" >"$AWS_CONFIG_FILE"

s3api() {
    aws --endpoint-url "$S3_ENDPOINT" --region "$AWS_REGION" s3api "$@"
}

# Rules already on the bucket, ours excluded (it is replaced).
if others=$(s3api get-bucket-lifecycle-configuration --bucket "$BUCKET" \\
    --query "Rules[?ID!='$RULE_ID']" --output json 2>"$work/err"); then
    :
else
    case "$(cat "$work/err")" in
    *NoSuchLifecycleConfiguration*) others="[]" ;;
    *)
        echo "cannot read the lifecycle configuration of bucket $BUCKET:" >&2
        cat "$work/err" >&2
        exit 1
        ;;
    esac
fi

compact=$(printf '%s' "$others" | tr -d ' \\n\\t\\r')
if [ "$compact" = "[]" ] || [ "$compact" = "null" ] || [ -z "$compact" ]; then
    rules="[$RULE_JSON]"
else
    rules="\${compact%]*},$RULE_JSON]"
fi
printf '{"Rules":%s}' "$rules" >"$work/lifecycle.json"
s3api put-bucket-lifecycle-configuration --bucket "$BUCKET" --lifecycle-configuration "file://$work/lifecycle.json"

applied=$(s3api get-bucket-lifecycle-configuration --bucket "$BUCKET" \\
    --query "Rules[?ID=='$RULE_ID'] | length(@)" --output text)
if [ "$applied" != "1" ]; then
    echo "the retention rule $RULE_ID is not on bucket $BUCKET after writing it" >&2
    exit 1
fi
echo "retention rule $RULE_ID applied to s3://$BUCKET"
`;
}

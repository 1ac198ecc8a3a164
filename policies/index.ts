// The policy pack: `pulumi preview --policy-pack policies`. Only wiring: the policies live in their
// own modules (catalog.ts) because constructing a PolicyPack starts the analyzer's gRPC server.
import { PolicyPack } from "@pulumi/policy";
import { PACK_DESCRIPTION, PACK_NAME, policies } from "./catalog";

new PolicyPack(PACK_NAME, {
    description: PACK_DESCRIPTION,
    policies,
});

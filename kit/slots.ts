// The blue-green slots (R16), shared by both targets: Kubernetes (components/model-service) and the
// lightweight server (components/server) read the same `slots` and `activeSlot`, so one definition
// drives a release and a rollback on either.
import { z } from "zod";
import { pinnedImage } from "./schema";

/** The two blue-green slots (R16). */
export const SLOT_NAMES = ["blue", "green"] as const;
export type SlotName = (typeof SLOT_NAMES)[number];

/** Default Triton image: the guide's release (R2), pinned. */
export const DEFAULT_TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:23.12-py3";

export const slotSchema = z.strictObject({
    /** Pinned Triton image for this slot. Unset: the slot is not deployed. */
    image: pinnedImage.optional(),
});

export const slotsSchema = z.strictObject({
    blue: slotSchema.default({ image: DEFAULT_TRITON_IMAGE }),
    green: slotSchema.default({ image: DEFAULT_TRITON_IMAGE }),
});
export type SlotsSettings = z.infer<typeof slotsSchema>;

/** The slot that is not `slot`. */
export function otherSlot(slot: SlotName): SlotName {
    return slot === "blue" ? "green" : "blue";
}

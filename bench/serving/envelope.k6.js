// The signed R11 message of the serving benchmark's k6 scenarios (dialogue.k6.js, webhook.k6.js): a new
// message_id each, signed with HMAC_KEY for PLATFORM as components/envelope signs it.
import crypto from "k6/crypto";

const hex = (n) => {
    let s = "";
    for (let i = 0; i < n; i++) {
        s += Math.floor(Math.random() * 16).toString(16);
    }
    return s;
};
const uuid4 = () => `${hex(8)}-${hex(4)}-4${hex(3)}-${"89ab"[Math.floor(Math.random() * 4)]}${hex(3)}-${hex(12)}`;

/** An R11 message signed as components/envelope signs it: HMAC-SHA256 over the RFC 8785 form (keys sorted). */
export function envelope(session, query) {
    const header = { message_id: uuid4(), platform: __ENV.PLATFORM, timestamp: Date.now() };
    const payload = { context: { history: [] }, query, session_id: session };
    const canonical =
        `{"header":{"message_id":${JSON.stringify(header.message_id)},"platform":${JSON.stringify(header.platform)},"timestamp":${header.timestamp}},` +
        `"payload":{"context":{"history":[]},"query":${JSON.stringify(query)},"session_id":${JSON.stringify(session)}}}`;
    return JSON.stringify({ header, payload, signature: crypto.hmac("sha256", __ENV.HMAC_KEY, canonical, "hex") });
}

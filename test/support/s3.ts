// What the log-sink tests need to talk to a real S3-compatible store (MinIO): a SigV4
// client, just enough for path-style GET/PUT/list. Shared by the integration
// test of the server's shipper against the store and the end-to-end pipeline test.
import * as crypto from "crypto";
import * as http from "http";

/** The store's address and the keys the test gave it. */
export interface S3Target {
    port: number;
    region: string;
    accessKey: string;
    secretKey: string;
}

export interface S3Response {
    status: number;
    body: Buffer;
    headers: http.IncomingHttpHeaders;
}

const sha256 = (data: crypto.BinaryLike) => crypto.createHash("sha256").update(data).digest("hex");
const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac("sha256", key).update(data).digest();

/** A SigV4-signed, path-style request to the store on 127.0.0.1 (`key` is `bucket/object`, or `bucket`). */
export function s3Request(target: S3Target, method: string, key: string, query: Record<string, string> = {}, body = Buffer.alloc(0)): Promise<S3Response> {
    const { port, region, accessKey, secretKey } = target;
    const host = `127.0.0.1:${port}`;
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const date = amzDate.slice(0, 8);
    const uri = `/${key.split("/").map(encodeURIComponent).join("/")}`;
    const q = Object.keys(query)
        .sort()
        .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`)
        .join("&");
    const payload = sha256(body);
    const signed = "host;x-amz-content-sha256;x-amz-date";
    const scope = `${date}/${region}/s3/aws4_request`;
    const canonical = [method, uri, q, `host:${host}\nx-amz-content-sha256:${payload}\nx-amz-date:${amzDate}\n`, signed, payload].join("\n");
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretKey}`, date), region), "s3"), "aws4_request");
    const signature = crypto.createHmac("sha256", signingKey).update(["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonical)].join("\n")).digest("hex");
    return new Promise((resolve, reject) => {
        const req = http.request(
            {
                host: "127.0.0.1",
                port,
                method,
                path: q ? `${uri}?${q}` : uri,
                headers: {
                    "x-amz-date": amzDate,
                    "x-amz-content-sha256": payload,
                    authorization: `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
                    "content-length": body.length,
                },
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
            },
        );
        req.on("error", reject);
        req.end(body);
    });
}

// Starts the dialogue service from DIALOGUE_CONFIG (a JSON file, config.ts) and the secret files it
// names. SIGTERM stops accepting, closes WebSockets with 1001 and lets running answers finish.
import * as fs from "fs";
import { parseReplyUrls, parseRuntimeConfig, readSecretFile } from "./config";
import { DialogueService, jsonLogger } from "./server";
import { ConversationStore, MemoryStore, RedisStore } from "./store";
import { TritonRestClient } from "./triton";

export async function main(configPath = process.env.DIALOGUE_CONFIG): Promise<DialogueService> {
    if (!configPath) {
        throw new Error("DIALOGUE_CONFIG must name the configuration file");
    }
    const config = parseRuntimeConfig(JSON.parse(fs.readFileSync(configPath, "utf8")));
    const s = config.store;
    let store: ConversationStore;
    if (s.kind === "redis") {
        store = new RedisStore({ host: s.host, port: s.port, password: s.passwordFile ? readSecretFile(s.passwordFile) : undefined }, s.keyPrefix);
    } else {
        jsonLogger({ level: "warn", event: "memory_store", detail: "conversation state is kept in this process only: not shared by replicas, lost on restart (development default)" });
        store = new MemoryStore();
    }
    const service = new DialogueService({
        config,
        hmacKey: readSecretFile(config.hmacKeyFile),
        replyUrls: config.replyUrlsFile ? parseReplyUrls(fs.readFileSync(config.replyUrlsFile, "utf8")) : new Map(),
        store,
        model: new TritonRestClient(config.tritonUrl, config.model),
    });
    await service.start();
    let stopping = false;
    const stop = (signal: string) => {
        if (stopping) {
            return;
        }
        stopping = true;
        jsonLogger({ level: "info", event: "stopping", signal });
        void service.stop().then(() => process.exit(0));
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    return service;
}

if (require.main === module) {
    main().catch((e) => {
        jsonLogger({ level: "error", event: "start_failed", detail: (e as Error).message });
        process.exit(1);
    });
}

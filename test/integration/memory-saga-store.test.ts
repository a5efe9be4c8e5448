import { MemorySagaStore } from "../../coordinator/src/store/memory-saga-store.js";
import { sagaStoreContract } from "../support/saga-store-contract.js";

sagaStoreContract("memory", async () => new MemorySagaStore());

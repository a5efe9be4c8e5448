import { MemoryBarrierStore } from "@saga-coordinator/participant-sdk";
import { barrierContract } from "../support/barrier-contract.js";

// A fresh store per case, as one participant process would have.
barrierContract("MemoryBarrierStore", () => new MemoryBarrierStore());

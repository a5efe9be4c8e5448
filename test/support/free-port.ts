// Lives in the test services module; re-exported for the tests that import it from here.
export { freePort } from "../services/src/free-port.js";

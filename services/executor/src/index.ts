export { ExecutorClient } from "./client.js";
export {
  type ExecutorDeps,
  type ExecutorFaults,
  type ExecutorRole,
  type ExecutorSettings,
  startExecutor,
} from "./executor.js";

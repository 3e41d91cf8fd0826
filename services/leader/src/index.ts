export { type Clock, systemClock } from "./clock.js";
export { LEADER_VARIABLES, settingsFromConfig } from "./config.js";
export {
  EQUIVOCATION_INDEX,
  equivocationId,
  equivocationKey,
  listEquivocationEvidence,
} from "./evidence.js";
export {
  type Leader,
  type LeaderDependencies,
  type LeaderSettings,
  leaderSettings,
  type ProducedSlot,
  startLeader,
} from "./leader.js";
export type { ParentReason } from "./private/timing.js";

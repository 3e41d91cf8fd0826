export {
  computeLeaderSchedule,
  LEADER_SCHEDULE_DOMAIN,
  type LeaderSchedule,
  LeaderScheduleCache,
  LeaderScheduleStream,
  leaderCandidates,
  leaderInSchedule,
  leaderScheduleSeed,
} from "./leader.js";
export {
  type ClosedSlot,
  type MembershipAction,
  type MembershipCause,
  type MembershipChange,
  type MembershipDecision,
  type MembershipRefusalReason,
  ProposerSchedule,
  type RecordedUserBlockRef,
  userBlockSlotsRecordedIn,
} from "./proposer.js";
export { feePayerRouteIndex, routeTransaction } from "./routing.js";

export {
  DEFAULT_VOTE_AGGREGATOR_OPTIONS,
  startVoteAggregator,
  type VoteAggregator,
  type VoteAggregatorDeps,
  type VoteAggregatorOptions,
} from "./vote-aggregator.js";

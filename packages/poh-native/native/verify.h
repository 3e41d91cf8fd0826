// Verification of a batch of PoH entries on native threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sha256.h"

namespace poh {

// Entry i follows the hash of entry i - 1 (the start hash for entry 0): it
// hashes num_hashes[i] times, the last of them recording its mixin when it
// has one, and must arrive at hashes[32 i .. 32 i + 32).
struct EntryBatch {
  uint8_t start[kHashBytes];
  std::vector<uint8_t> hashes;
  std::vector<double> num_hashes;
  std::vector<uint8_t> mixins;
  // Entry i's mixin is mixins[mixin_ends[i - 1] .. mixin_ends[i]) (from 0
  // for entry 0); an empty mixin hashes like no mixin.
  std::vector<uint32_t> mixin_ends;

  size_t size() const { return num_hashes.size(); }
};

// The index of the first entry that does not verify, or -1. Spreads the
// entries over up to max_threads threads (the caller's thread included;
// 0 means one per core), never more than the work is worth.
int64_t first_invalid_entry(const EntryBatch& batch, Kernel kernel, unsigned max_threads);

}  // namespace poh

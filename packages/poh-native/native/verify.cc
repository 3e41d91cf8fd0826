#include "verify.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>

namespace poh {

namespace {

// Below this many hashes per thread, starting a thread costs more than the
// share of the work it takes.
constexpr double kMinHashesPerThread = 16384;
// numHashes travels as a JavaScript number: only integers up to 2^53 are exact.
constexpr double kMaxNumHashes = 9007199254740992.0;

bool entry_is_valid(const EntryBatch& batch, size_t index, Kernel kernel) {
  const double num_hashes = batch.num_hashes[index];
  if (!(num_hashes >= 1 && num_hashes <= kMaxNumHashes) || std::floor(num_hashes) != num_hashes) return false;
  const uint8_t* previous = index == 0 ? batch.start : &batch.hashes[kHashBytes * (index - 1)];
  const size_t mixin_begin = index == 0 ? 0 : batch.mixin_ends[index - 1];
  const size_t mixin_length = batch.mixin_ends[index] - mixin_begin;

  uint8_t hash[kHashBytes];
  std::memcpy(hash, previous, kHashBytes);
  const uint64_t count = static_cast<uint64_t>(num_hashes);
  if (mixin_length == 0) {
    hash_chain(kernel, hash, count);
  } else {
    hash_chain(kernel, hash, count - 1);
    hash_mixin(kernel, hash, batch.mixins.data() + mixin_begin, mixin_length);
  }
  return std::memcmp(hash, &batch.hashes[kHashBytes * index], kHashBytes) == 0;
}

unsigned thread_count(const EntryBatch& batch, unsigned max_threads) {
  unsigned threads = max_threads != 0 ? max_threads : std::thread::hardware_concurrency();
  if (threads == 0) threads = 1;
  double total_hashes = 0;
  for (double n : batch.num_hashes) total_hashes += n > 0 ? n : 0;
  const double worth = std::floor(total_hashes / kMinHashesPerThread);
  if (worth < threads) threads = worth < 1 ? 1 : static_cast<unsigned>(worth);
  if (batch.size() < threads) threads = batch.size() == 0 ? 1 : static_cast<unsigned>(batch.size());
  return threads;
}

}  // namespace

int64_t first_invalid_entry(const EntryBatch& batch, Kernel kernel, unsigned max_threads) {
  const size_t count = batch.size();
  // Threads claim entries in ascending order and skip every entry past the
  // lowest invalid one found, so every entry before it is still checked and
  // the answer is the first invalid entry whatever the interleaving.
  std::atomic<size_t> next_entry{0};
  std::atomic<size_t> first_invalid{count};
  auto work = [&]() {
    for (;;) {
      const size_t index = next_entry.fetch_add(1, std::memory_order_relaxed);
      if (index >= count || index >= first_invalid.load(std::memory_order_relaxed)) return;
      if (!entry_is_valid(batch, index, kernel)) {
        size_t seen = first_invalid.load(std::memory_order_relaxed);
        while (index < seen && !first_invalid.compare_exchange_weak(seen, index, std::memory_order_relaxed)) {
        }
      }
    }
  };

  const unsigned threads = thread_count(batch, max_threads);
  std::vector<std::thread> helpers;
  helpers.reserve(threads - 1);
  for (unsigned i = 1; i < threads; i++) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // The system refused a thread: the threads we have do the work.
    }
  }
  work();
  for (std::thread& helper : helpers) helper.join();
  const size_t result = first_invalid.load();
  return result == count ? -1 : static_cast<int64_t>(result);
}

}  // namespace poh

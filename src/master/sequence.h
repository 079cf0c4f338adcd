// Sequencer: a persistent sequence of uint64 ids (needle ids, block group
// ids), reserved from disk in batches so that most ids cost no I/O.
//
// The file holds the *reserved mark*: every id below it may have been handed
// out. Invariants:
//  - an id is handed out only if it is below the mark that is durable on disk
//    (the mark is written with WriteFileAtomic before any id beyond the old
//    mark is returned);
//  - ids are strictly increasing, so never reused, across restarts too: Open
//    continues at the persisted mark, skipping whatever was left unused of the
//    last batch.
// Ids start at 1 (0 is never handed out). The state changes only in Next and
// AtLeast, both deterministic given their inputs and the Env's answers.
//
// File format: one line "<mark> <crc32c of the decimal mark, 8 hex digits>\n";
// a file that does not parse or whose checksum does not match is Corruption
// (a damaged mark could make ids be reused, so it is never guessed at).
//
// Thread-safety: none; the owner serializes calls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/env.h"
#include "common/status.h"

namespace cfs::master {

// The master's two sequences: files in its --dir and their batches.
inline constexpr char kNeedleSequenceFile[] = "needle.seq";
inline constexpr uint64_t kNeedleIdBatch = 10000;
inline constexpr char kBlockGroupSequenceFile[] = "block_group.seq";
inline constexpr uint64_t kBlockGroupIdBatch = 100;

class Sequencer {
 public:
  // Opens the sequence persisted at `path` (the file need not exist yet: a
  // new sequence starts at 1; nothing is written until the first Next).
  // `batch` (>= 1) is how many ids each write to disk reserves.
  // Errors: InvalidArgument for a zero batch or null env; Corruption for a
  // damaged file; the Env's error when the file cannot be read.
  static Result<Sequencer> Open(Env* env, std::string path, uint64_t batch);

  // Hands out `count` (>= 1) consecutive ids and returns the first. When they
  // reach past the reserved mark, first persists a new mark of
  // first + max(count, batch); if that write fails, returns its error and hands
  // out nothing (the next call tries again). NoSpace when the uint64 space is
  // exhausted; InvalidArgument for count 0.
  Result<uint64_t> Next(uint64_t count = 1);

  // Raises the sequence so that every later id is greater than `v` (e.g. a
  // block group id a heartbeat reported that this sequence did not hand out).
  // A no-op when ids are already past `v`. Nothing is written now; the next
  // Next persists a mark past the raised ids before handing any out.
  void AtLeast(uint64_t v);

  // The id the next Next returns.
  uint64_t peek() const { return next_; }
  // The mark persisted on disk: ids below it may have been handed out.
  uint64_t reserved_mark() const { return mark_; }
  uint64_t batch() const { return batch_; }
  const std::string& path() const { return path_; }

 private:
  Sequencer(Env* env, std::string path, uint64_t batch, uint64_t mark)
      : env_(env), path_(std::move(path)), batch_(batch), next_(mark), mark_(mark) {}

  Status Persist(uint64_t mark);

  Env* env_;
  std::string path_;
  uint64_t batch_;
  uint64_t next_;  // next id to hand out; next_ <= mark_ unless AtLeast raised it
  uint64_t mark_;  // durable reserved mark
};

// The text a Sequencer writes for `mark`, and its parser (exposed for tests
// and for tools that inspect a master's directory).
std::string EncodeSequenceMark(uint64_t mark);
Result<uint64_t> DecodeSequenceMark(std::string_view text, const std::string& path);

}  // namespace cfs::master

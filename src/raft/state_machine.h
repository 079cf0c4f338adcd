// What a replicated service implements to run on a Raft group (the master,
// each meta partition). The host calls it only from the group's own thread,
// in log order, so an implementation needs no lock of its own for state that
// only Apply changes.
#pragma once

#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"

namespace cfs::raft {

class StateMachine {
 public:
  virtual ~StateMachine() = default;

  // Applies a committed entry's data. Must be deterministic: every replica
  // gets the same answers from the same log. The answer goes to the
  // proposer (if it is waiting on this node). An error answer is part of the
  // deterministic result (e.g. "exists"), not a failure of the group.
  virtual Result<std::string> Apply(LogIndex index, std::string_view data) = 0;

  // The whole state as of the last applied index. With
  // MultiRaftOptions::fork_snapshots it runs in a forked child process,
  // where only the calling thread exists: it must take no lock that another
  // thread of the parent may hold (a mutex shared with readers, the logger).
  virtual Result<std::string> Snapshot() = 0;

  // Replaces the whole state with a snapshot's. Errors: Corruption.
  virtual Status Restore(std::string_view data) = 0;
};

}  // namespace cfs::raft

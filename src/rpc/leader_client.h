// LeaderClient: calls a service that is replicated on several addresses and
// answered by its leader alone (the masters; a meta partition's replicas).
//
// A call goes first to the address that answered last, then to the others
// in order; a NotLeader answer's hint (an address) is tried next, even one
// not in the list. When every address answered NotLeader, Unavailable or
// Timeout (an election, a restart), it waits (10 ms, doubling to 500 ms)
// and goes round again until the call's deadline. Any other error is the
// service's answer and is returned at once; so is NotLeader without a hint
// from every address (none of them serves it: the caller's list is stale).
//
// A request that timed out may still have been applied: callers retry only
// requests that are safe to repeat (reads, or writes the service
// deduplicates).
//
// Thread-safety: Call may be awaited concurrently from any executor.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <google/protobuf/message.h>

#include "common/status.h"
#include "rpc/channel.h"

namespace cfs::rpc {

struct LeaderClientOptions {
  // One attempt on one address waits at most this long (less if the call's
  // deadline is nearer).
  std::chrono::milliseconds attempt_timeout{3000};
};

class LeaderClient {
 public:
  LeaderClient(ChannelPool& pool, std::vector<std::string> addresses, LeaderClientOptions options = {});

  // Replaces the addresses (a partition moved); the leader is kept if it is
  // still among them.
  void SetAddresses(std::vector<std::string> addresses);
  std::vector<std::string> addresses() const;
  // The address that answered last; empty before any answer.
  std::string leader() const;

  // Sends `req` as `method` and parses the answer into *resp; returns the
  // answer's payload. Errors: the last one seen (InvalidArgument if there is
  // no address).
  asio::awaitable<Result<std::string>> Call(proto::Method method, const google::protobuf::Message& req,
                                            google::protobuf::Message* resp, std::string payload,
                                            std::chrono::milliseconds timeout);

 private:
  // The order to try this round: the leader first, then the rest.
  std::vector<std::string> Order() const;
  void Answered(const std::string& address);

  ChannelPool& pool_;
  const LeaderClientOptions options_;
  mutable std::mutex mu_;
  std::vector<std::string> addresses_;  // guarded by mu_
  std::string leader_;                  // guarded by mu_
};

// Whether a status means "ask another replica or later" rather than an
// answer of the service.
bool IsRetryableRouting(const Status& s);

}  // namespace cfs::rpc

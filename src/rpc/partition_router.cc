#include "rpc/partition_router.h"

#include <algorithm>

#include <fmt/format.h>

namespace cfs::rpc {

namespace {

// A partition's replica addresses, the reported leader first (the
// LeaderClient then keeps whoever answers).
std::vector<std::string> ReplicasLeaderFirst(const proto::MetaPartitionView& p) {
  std::vector<std::string> replicas(p.replicas().begin(), p.replicas().end());
  auto leader = std::find(replicas.begin(), replicas.end(), p.leader());
  if (!p.leader().empty() && leader != replicas.end()) std::rotate(replicas.begin(), leader, leader + 1);
  return replicas;
}

}  // namespace

PartitionRouter::PartitionRouter(ChannelPool& pool, LeaderClient& masters, std::string volume, uint64_t volume_id,
                                 std::chrono::milliseconds timeout)
    : pool_(pool), masters_(masters), volume_(std::move(volume)), volume_id_(volume_id), timeout_(timeout) {}

asio::awaitable<Status> PartitionRouter::Refresh() {
  proto::GetVolumeRequest req;
  req.set_name(volume_);
  req.set_id(volume_id_);
  proto::VolumeView view;
  auto r = co_await masters_.Call(proto::MASTER_GET_VOLUME, req, &view, "", timeout_);
  if (!r.ok()) co_return r.status().WithContext(fmt::format("volume {}", volume_id_ ? std::to_string(volume_id_) : volume_));
  std::lock_guard l(mu_);
  for (const auto& p : view.partitions()) {
    auto it = leaders_.find(p.record().id());
    if (it != leaders_.end()) it->second->SetAddresses(ReplicasLeaderFirst(p));
  }
  view_ = std::move(view);
  co_return Status::OK();
}

proto::VolumeView PartitionRouter::view() const {
  std::lock_guard l(mu_);
  return view_;
}

Result<proto::MetaPartitionRecord> PartitionRouter::Find(uint64_t inode) const {
  std::lock_guard l(mu_);
  for (const auto& p : view_.partitions()) {
    if (inode >= p.record().start() && inode <= p.record().end()) return p.record();
  }
  return Status::NotFound(fmt::format("volume {}: no meta partition holds inode {}", view_.name(), inode));
}

Result<std::shared_ptr<LeaderClient>> PartitionRouter::Leaders(uint64_t partition) {
  std::lock_guard l(mu_);
  auto it = leaders_.find(partition);
  if (it != leaders_.end()) return it->second;
  for (const auto& p : view_.partitions()) {
    if (p.record().id() != partition) continue;
    auto client = std::make_shared<LeaderClient>(pool_, ReplicasLeaderFirst(p));
    leaders_[partition] = client;
    return client;
  }
  return Status::NotFound(fmt::format("volume {}: no meta partition {}", view_.name(), partition));
}

asio::awaitable<Result<std::string>> PartitionRouter::Call(uint64_t partition, proto::Method method,
                                                           const google::protobuf::Message& req,
                                                           google::protobuf::Message* resp) {
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt > 0) {
      if (Status s = co_await Refresh(); !s.ok()) co_return s;
    }
    auto leaders = Leaders(partition);
    if (!leaders.ok()) {
      last = leaders.status();
      continue;
    }
    auto r = co_await (*leaders)->Call(method, req, resp, "", timeout_);
    if (r.ok()) co_return r;
    last = r.status();
    // Stale: no replica serves it (moved), or the partition is unknown there.
    const bool stale = (last.Is(Code::kNotLeader) && last.leader_hint().empty()) || last.Is(Code::kNotFound);
    if (!stale) co_return last;
  }
  co_return last;
}

}  // namespace cfs::rpc

#include "datanode/service.h"

#include <algorithm>
#include <future>

#include <fmt/format.h>

#include "common/crc32c.h"
#include "common/logging.h"
#include "common/replica_placement.h"
#include "common/strings.h"
#include "common/ttl.h"

namespace cfs::datanode {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A replica's error as the primary reports it: "replica ADDR: why". The
// channel already prefixes errors that came from the peer with its address;
// that prefix is not repeated.
Status ReplicaError(const std::string& address, const Status& s) {
  std::string_view why = s.message();
  const std::string own_prefix = address + ": ";
  if (why.starts_with(own_prefix)) why.remove_prefix(own_prefix.size());
  return Status(s.code(), fmt::format("replica {}: {}", address, why), s.leader_hint());
}

asio::awaitable<Status> Forward(std::shared_ptr<rpc::Channel> channel, proto::Method method, std::string message,
                                rpc::OutPayload payload, std::chrono::milliseconds timeout) {
  auto r = co_await channel->Call(method, std::move(message), std::move(payload), timeout);
  if (!r.ok()) co_return ReplicaError(channel->address(), r.status());
  co_return Status::OK();
}

// Results of coroutines run concurrently, gathered on a strand.
// (asio::experimental's ranged parallel_group is avoided: in Boost 1.81 its
// launch goes on touching the group after launching the last operation, which
// on a multi-threaded executor may already have completed the group,
// chriskohlhoff/asio#1630.)
struct FanOut {
  FanOut(const asio::any_io_executor& ex, size_t n)
      : strand(asio::make_strand(ex)), done(strand, SteadyClock::time_point::max()), results(n), remaining(n) {}
  rpc::Strand strand;
  asio::steady_timer done;     // cancelled when the last result is in
  std::vector<Status> results;  // on strand
  size_t remaining;             // on strand

  void Spawn(const asio::any_io_executor& ex, size_t i, asio::awaitable<Status> op, std::shared_ptr<FanOut> self) {
    asio::co_spawn(ex, std::move(op), asio::bind_executor(strand, [self = std::move(self), i](std::exception_ptr e, Status s) {
      self->results[i] = e ? Status::Internal("replica forwarding threw") : std::move(s);
      if (--self->remaining == 0) self->done.cancel();
    }));
  }

  static asio::awaitable<void> Wait(std::shared_ptr<FanOut> self) {
    co_await asio::co_spawn(self->strand, WaitOnStrand(self), asio::use_awaitable);
  }

 private:
  static asio::awaitable<void> WaitOnStrand(std::shared_ptr<FanOut> self) {
    while (self->remaining > 0) co_await self->done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
};

// Never a lambda expression inside a co_await expression: g++ 12 destroys
// such a closure twice (its captures are released twice), so coroutines
// handed to co_spawn here are named functions.
asio::awaitable<Status> VacuumGroup(std::shared_ptr<BlockGroup> group) { co_return group->Vacuum(); }

uint64_t UnixSeconds(Clock* clock) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(clock->WallNow()).count());
}

void FillInfo(const BlockGroupStats& st, const SuperBlock& sb, proto::BlockGroupInfo* info) {
  info->set_id(st.id.value());
  info->set_collection(st.collection);
  info->set_placement(sb.placement.ToString());
  info->set_ttl(sb.ttl.ToString());  // "" when none
  info->set_size_bytes(st.size_bytes);
  info->set_needle_count(st.needle_count);
  info->set_garbage_bytes(st.garbage_bytes);
  info->set_read_only(st.read_only);
  info->set_compaction_revision(st.compaction_revision);
}

}  // namespace

struct DatanodeService::Heartbeats {
  explicit Heartbeats(const asio::any_io_executor& ex)
      : strand(asio::make_strand(ex)), timer(strand), done_future(done.get_future()) {}
  rpc::Strand strand;
  asio::steady_timer timer;            // the wait between heartbeats
  asio::cancellation_signal cancel;    // cancels a heartbeat call in flight
  std::promise<void> done;             // set when the loop has ended
  std::future<void> done_future;
  bool stop_requested = false;         // guarded by the service's hb_mu_
  // On strand:
  bool running = false;
  bool stopping = false;
  bool wake = false;      // send again at once: something changed meanwhile
  bool in_call = false;
  std::string leader;       // the master to try first: the last to accept, unless it failed since
  std::string accepted_by;  // the master that accepted the last heartbeat (for logging changes)
  std::string logged_error;  // the last failure logged, so each is logged once
};

DatanodeService::DatanodeService(Store& store, rpc::ChannelPool& channels, DatanodeServiceOptions options)
    : store_(store),
      channels_(channels),
      options_(std::move(options)),
      disk_pool_(static_cast<size_t>(std::max(1, options_.disk_threads))) {}

DatanodeService::~DatanodeService() {
  Stop();
  disk_pool_.join();
}

void DatanodeService::Register(rpc::Server& server) {
  using namespace proto;
  server.Handle<AllocateBlockGroupRequest, AllocateBlockGroupResponse>(
      DATANODE_ALLOCATE_BLOCK_GROUP,
      [this](AllocateBlockGroupRequest& req, std::string&, const rpc::Call&) { return AllocateBlockGroup(req); });
  server.Handle<WriteRequest, WriteResponse>(
      DATANODE_WRITE,
      [this](WriteRequest& req, std::string& payload, const rpc::Call& call) { return Write(req, payload, call); });
  server.Handle<ReadRequest, ReadResponse>(
      DATANODE_READ, [this](ReadRequest& req, std::string&, const rpc::Call&) { return Read(req); });
  server.Handle<DeleteRequest, DeleteResponse>(
      DATANODE_DELETE, [this](DeleteRequest& req, std::string&, const rpc::Call& call) { return Delete(req, call); });
  server.Handle<SyncRequest, SyncResponse>(
      DATANODE_SYNC, [this](SyncRequest& req, std::string&, const rpc::Call& call) { return Sync(req, call); });
  server.Handle<VacuumRequest, VacuumResponse>(
      DATANODE_VACUUM, [this](VacuumRequest& req, std::string&, const rpc::Call&) { return Vacuum(req); });
  server.Handle<BlockGroupStatusRequest, BlockGroupStatusResponse>(
      DATANODE_BLOCK_GROUP_STATUS,
      [this](BlockGroupStatusRequest& req, std::string&, const rpc::Call&) { return BlockGroupStatus(req); });
}

Result<std::shared_ptr<BlockGroup>> DatanodeService::FindGroup(uint32_t id) const {
  auto bg = store_.Find(BlockGroupId(id));
  if (!bg) return Status::NotFound(fmt::format("block group {} is not on this datanode {}", id, options_.address));
  return bg;
}

std::vector<std::string> DatanodeService::ForwardTargets(
    const google::protobuf::RepeatedPtrField<std::string>& replicas) const {
  std::vector<std::string> targets;
  for (const auto& r : replicas) {
    if (r == options_.address || std::find(targets.begin(), targets.end(), r) != targets.end()) continue;
    targets.push_back(r);
  }
  return targets;
}

std::chrono::milliseconds DatanodeService::ForwardTimeout(const rpc::Call& call) const {
  if (call.deadline == SteadyClock::time_point::max()) return options_.replica_timeout;
  // Leave a margin so that a slow replica fails here, named, before the
  // caller's own deadline passes.
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(call.deadline - SteadyClock::now());
  left -= std::min(left / 10, std::chrono::milliseconds(100));
  return std::clamp(left, std::chrono::milliseconds(1), options_.replica_timeout);
}

asio::awaitable<Status> DatanodeService::ReplicateAndApply(proto::Method method, const std::vector<std::string>& targets,
                                                           const std::string& message, const rpc::OutPayload& payload,
                                                           std::chrono::milliseconds timeout,
                                                           const std::function<Status()>& local) {
  if (targets.empty()) co_return local();
  auto ex = co_await asio::this_coro::executor;
  auto fan = std::make_shared<FanOut>(ex, targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    fan->Spawn(ex, i, Forward(channels_.Get(targets[i]), method, message, payload, timeout), fan);
  }
  // The forwards run on other threads of the executor meanwhile.
  Status local_status = local();
  co_await FanOut::Wait(fan);

  std::vector<const Status*> failed;
  if (!local_status.ok()) failed.push_back(&local_status);
  for (const Status& s : fan->results) {
    if (!s.ok()) failed.push_back(&s);
  }
  if (failed.empty()) co_return Status::OK();
  std::string why = failed[0]->message();
  for (size_t i = 1; i < failed.size(); ++i) why += "; " + failed[i]->message();
  co_return Status(failed[0]->code(), std::move(why));
}

DatanodeService::Handled<proto::AllocateBlockGroupResponse> DatanodeService::AllocateBlockGroup(
    proto::AllocateBlockGroupRequest& req) {
  const uint32_t id = req.block_group();
  // Id 0 is no block group: the master refuses heartbeats listing it.
  if (id == 0) co_return Status::InvalidArgument("allocate block group: id 0 is not a block group id");
  auto placement = ReplicaPlacement::Parse(req.placement());
  if (!placement.ok()) co_return placement.status().WithContext(fmt::format("allocate block group {}", id));
  auto ttl = Ttl::Parse(req.ttl());
  if (!ttl.ok()) co_return ttl.status().WithContext(fmt::format("allocate block group {}", id));
  Status s = store_.AllocateBlockGroup(BlockGroupId(id), req.collection(), *placement, *ttl, req.preallocate_bytes());
  if (!s.ok()) co_return s;
  spdlog::info("datanode {}: allocated block group {} (collection {}, placement {}, ttl {})", options_.address, id,
               Quoted(req.collection()), placement->ToString(), ttl->empty() ? "none" : ttl->ToString());
  TriggerHeartbeat();
  co_return rpc::Answer<proto::AllocateBlockGroupResponse>{};
}

DatanodeService::Handled<proto::WriteResponse> DatanodeService::Write(proto::WriteRequest& req, std::string& payload,
                                                                      const rpc::Call& call) {
  const std::string needle = fmt::format("needle {:x} of block group {}", req.needle_id(), req.block_group());
  if (payload.empty()) {
    co_return Status::InvalidArgument(
        fmt::format("{}: no data (an empty needle would read back as a deletion)", needle));
  }
  const uint32_t actual = crc32c::Value(payload);
  if (actual != req.checksum()) {
    co_return Status::InvalidArgument(fmt::format("{}: checksum mismatch: the request says {:08x}, the data has {:08x}",
                                                  needle, req.checksum(), actual));
  }
  auto bg = FindGroup(req.block_group());
  if (!bg.ok()) co_return bg.status();

  // The replicas are sent these very bytes while they are appended here.
  auto data = std::make_shared<const std::string>(std::move(payload));
  NeedleView n{.cookie = Cookie(req.cookie()), .id = NeedleId(req.needle_id()), .data = *data};
  if (!req.name().empty()) {
    n.flags |= kFlagName;
    n.name = req.name();
  }
  if (!req.mime().empty()) {
    n.flags |= kFlagMime;
    n.mime = req.mime();
  }
  if (!req.ttl().empty()) {
    auto ttl = Ttl::Parse(req.ttl());
    if (!ttl.ok()) co_return ttl.status().WithContext(needle);
    if (!ttl->empty()) {
      n.flags |= kFlagTtl;
      n.ttl = *ttl;
    }
  }
  n.flags |= kFlagLastModified;
  n.last_modified = UnixSeconds(options_.clock);
  // Refuse what no replica could store before sending it anywhere.
  if (auto size = NeedleBodySize(n); !size.ok()) co_return size.status().WithContext(needle);

  const std::vector<std::string> targets = ForwardTargets(req.replicas());
  std::string forwarded;
  if (!targets.empty()) {
    proto::WriteRequest copy = req;
    copy.clear_replicas();
    forwarded = copy.SerializeAsString();
  }
  uint32_t size = 0;
  const bool sync = req.sync();
  BlockGroup& group = **bg;
  const std::function<Status()> local = [&] {
    auto loc = group.Append(n, actual);
    if (!loc.ok()) return loc.status();
    size = loc->size;
    return sync ? group.Sync() : Status::OK();
  };
  Status s = co_await ReplicateAndApply(proto::DATANODE_WRITE, targets, forwarded, data, ForwardTimeout(call), local);
  if (!s.ok()) co_return s;
  rpc::Answer<proto::WriteResponse> answer;
  answer.response.set_size(size);
  co_return std::move(answer);
}

DatanodeService::Handled<proto::ReadResponse> DatanodeService::Read(proto::ReadRequest& req) {
  auto bg = FindGroup(req.block_group());
  if (!bg.ok()) co_return bg.status();
  rpc::Answer<proto::ReadResponse> answer;
  std::string& buffer = answer.payload;
  auto n = (*bg)->Read(NeedleId(req.needle_id()), Cookie(req.cookie()), &buffer);
  if (!n.ok()) co_return n.status();
  auto& resp = answer.response;
  resp.set_checksum(n->checksum);  // raw, also for needles stored with the masked form
  if (n->flags & kFlagName) resp.set_name(std::string(n->name));
  if (n->flags & kFlagMime) resp.set_mime(std::string(n->mime));
  resp.set_last_modified((n->flags & kFlagLastModified) ? n->last_modified : n->append_at_ns / 1'000'000'000);
  // The data of the record that was read is sent out of its buffer: no
  // second buffer, no move.
  const size_t offset = static_cast<size_t>(n->data.data() - buffer.data());
  buffer.resize(offset + n->data.size());
  answer.payload_offset = offset;
  co_return std::move(answer);
}

DatanodeService::Handled<proto::DeleteResponse> DatanodeService::Delete(proto::DeleteRequest& req,
                                                                        const rpc::Call& call) {
  auto bg = FindGroup(req.block_group());
  if (!bg.ok()) co_return bg.status();
  const std::vector<std::string> targets = ForwardTargets(req.replicas());
  std::string forwarded;
  if (!targets.empty()) {
    proto::DeleteRequest copy = req;
    copy.clear_replicas();
    forwarded = copy.SerializeAsString();
  }
  uint32_t size = 0;
  BlockGroup& group = **bg;
  const std::function<Status()> local = [&] {
    auto deleted = group.Delete(NeedleId(req.needle_id()), Cookie(req.cookie()));
    if (!deleted.ok()) return deleted.status();
    size = *deleted;
    return Status::OK();
  };
  Status s = co_await ReplicateAndApply(proto::DATANODE_DELETE, targets, forwarded, {}, ForwardTimeout(call), local);
  if (!s.ok()) co_return s;
  rpc::Answer<proto::DeleteResponse> answer;
  answer.response.set_size(size);
  co_return std::move(answer);
}

DatanodeService::Handled<proto::SyncResponse> DatanodeService::Sync(proto::SyncRequest& req, const rpc::Call& call) {
  auto bg = FindGroup(req.block_group());
  if (!bg.ok()) co_return bg.status();
  const std::vector<std::string> targets = ForwardTargets(req.replicas());
  std::string forwarded;
  if (!targets.empty()) {
    proto::SyncRequest copy = req;
    copy.clear_replicas();
    forwarded = copy.SerializeAsString();
  }
  BlockGroup& group = **bg;
  const std::function<Status()> local = [&] { return group.Sync(); };
  Status s = co_await ReplicateAndApply(proto::DATANODE_SYNC, targets, forwarded, {}, ForwardTimeout(call), local);
  if (!s.ok()) co_return s;
  co_return rpc::Answer<proto::SyncResponse>();
}

DatanodeService::Handled<proto::VacuumResponse> DatanodeService::Vacuum(proto::VacuumRequest& req) {
  auto bg = FindGroup(req.block_group());
  if (!bg.ok()) co_return bg.status();
  std::shared_ptr<BlockGroup> group = *bg;
  const uint64_t before = group->Stats().size_bytes;
  const auto started = SteadyClock::now();
  // Compaction copies the whole group: off the event loop.
  Status s = co_await asio::co_spawn(disk_pool_.get_executor(), VacuumGroup(group), asio::use_awaitable);
  if (!s.ok()) co_return s;
  rpc::Answer<proto::VacuumResponse> answer;
  answer.response.set_size_before(before);
  answer.response.set_size_after(group->Stats().size_bytes);
  spdlog::info("datanode {}: vacuumed block group {}: {} -> {} bytes in {} ms", options_.address, req.block_group(),
               before, answer.response.size_after(),
               std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started).count());
  co_return std::move(answer);
}

DatanodeService::Handled<proto::BlockGroupStatusResponse> DatanodeService::BlockGroupStatus(
    proto::BlockGroupStatusRequest& req) {
  auto bg = FindGroup(req.block_group());
  if (!bg.ok()) co_return bg.status();
  BlockGroupStats st = (*bg)->Stats();
  rpc::Answer<proto::BlockGroupStatusResponse> answer;
  FillInfo(st, (*bg)->superblock(), answer.response.mutable_info());
  answer.response.set_read_only_reason(st.read_only_reason);
  co_return std::move(answer);
}

proto::HeartbeatRequest DatanodeService::ComposeHeartbeat() const {
  proto::HeartbeatRequest req;
  req.set_address(options_.address);
  req.set_data_center(options_.data_center);
  req.set_rack(options_.rack);
  int slots = 0;
  for (const auto& loc : store_.Locations()) slots += loc.max_block_groups;
  req.set_max_block_groups(slots);
  for (const BlockGroupStats& st : store_.BlockGroupStatsAll()) {
    auto bg = store_.Find(st.id);
    if (!bg) continue;  // deleted meanwhile
    FillInfo(st, bg->superblock(), req.add_block_groups());
  }
  return req;
}

HeartbeatStats DatanodeService::heartbeat_stats() const {
  std::lock_guard l(stats_mu_);
  return stats_;
}

void DatanodeService::StartHeartbeats(asio::any_io_executor ex) {
  std::lock_guard l(hb_mu_);
  if (hb_ || options_.masters.empty()) return;
  hb_ = std::make_unique<Heartbeats>(ex);
  Heartbeats* h = hb_.get();
  h->running = true;  // before the loop runs: co_spawn below orders it
  asio::co_spawn(h->strand, HeartbeatLoop(),
                 asio::bind_cancellation_slot(h->cancel.slot(), [this, h](std::exception_ptr e) {
                   if (e) spdlog::debug("datanode {}: heartbeat loop ended by an exception", options_.address);
                   h->done.set_value();
                 }));
}

void DatanodeService::Stop() {
  Heartbeats* h = nullptr;
  {
    std::lock_guard l(hb_mu_);
    if (!hb_ || hb_->stop_requested) return;
    hb_->stop_requested = true;
    h = hb_.get();
  }
  asio::post(h->strand, [h] {
    h->stopping = true;
    h->timer.cancel();
    // Only while the loop awaits a call: a signal emitted after the loop has
    // ended would reach a finished coroutine.
    if (h->running && h->in_call) h->cancel.emit(asio::cancellation_type::terminal);
  });
  const auto limit = options_.master_timeout + std::chrono::seconds(5);
  if (h->done_future.wait_for(limit) != std::future_status::ready) {
    spdlog::error("datanode {}: the heartbeat loop did not end within {} ms (is its executor still running?)",
                  options_.address, limit.count());
  }
}

void DatanodeService::TriggerHeartbeat() {
  std::lock_guard l(hb_mu_);
  if (!hb_) return;
  Heartbeats* h = hb_.get();
  asio::post(h->strand, [h] {
    if (h->stopping) return;
    h->wake = true;
    h->timer.cancel();
  });
}

asio::awaitable<void> DatanodeService::HeartbeatLoop() {
  Heartbeats& h = *hb_;
  struct Ended {
    Heartbeats& h;
    ~Ended() { h.running = false; }
  } ended{h};
  while (!h.stopping) {
    h.wake = false;
    Status s = co_await SendHeartbeat();
    if (h.stopping) break;
    {
      std::lock_guard l(stats_mu_);
      if (s.ok()) {
        stats_.sent++;
        stats_.master = h.leader;
        stats_.last_error.clear();
      } else {
        stats_.failed++;
        stats_.last_error = s.ToString();
      }
    }
    if (s.ok() && !h.logged_error.empty()) {
      spdlog::info("datanode {}: heartbeats reach master {} again", options_.address, h.leader);
      h.logged_error.clear();
    } else if (!s.ok() && s.ToString() != h.logged_error) {
      h.logged_error = s.ToString();
      spdlog::warn("datanode {}: heartbeat failed, retrying every {} ms: {}", options_.address,
                   options_.heartbeat_interval.count(), h.logged_error);
    }
    if (h.wake) continue;
    h.timer.expires_after(options_.heartbeat_interval);
    co_await h.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<Status> DatanodeService::SendHeartbeat() {
  Heartbeats& h = *hb_;
  const proto::HeartbeatRequest req = ComposeHeartbeat();
  // The last master that answered first, then the others in order.
  std::vector<std::string> order;
  if (!h.leader.empty()) order.push_back(h.leader);
  for (const auto& m : options_.masters) {
    if (std::find(order.begin(), order.end(), m) == order.end()) order.push_back(m);
  }
  std::vector<std::string> errors;
  Code first_code = Code::kOk;
  for (size_t i = 0; i < order.size() && !h.stopping; ++i) {
    const std::string address = order[i];
    proto::HeartbeatResponse resp;
    h.in_call = true;
    auto r = co_await channels_.Get(address)->Call(proto::MASTER_HEARTBEAT, req, &resp, "", options_.master_timeout);
    h.in_call = false;
    if (r.ok()) {
      if (h.accepted_by != address) {
        spdlog::info("datanode {}: heartbeats go to master {}", options_.address, address);
        h.accepted_by = address;
      }
      h.leader = address;
      co_return Status::OK();
    }
    const Status& s = r.status();
    if (first_code == Code::kOk) first_code = s.code();
    errors.push_back(s.message());
    // Follow a leader hint next (a master that is not in our list counts too).
    const std::string& hint = s.leader_hint();
    if (s.Is(Code::kNotLeader) && !hint.empty() && std::find(order.begin(), order.end(), hint) == order.end()) {
      order.insert(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, hint);
    } else if (s.Is(Code::kNotLeader) && !hint.empty()) {
      // Known already: try it right after this one if it is still ahead.
      auto it = std::find(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, order.end(), hint);
      if (it != order.end()) std::rotate(order.begin() + static_cast<std::ptrdiff_t>(i) + 1, it, it + 1);
    }
    if (h.leader == address) h.leader.clear();
  }
  if (errors.empty()) co_return Status(Code::kCancelled, "heartbeat: stopping");
  std::string why = "no master accepted the heartbeat: " + errors[0];
  for (size_t i = 1; i < errors.size(); ++i) why += "; " + errors[i];
  co_return Status(first_code, std::move(why));
}

}  // namespace cfs::datanode

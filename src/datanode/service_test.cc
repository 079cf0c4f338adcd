// DatanodeService over real RPC: real Stores in temporary directories, real
// servers on loopback, and a fake master that records heartbeats.
#include "datanode/service.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <optional>
#include <thread>

#include "common/crc32c.h"
#include "rpc/runtime.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace cfs::datanode {
namespace {

using namespace std::chrono_literals;
using rpc::tcp;

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// Polls `pred` for up to `timeout`.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A loopback address with a port nobody listens on now. The service needs
// its address before its server listens (handlers are registered first).
std::string FreeAddress() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return fmt::format("127.0.0.1:{}", a.local_endpoint().port());
}

// Answers MASTER_HEARTBEAT and keeps every request; or, as a follower,
// refuses them with NotLeader and a hint.
class FakeMaster {
 public:
  explicit FakeMaster(asio::any_io_executor ex, std::string leader_hint = "", const std::string& listen = "127.0.0.1:0")
      : server_(ex), hint_(std::move(leader_hint)) {
    server_.Handle<proto::HeartbeatRequest, proto::HeartbeatResponse>(
        proto::MASTER_HEARTBEAT,
        [this](proto::HeartbeatRequest& req, std::string&,
               const rpc::Call&) -> asio::awaitable<Result<rpc::Answer<proto::HeartbeatResponse>>> {
          std::lock_guard l(mu_);
          if (!hint_.empty()) {
            refused_++;
            co_return Status::NotLeader("not the leader", hint_);
          }
          beats_.push_back(req);
          cv_.notify_all();
          co_return rpc::Answer<proto::HeartbeatResponse>{};
        });
    address_ = server_.Listen(listen).value();
  }
  ~FakeMaster() { server_.Stop(); }

  // The first heartbeat at index >= from that satisfies `pred`, waiting up
  // to `timeout` for it.
  std::optional<proto::HeartbeatRequest> WaitFor(const std::function<bool(const proto::HeartbeatRequest&)>& pred,
                                                 std::chrono::milliseconds timeout = 5s, size_t from = 0) {
    std::unique_lock l(mu_);
    std::optional<proto::HeartbeatRequest> found;
    cv_.wait_for(l, timeout, [&] {
      for (size_t i = from; i < beats_.size(); ++i) {
        if (pred(beats_[i])) {
          found = beats_[i];
          return true;
        }
      }
      return false;
    });
    return found;
  }
  size_t count() {
    std::lock_guard l(mu_);
    return beats_.size();
  }
  int refused() {
    std::lock_guard l(mu_);
    return refused_;
  }
  const std::string& address() const { return address_; }

 private:
  rpc::Server server_;
  std::string address_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string hint_;                          // guarded by mu_
  std::vector<proto::HeartbeatRequest> beats_;  // guarded by mu_
  int refused_ = 0;                           // guarded by mu_
};

// One datanode: a store over one directory, its service and server.
struct Node {
  cfs::testing::TempDir dir;
  std::unique_ptr<Store> store;
  std::unique_ptr<rpc::ChannelPool> channels;
  std::unique_ptr<DatanodeService> service;
  std::unique_ptr<rpc::Server> server;
  std::string address;
};

struct WriteArgs {
  uint32_t group = 1;
  uint64_t needle = 1;
  uint32_t cookie = 0x1234;
  std::string data;
  std::vector<std::string> replicas;
  std::optional<uint32_t> checksum;  // default: the data's
  std::string name, mime, ttl;
  bool sync = false;
};

class DatanodeServiceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& n : nodes_) {
      if (n->server) n->server->Stop();
      n->service->Stop();
    }
    masters_.clear();
    client_.CloseAll();
    runtime_.Stop();
  }

  Node& StartNode(DatanodeServiceOptions options = {}, int max_block_groups = 8) {
    auto n = std::make_unique<Node>();
    auto store = Store::Open({{n->dir.path(), max_block_groups}});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    n->store = std::move(*store);
    n->channels = std::make_unique<rpc::ChannelPool>(runtime_.executor());
    n->address = FreeAddress();
    options.address = n->address;
    if (options.data_center.empty()) options.data_center = "dc1";
    if (options.rack.empty()) options.rack = "rack1";
    n->service = std::make_unique<DatanodeService>(*n->store, *n->channels, options);
    n->server = std::make_unique<rpc::Server>(runtime_.executor());
    n->service->Register(*n->server);
    auto bound = n->server->Listen(n->address);
    EXPECT_TRUE(bound.ok()) << bound.status().ToString();
    nodes_.push_back(std::move(n));
    return *nodes_.back();
  }

  FakeMaster& StartMaster(std::string leader_hint = "", const std::string& listen = "127.0.0.1:0") {
    masters_.push_back(std::make_unique<FakeMaster>(runtime_.executor(), std::move(leader_hint), listen));
    return *masters_.back();
  }

  template <typename Resp>
  Result<std::pair<Resp, std::string>> Call(const std::string& address, proto::Method method,
                                            const google::protobuf::Message& req, std::string payload = "") {
    return runtime_.Run([&]() -> asio::awaitable<Result<std::pair<Resp, std::string>>> {
      Resp resp;
      auto r = co_await client_.Get(address)->Call(method, req, &resp, payload, 5s);
      if (!r.ok()) co_return r.status();
      co_return std::make_pair(resp, std::move(*r));
    }());
  }

  Status Allocate(const std::string& address, uint32_t id, std::string placement = "000", std::string ttl = "",
                  std::string collection = "") {
    proto::AllocateBlockGroupRequest req;
    req.set_block_group(id);
    req.set_placement(placement);
    req.set_ttl(ttl);
    req.set_collection(collection);
    return Call<proto::AllocateBlockGroupResponse>(address, proto::DATANODE_ALLOCATE_BLOCK_GROUP, req).status();
  }

  static proto::WriteRequest WriteRequestFor(const WriteArgs& a) {
    proto::WriteRequest req;
    req.set_block_group(a.group);
    req.set_needle_id(a.needle);
    req.set_cookie(a.cookie);
    req.set_checksum(a.checksum.value_or(crc32c::Value(a.data)));
    req.set_name(a.name);
    req.set_mime(a.mime);
    req.set_ttl(a.ttl);
    req.set_sync(a.sync);
    for (const auto& r : a.replicas) req.add_replicas(r);
    return req;
  }

  Result<proto::WriteResponse> Write(const std::string& address, const WriteArgs& a) {
    auto r = Call<proto::WriteResponse>(address, proto::DATANODE_WRITE, WriteRequestFor(a), a.data);
    if (!r.ok()) return r.status();
    return r->first;
  }

  // (response, data)
  Result<std::pair<proto::ReadResponse, std::string>> Read(const std::string& address, uint32_t group, uint64_t needle,
                                                           uint32_t cookie = 0x1234) {
    proto::ReadRequest req;
    req.set_block_group(group);
    req.set_needle_id(needle);
    req.set_cookie(cookie);
    return Call<proto::ReadResponse>(address, proto::DATANODE_READ, req);
  }

  Result<proto::DeleteResponse> Delete(const std::string& address, uint32_t group, uint64_t needle,
                                       std::vector<std::string> replicas = {}, uint32_t cookie = 0x1234) {
    proto::DeleteRequest req;
    req.set_block_group(group);
    req.set_needle_id(needle);
    req.set_cookie(cookie);
    for (const auto& r : replicas) req.add_replicas(r);
    auto r = Call<proto::DeleteResponse>(address, proto::DATANODE_DELETE, req);
    if (!r.ok()) return r.status();
    return r->first;
  }

  Result<proto::BlockGroupStatusResponse> GroupStatus(const std::string& address, uint32_t group) {
    proto::BlockGroupStatusRequest req;
    req.set_block_group(group);
    auto r = Call<proto::BlockGroupStatusResponse>(address, proto::DATANODE_BLOCK_GROUP_STATUS, req);
    if (!r.ok()) return r.status();
    return r->first;
  }

  rpc::Runtime runtime_{2};
  rpc::ChannelPool client_{runtime_.executor()};
  std::vector<std::unique_ptr<FakeMaster>> masters_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(DatanodeServiceTest, AllocateThenWriteAndReadBackThroughRpc) {
  cfs::testing::FakeClock clock;
  DatanodeServiceOptions o;
  o.clock = &clock;
  Node& n = StartNode(o);
  ASSERT_TRUE(Allocate(n.address, 7, "000", "", "photos").ok());

  std::string data(100'000, 'd');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  auto w = Write(n.address, {.group = 7, .needle = 0xabc, .data = data, .name = "cat.jpg", .mime = "image/jpeg"});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_GT(w->size(), data.size());

  auto r = Read(n.address, 7, 0xabc);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->second, data);
  EXPECT_EQ(r->first.checksum(), crc32c::Value(data));
  EXPECT_EQ(r->first.name(), "cat.jpg");
  EXPECT_EQ(r->first.mime(), "image/jpeg");
  EXPECT_EQ(r->first.last_modified(), 1'700'000'000u);

  auto st = GroupStatus(n.address, 7);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->info().id(), 7u);
  EXPECT_EQ(st->info().collection(), "photos");
  EXPECT_EQ(st->info().placement(), "000");
  EXPECT_EQ(st->info().needle_count(), 1u);
  EXPECT_FALSE(st->info().read_only());
}

TEST_F(DatanodeServiceTest, ReadWithAWrongCookieOrMissingNeedleIsNotFound) {
  Node& n = StartNode();
  ASSERT_TRUE(Allocate(n.address, 1).ok());
  ASSERT_TRUE(Write(n.address, {.needle = 5, .data = "hello"}).ok());
  EXPECT_TRUE(Read(n.address, 1, 5, 0x9999).status().Is(Code::kNotFound));
  EXPECT_TRUE(Read(n.address, 1, 6).status().Is(Code::kNotFound));
  auto missing_group = Read(n.address, 2, 5);
  ASSERT_TRUE(missing_group.status().Is(Code::kNotFound));
  EXPECT_TRUE(Contains(missing_group.status().message(), "block group 2 is not on this datanode " + n.address))
      << missing_group.status().ToString();
}

TEST_F(DatanodeServiceTest, AllocateRefusesBadInputDuplicatesAndAFullNode) {
  Node& n = StartNode({}, 2);
  EXPECT_TRUE(Allocate(n.address, 1, "0a1").Is(Code::kInvalidArgument));
  EXPECT_TRUE(Allocate(n.address, 1, "000", "5x").Is(Code::kInvalidArgument));
  EXPECT_TRUE(Allocate(n.address, 0).Is(Code::kInvalidArgument));
  EXPECT_TRUE(Allocate(n.address, 1, "000", "", "a/b").Is(Code::kInvalidArgument));
  ASSERT_TRUE(Allocate(n.address, 1).ok());
  Status dup = Allocate(n.address, 1);
  EXPECT_TRUE(dup.Is(Code::kExists));
  EXPECT_TRUE(Contains(dup.message(), "block group 1 already exists")) << dup.ToString();
  ASSERT_TRUE(Allocate(n.address, 2, "001", "3d").ok());
  Status full = Allocate(n.address, 3);
  EXPECT_TRUE(full.Is(Code::kNoSpace));
  EXPECT_TRUE(Contains(full.message(), "no more free space left")) << full.ToString();
  auto st = GroupStatus(n.address, 2);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->info().placement(), "001");
  EXPECT_EQ(st->info().ttl(), "3d");
}

TEST_F(DatanodeServiceTest, ChecksumMismatchIsRefusedAndNothingIsStored) {
  Node& n = StartNode();
  ASSERT_TRUE(Allocate(n.address, 1).ok());
  const std::string data = "payload bytes";
  const uint32_t good = crc32c::Value(data);
  auto w = Write(n.address, {.needle = 0x2f, .data = data, .checksum = good ^ 1});
  ASSERT_TRUE(w.status().Is(Code::kInvalidArgument)) << w.status().ToString();
  const std::string& msg = w.status().message();
  EXPECT_TRUE(Contains(msg, "needle 2f")) << msg;
  EXPECT_TRUE(Contains(msg, fmt::format("{:08x}", good))) << msg;
  EXPECT_TRUE(Contains(msg, fmt::format("{:08x}", good ^ 1))) << msg;

  EXPECT_TRUE(Read(n.address, 1, 0x2f).status().Is(Code::kNotFound));
  auto st = GroupStatus(n.address, 1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->info().needle_count(), 0u);
  EXPECT_EQ(st->info().size_bytes(), 8u) << "only the superblock";
}

TEST_F(DatanodeServiceTest, ChecksumMismatchIsNotForwardedToReplicas) {
  Node& a = StartNode();
  Node& b = StartNode();
  for (Node* n : {&a, &b}) ASSERT_TRUE(Allocate(n->address, 1).ok());
  const uint64_t before = b.server->Stats().requests;
  auto w = Write(a.address, {.needle = 3, .data = "x", .replicas = {b.address}, .checksum = 0});
  ASSERT_TRUE(w.status().Is(Code::kInvalidArgument));
  EXPECT_EQ(b.server->Stats().requests, before) << "nothing forwarded";
  EXPECT_TRUE(Read(b.address, 1, 3).status().Is(Code::kNotFound));
}

TEST_F(DatanodeServiceTest, EmptyDataIsInvalidArgument) {
  Node& n = StartNode();
  ASSERT_TRUE(Allocate(n.address, 1).ok());
  EXPECT_TRUE(Write(n.address, {.needle = 1, .data = ""}).status().Is(Code::kInvalidArgument));
}

TEST_F(DatanodeServiceTest, WriteWithTwoReplicasLandsOnAllThreeNodes) {
  Node& a = StartNode();
  Node& b = StartNode();
  Node& c = StartNode();
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(Allocate(n->address, 4, "002").ok());
  const std::string data(64 * 1024, 'r');
  // The primary's own address in the list is skipped.
  auto w = Write(a.address, {.group = 4, .needle = 0x77, .data = data, .replicas = {a.address, b.address, c.address},
                             .name = "f", .sync = true});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (Node* n : {&a, &b, &c}) {
    auto r = Read(n->address, 4, 0x77);
    ASSERT_TRUE(r.ok()) << n->address << ": " << r.status().ToString();
    EXPECT_EQ(r->second, data);
    EXPECT_EQ(r->first.name(), "f");
    EXPECT_EQ(n->store->Find(BlockGroupId(4))->Stats().needle_count, 1u) << "stored once on " << n->address;
  }
  EXPECT_EQ(a.server->Stats().requests, 1u + 1u + 1u) << "allocate, write, read: nothing forwarded to itself";
}

TEST_F(DatanodeServiceTest, ManyConcurrentReplicatedWritesAllLandEverywhere) {
  Node& a = StartNode();
  Node& b = StartNode();
  Node& c = StartNode();
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(Allocate(n->address, 1, "002").ok());
  constexpr int kWrites = 64;
  std::vector<std::future<Result<rpc::Response>>> futures;
  for (int i = 1; i <= kWrites; ++i) {
    WriteArgs args{.needle = static_cast<uint64_t>(i), .data = std::string(1000 + i, static_cast<char>('a' + i % 26)),
                   .replicas = {b.address, c.address}};
    futures.push_back(asio::co_spawn(runtime_.executor(),
                                     client_.Get(a.address)->Call(proto::DATANODE_WRITE,
                                                                  WriteRequestFor(args).SerializeAsString(), args.data, 10s),
                                     asio::use_future));
  }
  for (auto& f : futures) {
    auto r = f.get();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  for (Node* n : {&a, &b, &c}) {
    EXPECT_EQ(n->store->Find(BlockGroupId(1))->Stats().needle_count, static_cast<uint64_t>(kWrites)) << n->address;
    for (int i = 1; i <= kWrites; i += 9) {
      auto r = Read(n->address, 1, i);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->second, std::string(1000 + i, static_cast<char>('a' + i % 26)));
    }
  }
}

TEST_F(DatanodeServiceTest, AReplicaThatIsDownFailsTheWriteNamingIt) {
  Node& a = StartNode();
  Node& b = StartNode();
  Node& c = StartNode();
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(Allocate(n->address, 1, "002").ok());
  ASSERT_TRUE(Write(a.address, {.needle = 1, .data = "before", .replicas = {b.address, c.address}}).ok());
  c.server->Stop();

  auto w = Write(a.address, {.needle = 2, .data = "after", .replicas = {b.address, c.address}});
  ASSERT_FALSE(w.ok());
  EXPECT_TRUE(w.status().Is(Code::kUnavailable) || w.status().Is(Code::kTimeout)) << w.status().ToString();
  EXPECT_TRUE(Contains(w.status().message(), "replica " + c.address + ": ")) << w.status().ToString();
  EXPECT_FALSE(Contains(w.status().message(), b.address)) << "the healthy replica is not blamed";
}

TEST_F(DatanodeServiceTest, WriteToAReadOnlyGroupIsRefusedNamingIt) {
  Node& a = StartNode();
  Node& b = StartNode();
  for (Node* n : {&a, &b}) ASSERT_TRUE(Allocate(n->address, 9, "001").ok());

  a.store->Find(BlockGroupId(9))->SetReadOnly("draining");
  auto w = Write(a.address, {.group = 9, .needle = 1, .data = "x"});
  ASSERT_TRUE(w.status().Is(Code::kReadOnly)) << w.status().ToString();
  EXPECT_TRUE(Contains(w.status().message(), "block group 9 is read-only: draining")) << w.status().ToString();

  // A read-only replica fails the primary's write, named.
  a.store->Find(BlockGroupId(9))->ClearReadOnly();
  b.store->Find(BlockGroupId(9))->SetReadOnly("draining");
  w = Write(a.address, {.group = 9, .needle = 2, .data = "y", .replicas = {b.address}});
  ASSERT_TRUE(w.status().Is(Code::kReadOnly)) << w.status().ToString();
  // The client's channel prefixes the primary's address.
  EXPECT_EQ(w.status().message(), a.address + ": replica " + b.address + ": block group 9 is read-only: draining");
}

TEST_F(DatanodeServiceTest, DeleteTombstonesOnEveryReplica) {
  Node& a = StartNode();
  Node& b = StartNode();
  Node& c = StartNode();
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(Allocate(n->address, 1, "002").ok());
  const std::string data(5000, 'z');
  auto w = Write(a.address, {.needle = 0x10, .data = data, .replicas = {b.address, c.address}});
  ASSERT_TRUE(w.ok()) << w.status().ToString();

  auto d = Delete(a.address, 1, 0x10, {b.address, c.address});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->size(), w->size());
  for (Node* n : {&a, &b, &c}) {
    EXPECT_TRUE(Read(n->address, 1, 0x10).status().Is(Code::kNotFound)) << n->address;
  }
  EXPECT_TRUE(Delete(a.address, 1, 0x10).status().Is(Code::kNotFound));
  EXPECT_TRUE(Delete(a.address, 1, 0x10, {}, 0x4321).status().Is(Code::kNotFound));
}

TEST_F(DatanodeServiceTest, SyncReachesEveryReplicaAndFailsNamingOneThatIsDown) {
  Node& a = StartNode();
  Node& b = StartNode();
  Node& c = StartNode();
  for (Node* n : {&a, &b, &c}) ASSERT_TRUE(Allocate(n->address, 1, "002").ok());
  ASSERT_TRUE(Write(a.address, {.needle = 1, .data = "x", .replicas = {b.address, c.address}}).ok());
  auto sync = [&](uint32_t group, std::vector<std::string> replicas) {
    proto::SyncRequest req;
    req.set_block_group(group);
    for (auto& r : replicas) req.add_replicas(r);
    return Call<proto::SyncResponse>(a.address, proto::DATANODE_SYNC, req);
  };
  EXPECT_TRUE(sync(1, {b.address, c.address}).ok());
  EXPECT_TRUE(sync(2, {}).status().Is(Code::kNotFound)) << "no such block group";
  c.server->Stop();
  auto s = sync(1, {b.address, c.address});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "replica " + c.address + ": ")) << s.status().ToString();
}

TEST_F(DatanodeServiceTest, DeleteFailsWhenAReplicaFails) {
  Node& a = StartNode();
  Node& b = StartNode();
  for (Node* n : {&a, &b}) ASSERT_TRUE(Allocate(n->address, 1, "001").ok());
  ASSERT_TRUE(Write(a.address, {.needle = 1, .data = "only on a"}).ok());
  auto d = Delete(a.address, 1, 1, {b.address});
  ASSERT_TRUE(d.status().Is(Code::kNotFound)) << d.status().ToString();
  EXPECT_TRUE(Contains(d.status().message(), "replica " + b.address)) << d.status().ToString();
  EXPECT_TRUE(Read(a.address, 1, 1).status().Is(Code::kNotFound)) << "the primary's tombstone stays";
}

TEST_F(DatanodeServiceTest, VacuumReclaimsDeletedNeedlesAndKeepsTheLiveOnes) {
  Node& n = StartNode();
  ASSERT_TRUE(Allocate(n.address, 1).ok());
  for (uint64_t i = 1; i <= 4; ++i) {
    ASSERT_TRUE(Write(n.address, {.needle = i, .data = std::string(20'000, static_cast<char>('0' + i))}).ok());
  }
  ASSERT_TRUE(Delete(n.address, 1, 2).ok());
  ASSERT_TRUE(Delete(n.address, 1, 3).ok());

  proto::VacuumRequest req;
  req.set_block_group(1);
  auto v = Call<proto::VacuumResponse>(n.address, proto::DATANODE_VACUUM, req);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_LT(v->first.size_after() + 40'000, v->first.size_before());
  for (uint64_t i : {1, 4}) {
    auto r = Read(n.address, 1, i);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->second, std::string(20'000, static_cast<char>('0' + i)));
  }
  EXPECT_TRUE(Read(n.address, 1, 2).status().Is(Code::kNotFound));
  auto st = GroupStatus(n.address, 1);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->info().compaction_revision(), 1u);
  EXPECT_EQ(st->info().size_bytes(), v->first.size_after());

  req.set_block_group(5);
  EXPECT_TRUE(Call<proto::VacuumResponse>(n.address, proto::DATANODE_VACUUM, req).status().Is(Code::kNotFound));
}

TEST_F(DatanodeServiceTest, HeartbeatsReachTheMasterListingEveryBlockGroup) {
  FakeMaster& m = StartMaster();
  DatanodeServiceOptions o;
  o.masters = {m.address()};
  o.heartbeat_interval = 50ms;
  o.data_center = "dc7";
  o.rack = "r3";
  Node& n = StartNode(o, 5);
  ASSERT_TRUE(Allocate(n.address, 1, "001", "3d", "photos").ok());
  ASSERT_TRUE(Allocate(n.address, 2).ok());
  ASSERT_TRUE(Write(n.address, {.group = 2, .needle = 1, .data = std::string(100, 'x')}).ok());
  ASSERT_TRUE(Write(n.address, {.group = 2, .needle = 2, .data = std::string(100, 'y')}).ok());
  ASSERT_TRUE(Delete(n.address, 2, 1).ok());
  n.service->StartHeartbeats(runtime_.executor());

  auto hb = m.WaitFor([](const proto::HeartbeatRequest& r) { return r.block_groups_size() == 2; });
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->address(), n.address);
  EXPECT_EQ(hb->data_center(), "dc7");
  EXPECT_EQ(hb->rack(), "r3");
  EXPECT_EQ(hb->max_block_groups(), 5);
  std::map<uint32_t, proto::BlockGroupInfo> groups;
  for (const auto& g : hb->block_groups()) groups[g.id()] = g;
  ASSERT_EQ(groups.count(1), 1u);
  EXPECT_EQ(groups[1].collection(), "photos");
  EXPECT_EQ(groups[1].placement(), "001");
  EXPECT_EQ(groups[1].ttl(), "3d");
  EXPECT_EQ(groups[1].needle_count(), 0u);
  ASSERT_EQ(groups.count(2), 1u);
  EXPECT_EQ(groups[2].placement(), "000");
  EXPECT_EQ(groups[2].ttl(), "");
  EXPECT_EQ(groups[2].needle_count(), 1u);
  EXPECT_GT(groups[2].garbage_bytes(), 0u);
  EXPECT_GT(groups[2].size_bytes(), 200u);
  EXPECT_FALSE(groups[2].read_only());

  // They keep coming at the interval.
  const size_t seen = m.count();
  EXPECT_TRUE(m.WaitFor([](const proto::HeartbeatRequest&) { return true; }, 5s, seen + 3).has_value());
  EXPECT_TRUE(WaitUntil([&] { return n.service->heartbeat_stats().master == m.address(); }));

  // Stop ends them.
  n.service->Stop();
  const size_t after_stop = m.count();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(m.count(), after_stop);
}

TEST_F(DatanodeServiceTest, AllocateTriggersAHeartbeatPromptly) {
  FakeMaster& m = StartMaster();
  DatanodeServiceOptions o;
  o.masters = {m.address()};
  o.heartbeat_interval = 1h;
  Node& n = StartNode(o);
  n.service->StartHeartbeats(runtime_.executor());
  ASSERT_TRUE(m.WaitFor([](const proto::HeartbeatRequest& r) { return r.block_groups_size() == 0; }).has_value())
      << "one heartbeat at start";

  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(Allocate(n.address, 42).ok());
  auto hb = m.WaitFor([](const proto::HeartbeatRequest& r) { return r.block_groups_size() == 1; }, 3s);
  ASSERT_TRUE(hb.has_value()) << "no heartbeat after the allocation";
  EXPECT_EQ(hb->block_groups(0).id(), 42u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(DatanodeServiceTest, HeartbeatsFollowTheLeaderHint) {
  FakeMaster& leader = StartMaster();
  FakeMaster& follower = StartMaster(leader.address());
  DatanodeServiceOptions o;
  o.masters = {follower.address()};  // the leader is learnt from the hint
  o.heartbeat_interval = 50ms;
  Node& n = StartNode(o);
  n.service->StartHeartbeats(runtime_.executor());
  ASSERT_TRUE(leader.WaitFor([](const proto::HeartbeatRequest&) { return true; }).has_value());
  const int refused = follower.refused();
  EXPECT_GE(refused, 1);
  ASSERT_TRUE(leader.WaitFor([](const proto::HeartbeatRequest&) { return true; }, 5s, leader.count() + 2).has_value());
  EXPECT_EQ(follower.refused(), refused) << "later heartbeats go straight to the leader";
  EXPECT_TRUE(WaitUntil([&] { return n.service->heartbeat_stats().master == leader.address(); }));
}

TEST_F(DatanodeServiceTest, HeartbeatsTryTheNextMasterWhenOneIsDown) {
  FakeMaster& up = StartMaster();
  DatanodeServiceOptions o;
  o.masters = {FreeAddress(), up.address()};
  o.heartbeat_interval = 50ms;
  Node& n = StartNode(o);
  n.service->StartHeartbeats(runtime_.executor());
  ASSERT_TRUE(up.WaitFor([](const proto::HeartbeatRequest&) { return true; }).has_value());
  EXPECT_TRUE(WaitUntil([&] { return n.service->heartbeat_stats().master == up.address(); }))
      << n.service->heartbeat_stats().master;
}

TEST_F(DatanodeServiceTest, HeartbeatFailuresAreCountedAndRetriedUntilTheMasterComesUp) {
  DatanodeServiceOptions o;
  const std::string master = FreeAddress();
  o.masters = {master};
  o.heartbeat_interval = 20ms;
  o.master_timeout = 200ms;
  Node& n = StartNode(o);
  n.service->StartHeartbeats(runtime_.executor());
  ASSERT_TRUE(WaitUntil([&] { return n.service->heartbeat_stats().failed >= 2; }));
  HeartbeatStats st = n.service->heartbeat_stats();
  EXPECT_GE(st.failed, 2u);
  EXPECT_EQ(st.sent, 0u);
  EXPECT_TRUE(Contains(st.last_error, master)) << st.last_error;

  FakeMaster& m = StartMaster("", master);
  ASSERT_TRUE(m.WaitFor([](const proto::HeartbeatRequest&) { return true; }, 10s).has_value());
  EXPECT_TRUE(WaitUntil([&] { return n.service->heartbeat_stats().last_error.empty(); }))
      << n.service->heartbeat_stats().last_error;
}

}  // namespace
}  // namespace cfs::datanode

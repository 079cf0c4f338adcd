// MetaClient against a fake master and a fake metanode over loopback: how it
// routes and what it does while the view is behind the metanodes.
#include "client/meta_client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>

#include "rpc/runtime.h"
#include "rpc/server.h"

namespace cfs::client {
namespace {

using namespace std::chrono_literals;
using rpc::Answer;

// Partition 1 [1, 100] is full. The master lists partition 2 [101, open]
// only from its `late`-th GetVolume on, as between a split's fixing of the
// last partition's end and the master's new map entry.
class SplitWindowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<rpc::Server>(runtime_.executor());
    metanode_ = std::make_unique<rpc::Server>(runtime_.executor());
    auto mn = metanode_->Listen("127.0.0.1:0");
    ASSERT_TRUE(mn.ok());
    mn_address_ = *mn;
    master_->Handle<proto::GetVolumeRequest, proto::VolumeView>(
        proto::MASTER_GET_VOLUME,
        [this](proto::GetVolumeRequest&, std::string&, const rpc::Call&)
            -> asio::awaitable<Result<Answer<proto::VolumeView>>> {
          Answer<proto::VolumeView> a;
          a.response.set_id(1);
          a.response.set_name("v");
          AddPartition(a.response, 1, 1, 100);
          if (++views_ >= late_) AddPartition(a.response, 2, 101, UINT64_MAX);
          co_return a;
        });
    metanode_->Handle<proto::MetaWriteRequest, proto::MetaResponse>(
        proto::METANODE_WRITE,
        [this](proto::MetaWriteRequest& req, std::string&, const rpc::Call&)
            -> asio::awaitable<Result<Answer<proto::MetaResponse>>> {
          Answer<proto::MetaResponse> a;
          const auto& c = req.command();
          if (req.partition() == 1 && (c.has_create() || c.has_create_inode())) {
            a.response.set_code(static_cast<uint32_t>(Code::kNoSpace));
            a.response.set_message("partition 1: no inode ids left");
          } else if (c.has_create_inode()) {
            a.response.mutable_attr()->set_inode(101 + inodes_made_++);
            a.response.mutable_attr()->set_mode(c.create_inode().mode());
          }
          co_return a;  // create_dentry, confirm_link: OK
        });
    metanode_->Handle<proto::MetaReadRequest, proto::MetaResponse>(
        proto::METANODE_READ,
        [](proto::MetaReadRequest& req, std::string&, const rpc::Call&)
            -> asio::awaitable<Result<Answer<proto::MetaResponse>>> {
          Answer<proto::MetaResponse> a;
          if (req.has_get_attr()) {  // the root, for a create across partitions
            a.response.mutable_attr()->set_inode(req.get_attr().inode());
            a.response.mutable_attr()->set_mode(S_IFDIR | 0755);
          }
          co_return a;
        });
    auto m = master_->Listen("127.0.0.1:0");
    ASSERT_TRUE(m.ok());
    master_address_ = *m;
  }

  void TearDown() override {
    master_->Stop();
    metanode_->Stop();
    runtime_.Stop();
  }

  void AddPartition(proto::VolumeView& v, uint64_t id, uint64_t start, uint64_t end) {
    auto* p = v.add_partitions();
    p->mutable_record()->set_id(id);
    p->mutable_record()->set_volume(1);
    p->mutable_record()->set_start(start);
    p->mutable_record()->set_end(end);
    p->mutable_record()->add_peers(1);
    p->add_replicas(mn_address_);
    p->set_leader(mn_address_);
  }

  Result<proto::InodeAttr> CreateFile(MetaClient& c, std::string name) {
    return runtime_.Run([&]() -> asio::awaitable<Result<proto::InodeAttr>> {
      co_return co_await c.Create(kRootInode, name, S_IFREG | 0644, proto::Caller());
    }());
  }

  std::unique_ptr<MetaClient> Client(std::chrono::milliseconds timeout) {
    MetaClientOptions o;
    o.masters = {master_address_};
    o.volume = "v";
    o.timeout = timeout;
    auto c = std::make_unique<MetaClient>(pool_, o);
    EXPECT_TRUE(runtime_.Run(c->Open()).ok());
    return c;
  }

  rpc::Runtime runtime_{2};
  rpc::ChannelPool pool_{runtime_.executor()};
  std::unique_ptr<rpc::Server> master_, metanode_;
  std::string master_address_, mn_address_;
  std::atomic<int> views_{0};
  int late_ = 4;
  std::atomic<uint64_t> inodes_made_{0};
};

TEST_F(SplitWindowTest, CreatesWaitForTheNewPartitionInsteadOfFailing) {
  auto c = Client(10s);
  // Open took view 1; the create's NoSpace and then views 2, 3 lack
  // partition 2; view 4 has it.
  auto a = CreateFile(*c, "a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->inode(), 101u);
  EXPECT_GE(views_.load(), 4);
  // Later creates go straight to partition 2.
  const int views = views_;
  auto b = CreateFile(*c, "b");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->inode(), 102u);
  EXPECT_EQ(views_.load(), views);
}

TEST_F(SplitWindowTest, NoSpaceOnlyAfterTheTimeout) {
  late_ = 1 << 30;  // the master never lists partition 2
  auto c = Client(300ms);
  const auto start = std::chrono::steady_clock::now();
  auto a = CreateFile(*c, "a");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Code::kNoSpace) << a.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);  // it waited, then gave up
  EXPECT_GE(views_.load(), 3);
}

}  // namespace
}  // namespace cfs::client

// Directory delegations: DelegateOp, BatchOp, and what other clients get.
#include <gtest/gtest.h>

#include "metanode/partition_test_util.h"
#include "metanode/read.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;

class DelegationTest : public PartitionTest {
 protected:
  proto::MetaResponse Delegate(uint64_t dir, uint32_t reserve) {
    return Run([&](proto::MetaCommand& c) {
      c.mutable_delegate()->set_dir(dir);
      c.mutable_delegate()->set_reserve_inodes(reserve);
    });
  }
  // A create of `name` in `dir` with the reserved id `inode`, for a batch.
  proto::MetaCommand CreateWithId(uint64_t dir, const std::string& name, uint64_t inode) {
    proto::MetaCommand c;
    *c.mutable_caller() = caller_;
    auto* op = c.mutable_create();
    op->set_parent(dir);
    op->set_name(name);
    op->set_mode(S_IFREG | 0644);
    op->set_inode(inode);
    return c;
  }
  proto::MetaCommand UnlinkCommand(uint64_t dir, const std::string& name) {
    proto::MetaCommand c;
    *c.mutable_caller() = caller_;
    c.mutable_unlink()->set_parent(dir);
    c.mutable_unlink()->set_name(name);
    return c;
  }
  proto::MetaResponse Batch(uint64_t dir, std::vector<proto::MetaCommand> commands, bool give_back = false) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_batch();
      op->set_dir(dir);
      for (auto& cmd : commands) *op->add_commands() = std::move(cmd);
      op->set_give_back(give_back);
    });
  }
  proto::MetaResponse LookupAs(uint64_t client, uint64_t dir, const std::string& name) {
    proto::MetaReadRequest req;
    req.set_client_id(client);
    req.mutable_lookup()->set_parent(dir);
    req.mutable_lookup()->set_name(name);
    return ExecuteRead(*p_, req, now_);
  }
};

TEST_F(DelegationTest, HolderCreatesAndUnlinksByBatchWithReservedIds) {
  const uint64_t d = Dir(1, "d");
  auto g = Delegate(d, 8);
  ASSERT_EQ(g.code(), 0u) << g.message();
  EXPECT_EQ(g.delegation().client_id(), client_);
  EXPECT_EQ(g.delegation().end_inode() - g.delegation().first_inode(), 8u);
  EXPECT_EQ(g.attr().inode(), d);
  const uint64_t first = g.delegation().first_inode();
  // The reserved ids are given out: an ordinary create takes the next one.
  EXPECT_EQ(File(1, "other"), g.delegation().end_inode());

  std::vector<proto::MetaCommand> cmds;
  cmds.push_back(CreateWithId(d, "a", first));
  cmds.push_back(CreateWithId(d, "b", first + 1));
  cmds.push_back(UnlinkCommand(d, "a"));
  cmds.push_back(CreateWithId(d, "b", first + 2));  // exists: its own error, the rest applied
  auto r = Batch(d, std::move(cmds));
  ASSERT_EQ(r.code(), 0u) << r.message();
  ASSERT_EQ(r.results_size(), 4);
  EXPECT_EQ(r.results(0).code(), 0u);
  EXPECT_EQ(r.results(0).attr().inode(), first);
  EXPECT_EQ(r.results(1).attr().inode(), first + 1);
  EXPECT_EQ(r.results(2).code(), 0u);
  EXPECT_EQ(CodeOf(r.results(3)), Code::kExists);
  EXPECT_TRUE(r.has_delegation());  // renewed
  // A new file's data commits in the batch that creates it.
  std::vector<proto::MetaCommand> more;
  more.push_back(CreateWithId(d, "c", first + 3));
  proto::MetaCommand append;
  *append.mutable_caller() = caller_;
  append.mutable_append_extents()->set_inode(first + 3);
  append.mutable_append_extents()->set_size(4096);
  more.push_back(append);
  auto m = Batch(d, std::move(more));
  ASSERT_EQ(m.results_size(), 2);
  EXPECT_EQ(m.results(1).code(), 0u) << m.results(1).message();
  EXPECT_EQ(Attr(first + 3).size(), 4096u);
  EXPECT_EQ(Find(d, "a"), 0u);
  EXPECT_EQ(Find(d, "b"), first + 1);
  ASSERT_EQ(r.dirs_size(), 1);
  EXPECT_EQ(r.dirs(0).inode(), d);
}

TEST_F(DelegationTest, OtherClientsAreRefusedUntilGivenBackOrExpired) {
  const uint64_t d = Dir(1, "d");
  const uint64_t sub = Dir(d, "sub");
  File(d, "f");
  ASSERT_EQ(Delegate(d, 4).code(), 0u);
  const uint64_t holder = client_;

  // Another client: every change of d, and its lookups and listings of d.
  client_ = 7;
  auto refused = [&](const proto::MetaResponse& r, int line = __builtin_LINE()) {
    SCOPED_TRACE(line);
    EXPECT_EQ(CodeOf(r), Code::kDelegated) << r.message();
    EXPECT_EQ(r.delegation().client_id(), holder);
    EXPECT_EQ(r.delegation().dir(), d);
  };
  refused(Create(d, "x", S_IFREG | 0644));
  refused(Unlink(d, "f"));
  refused(Rename(d, "f", 1, "g"));
  File(1, "other");
  refused(Rename(1, "other", d, "g"));
  refused(Unlink(1, "d", /*rmdir=*/true));
  refused(SetAttr(d, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0700); }));
  EXPECT_EQ(CodeOf(Delegate(d, 1)), Code::kBusy);
  refused(LookupAs(7, d, "f"));
  {
    proto::MetaReadRequest req;
    req.set_client_id(7);
    req.mutable_read_dir()->set_parent(d);
    refused(ExecuteRead(*p_, req, now_));
  }
  // Not the directory itself: its subdirectory, its files by inode.
  EXPECT_EQ(Create(sub, "y", S_IFREG | 0644).code(), 0u);
  EXPECT_EQ(LookupAs(holder, d, "f").code(), 0u);
  // A refused command is not remembered: the same seq applies once free.
  seq_ = 99;  // Run adds one: seq 100
  refused(Create(d, "x", S_IFREG | 0644));
  // The holder gives it back.
  client_ = holder;
  ASSERT_EQ(Batch(d, {}, /*give_back=*/true).code(), 0u);
  client_ = 7;
  seq_ = 99;  // Run adds one: seq 100 again
  EXPECT_EQ(Create(d, "x", S_IFREG | 0644).code(), 0u);

  // Expiry: a delegation not renewed within the ttl ends by itself.
  client_ = holder;
  seq_ = 200;  // past the seqs either client used
  ASSERT_EQ(Delegate(d, 0).code(), 0u);
  client_ = 7;
  refused(Unlink(d, "x"));
  now_ += Options().delegation_ttl.count() + 1;
  EXPECT_EQ(LookupAs(7, d, "x").code(), 0u);
  EXPECT_EQ(Unlink(d, "x").code(), 0u);
}

TEST_F(DelegationTest, HoldersOwnCommandsOutsideABatchAreRefusedToo) {
  // Its local view of the directory must not miss a change: it gives the
  // delegation back first.
  const uint64_t d = Dir(1, "d");
  ASSERT_EQ(Delegate(d, 1).code(), 0u);
  auto r = Create(d, "x", S_IFDIR | 0755);
  EXPECT_EQ(CodeOf(r), Code::kDelegated);
  EXPECT_EQ(r.delegation().client_id(), client_);
}

TEST_F(DelegationTest, ReservedIdsAreCheckedAndBatchesHoldOnlyCreatesAndUnlinks) {
  const uint64_t d = Dir(1, "d");
  auto g = Delegate(d, 2);
  ASSERT_EQ(g.code(), 0u);
  std::vector<proto::MetaCommand> cmds;
  cmds.push_back(CreateWithId(d, "in-use", d));                         // taken
  cmds.push_back(CreateWithId(d, "future", g.delegation().end_inode() + 5));  // not given out
  auto r = Batch(d, std::move(cmds));
  ASSERT_EQ(r.results_size(), 2);
  EXPECT_EQ(CodeOf(r.results(0)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(r.results(1)), Code::kInvalidArgument);

  proto::MetaCommand link;  // only creates, unlinks and commits of data
  link.mutable_link()->set_inode(d);
  std::vector<proto::MetaCommand> bad;
  bad.push_back(link);
  EXPECT_EQ(CodeOf(Batch(d, std::move(bad))), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Delegate(d, 70000)), Code::kInvalidArgument);
  client_ = 0;
  EXPECT_EQ(CodeOf(Delegate(d, 1)), Code::kInvalidArgument);
}

TEST_F(DelegationTest, DelegationNeedsWriteAccessAndALiveDirectory) {
  const uint64_t d = Dir(1, "d");
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(Delegate(f, 1)), Code::kNotDirectory);
  EXPECT_EQ(CodeOf(Delegate(999, 1)), Code::kNotFound);
  caller_ = testing::User(1000, 1000);
  EXPECT_EQ(CodeOf(Delegate(d, 1)), Code::kPermissionDenied);
}

TEST_F(DelegationTest, DelegationsAreInSnapshotsAndListedForTheirHolder) {
  const uint64_t d = Dir(1, "d");
  const uint64_t e = Dir(1, "e");
  ASSERT_EQ(Delegate(d, 3).code(), 0u);
  ASSERT_EQ(Delegate(e, 0).code(), 0u);
  auto snap = p_->Snapshot();
  ASSERT_TRUE(snap.ok());
  Partition restored(Options());
  ASSERT_TRUE(restored.Restore(*snap).ok());
  EXPECT_EQ(*restored.Snapshot(), *snap);
  ASSERT_NE(restored.DelegationOf(InodeId(d), now_), nullptr);
  EXPECT_EQ(restored.DelegationOf(InodeId(d), now_)->client_id(), client_);
  EXPECT_EQ(restored.DelegatedTo(client_, now_), (std::vector<uint64_t>{d, e}));
  EXPECT_TRUE(restored.DelegatedTo(7, now_).empty());
  proto::MetaReadRequest req;
  req.set_client_id(client_);
  req.mutable_delegations();
  EXPECT_EQ(ExecuteRead(restored, req, now_).recalled_size(), 2);
  // Expired ones go at the leader's ExpireOp.
  now_ += Options().delegation_ttl.count() + 1;
  Run([](proto::MetaCommand& c) { c.mutable_expire(); });
  EXPECT_EQ(p_->DelegationOf(InodeId(d), 0), nullptr);
}

}  // namespace
}  // namespace cfs::metanode

#include "metanode/extents.h"
#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;

using AppendExtentsTest = PartitionTest;

TEST_F(AppendExtentsTest, WritesGrowTheFileAndOverwritesQueueHiddenNeedles) {
  const uint64_t f = File(1, "f");
  now_ += 4;
  proto::MetaResponse r = Append(f, 0, 4096, 1);
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().size(), 4096u);
  EXPECT_EQ(r.attr().mtime_ns(), now_);
  EXPECT_EQ(r.attr().blocks(), 8u);
  Append(f, 4096, 4096, 2);
  Append(f, 0, 8192, 3);  // rewrites both
  auto extents = *p_->GetExtents(InodeId(f));
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].needle_id, 3u);
  auto pending = p_->PendingDeletions(10);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].extent().needle_id(), 1u);
  EXPECT_EQ(pending[1].extent().needle_id(), 2u);
  EXPECT_LT(pending[0].seq(), pending[1].seq());
  // The datanodes deleted the first: the queue moves on.
  Run([&](proto::MetaCommand& c) { c.mutable_deletion_done()->set_through(pending[0].seq()); });
  ASSERT_EQ(p_->PendingDeletions(10).size(), 1u);
  EXPECT_EQ(p_->PendingDeletions(10)[0].extent().needle_id(), 2u);
}

TEST_F(AppendExtentsTest, TheAnswerHoldsTheVisibleExtentsOfAFileOfFew) {
  const uint64_t f = File(1, "f");
  Append(f, 0, 4096, 1);
  proto::MetaResponse r = Append(f, 2048, 4096, 2);  // over the second half of the first
  ASSERT_EQ(r.code(), 0u) << r.message();
  ASSERT_EQ(r.extent_count(), 2u);
  auto visible = *p_->GetExtents(InodeId(f));
  ASSERT_EQ(r.extents_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(r.extents(i).file_offset(), visible[static_cast<size_t>(i)].file_offset) << i;
    EXPECT_EQ(r.extents(i).length(), visible[static_cast<size_t>(i)].length) << i;
    EXPECT_EQ(r.extents(i).needle_id(), visible[static_cast<size_t>(i)].needle_id) << i;
  }
  EXPECT_EQ(r.extents(0).length(), 2048u);
  // Past 16 visible extents: the count only.
  for (uint64_t i = 0; i < 16; ++i) r = Append(f, 8192 + i * 8192, 4096, 10 + i);
  EXPECT_EQ(r.extent_count(), 18u);
  EXPECT_EQ(r.extents_size(), 0);
}

// A client's merge of a fragmented file: applied over the list it read,
// keeping times and size; refused once anything changed the list.
TEST_F(AppendExtentsTest, RewriteLandsOnlyOnTheListItWasReadFrom) {
  const uint64_t f = File(1, "f");
  for (uint64_t i = 0; i < 8; ++i) Append(f, i * 100, 100, 10 + i);
  proto::MetaResponse last = Append(f, 0, 50, 30);
  EXPECT_EQ(last.extent_count(), 9u);
  const proto::InodeAttr before = Attr(f);
  auto digest = [&] { return DigestOf(*p_->GetExtents(InodeId(f))); };
  auto rewrite = [&](uint64_t with_digest, uint64_t needle) {
    now_ += 7;
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_append_extents();
      op->set_inode(f);
      op->set_size(800);
      op->set_rewrite(true);
      op->set_rewrite_digest(with_digest);
      auto* e = op->add_extents();
      e->set_file_offset(0);
      e->set_length(800);
      e->set_block_group(3);
      e->set_needle_id(needle);
      e->set_needle_size(800);
    });
  };
  const uint64_t read = digest();
  Append(f, 700, 10, 40);  // another writer, after the rewrite's read
  EXPECT_EQ(CodeOf(rewrite(read, 50)), Code::kAborted);
  EXPECT_EQ(p_->GetExtents(InodeId(f))->size(), 10u) << "the refused rewrite changed nothing";
  const proto::InodeAttr now = Attr(f);
  proto::MetaResponse r = rewrite(digest(), 51);
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.extent_count(), 1u);
  EXPECT_EQ(Attr(f).mtime_ns(), now.mtime_ns()) << "a merge is not a change of the data";
  EXPECT_EQ(Attr(f).ctime_ns(), now.ctime_ns());
  EXPECT_EQ(Attr(f).size(), before.size());
  // Every needle it replaced is queued for deletion.
  EXPECT_EQ(p_->PendingDeletions(100).size(), 10u);
  // Past the end is refused: a merge does not grow the file.
  const uint64_t d = digest();
  r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_append_extents();
    op->set_inode(f);
    op->set_rewrite(true);
    op->set_rewrite_digest(d);
    auto* e = op->add_extents();
    e->set_file_offset(700);
    e->set_length(200);
    e->set_block_group(3);
    e->set_needle_id(52);
    e->set_needle_size(200);
  });
  EXPECT_EQ(CodeOf(r), Code::kInvalidArgument);
}

TEST_F(AppendExtentsTest, SizeMayBeSetPastTheLastExtent) {
  const uint64_t f = File(1, "f");
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_append_extents();
    op->set_inode(f);
    op->set_size(10'000);
  });
  EXPECT_EQ(r.attr().size(), 10'000u);
  r = Append(f, 0, 10, 4);
  EXPECT_EQ(r.attr().size(), 10'000u) << "a write inside the file does not shrink it";
}

TEST_F(AppendExtentsTest, BadExtentsAndNonFilesAreRefusedAndChangeNothing) {
  const uint64_t f = File(1, "f");
  Append(f, 0, 10, 1);
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_append_extents();
    op->set_inode(f);
    auto* good = op->add_extents();
    good->set_file_offset(0);
    good->set_length(10);
    good->set_block_group(1);
    good->set_needle_id(2);
    good->set_needle_size(10);
    auto* bad = op->add_extents();
    bad->set_file_offset(10);
    bad->set_length(10);
    bad->set_block_group(1);
    bad->set_needle_id(3);
    bad->set_needle_size(5);  // shorter than the extent
  });
  EXPECT_EQ(CodeOf(r), Code::kInvalidArgument);
  EXPECT_NE(r.message().find(fmt::format("inode {}", f)), std::string::npos) << r.message();
  auto extents = *p_->GetExtents(InodeId(f));
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].needle_id, 1u);
  EXPECT_EQ(CodeOf(Append(Dir(1, "d"), 0, 10, 9)), Code::kIsDirectory);
  EXPECT_EQ(CodeOf(Append(999, 0, 10, 9)), Code::kNotFound);
}

}  // namespace
}  // namespace cfs::metanode

#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::User;

constexpr uint32_t kNoReplace = 1;
constexpr uint32_t kExchange = 2;

using RenameTest = PartitionTest;

TEST_F(RenameTest, MovesAFileToANewNameAndParent) {
  const uint64_t f = File(1, "a");
  const uint64_t d = Dir(1, "d");
  now_ += 7;
  ASSERT_EQ(Rename(1, "a", d, "b").code(), 0u);
  EXPECT_EQ(Find(1, "a"), 0u);
  EXPECT_EQ(Find(d, "b"), f);
  EXPECT_EQ(Attr(f).ctime_ns(), now_);
  EXPECT_EQ(Attr(1).mtime_ns(), now_);
  EXPECT_EQ(Attr(d).mtime_ns(), now_);
  EXPECT_EQ(CodeOf(Rename(1, "a", d, "c")), Code::kNotFound);
}

TEST_F(RenameTest, OverAnExistingFileReplacesItAndFreesIt) {
  const uint64_t a = File(1, "a");
  const uint64_t b = File(1, "b");
  Append(b, 0, 10, 9);
  ASSERT_EQ(Rename(1, "a", 1, "b").code(), 0u);
  EXPECT_EQ(Find(1, "b"), a);
  EXPECT_EQ(Find(1, "a"), 0u);
  EXPECT_FALSE(Exists(b));
  EXPECT_EQ(p_->PendingDeletions(10).size(), 1u);
}

TEST_F(RenameTest, DirectoryReplacesOnlyAnEmptyDirectory) {
  const uint64_t src = Dir(1, "src");
  const uint64_t full = Dir(1, "full");
  File(full, "x");
  const uint64_t empty = Dir(1, "empty");
  File(1, "file");
  EXPECT_EQ(CodeOf(Rename(1, "src", 1, "full")), Code::kNotEmpty);
  EXPECT_EQ(CodeOf(Rename(1, "src", 1, "file")), Code::kNotDirectory);
  EXPECT_EQ(CodeOf(Rename(1, "file", 1, "empty")), Code::kIsDirectory);
  EXPECT_EQ(Attr(1).nlink(), 5u);
  ASSERT_EQ(Rename(1, "src", 1, "empty").code(), 0u);
  EXPECT_EQ(Find(1, "empty"), src);
  EXPECT_FALSE(Exists(empty));
  EXPECT_EQ(Attr(1).nlink(), 4u) << "one subdirectory fewer";
}

TEST_F(RenameTest, DirectoryMovingParentsCarriesItsLinkAndParent) {
  const uint64_t a = Dir(1, "a");
  const uint64_t b = Dir(1, "b");
  const uint64_t sub = Dir(a, "sub");
  EXPECT_EQ(Attr(a).nlink(), 3u);
  ASSERT_EQ(Rename(a, "sub", b, "sub").code(), 0u);
  EXPECT_EQ(Attr(a).nlink(), 2u);
  EXPECT_EQ(Attr(b).nlink(), 3u);
  EXPECT_EQ(Attr(sub).parent(), b);
}

TEST_F(RenameTest, DirectoryIntoItsOwnSubtreeIsRefused) {
  const uint64_t a = Dir(1, "a");
  const uint64_t b = Dir(a, "b");
  const uint64_t c = Dir(b, "c");
  EXPECT_EQ(CodeOf(Rename(1, "a", c, "a")), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Rename(1, "a", a, "self")), Code::kInvalidArgument);
  EXPECT_EQ(Find(1, "a"), a);
  // Sideways and upwards are fine.
  ASSERT_EQ(Rename(b, "c", 1, "c").code(), 0u);
  EXPECT_EQ(Attr(c).parent(), 1u);
}

TEST_F(RenameTest, OntoAnotherLinkOfTheSameFileDoesNothing) {
  const uint64_t f = File(1, "a");
  Link(f, 1, "b");
  ASSERT_EQ(Rename(1, "a", 1, "b").code(), 0u);
  EXPECT_EQ(Find(1, "a"), f);
  EXPECT_EQ(Find(1, "b"), f);
  EXPECT_EQ(Attr(f).nlink(), 2u);
  ASSERT_EQ(Rename(1, "a", 1, "a").code(), 0u);
  EXPECT_EQ(Find(1, "a"), f);
}

TEST_F(RenameTest, NoReplaceRefusesAnExistingTarget) {
  const uint64_t a = File(1, "a");
  const uint64_t b = File(1, "b");
  EXPECT_EQ(CodeOf(Rename(1, "a", 1, "b", kNoReplace)), Code::kExists);
  EXPECT_EQ(Find(1, "b"), b);
  ASSERT_EQ(Rename(1, "a", 1, "c", kNoReplace).code(), 0u);
  EXPECT_EQ(Find(1, "c"), a);
}

TEST_F(RenameTest, ExchangeSwapsTwoEntriesAndTheirDirectoryLinks) {
  const uint64_t d1 = Dir(1, "d1");
  const uint64_t d2 = Dir(1, "d2");
  const uint64_t f = File(d1, "f");
  const uint64_t sub = Dir(d2, "sub");
  EXPECT_EQ(CodeOf(Rename(d1, "f", d2, "missing", kExchange)), Code::kNotFound);
  ASSERT_EQ(Rename(d1, "f", d2, "sub", kExchange).code(), 0u);
  EXPECT_EQ(Find(d1, "f"), sub);
  EXPECT_EQ(Find(d2, "sub"), f);
  EXPECT_EQ(Attr(d1).nlink(), 3u) << "gained the directory";
  EXPECT_EQ(Attr(d2).nlink(), 2u) << "lost it";
  EXPECT_EQ(Attr(sub).parent(), d1);
  EXPECT_TRUE(Exists(f));
  EXPECT_EQ(CodeOf(Rename(d1, "f", d2, "sub", kExchange | kNoReplace)), Code::kInvalidArgument);
}

TEST_F(RenameTest, BadNamesAndMissingParentsAreRefused) {
  File(1, "a");
  EXPECT_EQ(CodeOf(Rename(1, "a", 1, std::string(256, 'x'))), Code::kNameTooLong);
  EXPECT_EQ(CodeOf(Rename(1, "a", 1, "..")), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Rename(1, "a", 999, "b")), Code::kNotFound);
  EXPECT_EQ(CodeOf(Rename(1, "a", 5'000'000, "b")), Code::kInvalidArgument) << "parent in another partition";
  EXPECT_EQ(CodeOf(Rename(1, "a", 1, "b", 8)), Code::kInvalidArgument) << "unknown flag";
}

TEST_F(RenameTest, MovingADirectoryToAnotherParentNeedsWriteOnIt) {
  const uint64_t shared = Dir(1, "shared");
  SetAttr(shared, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0777); });
  const uint64_t other = Dir(1, "other");
  SetAttr(other, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0777); });
  const uint64_t ro = Dir(shared, "ro");
  SetAttr(ro, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0555); });
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(Rename(shared, "ro", other, "ro")), Code::kPermissionDenied);
  EXPECT_EQ(Rename(shared, "ro", shared, "renamed").code(), 0u) << "same parent: '..' does not change";
}

}  // namespace
}  // namespace cfs::metanode

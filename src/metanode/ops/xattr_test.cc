#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::User;


class XattrOps : public PartitionTest {
 protected:
  proto::MetaResponse Set(uint64_t ino, const std::string& name, const std::string& value, uint32_t flags = 0) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_set_xattr();
      op->set_inode(ino);
      op->set_name(name);
      op->set_value(value);
      op->set_flags(flags);
    });
  }
  proto::MetaResponse Remove(uint64_t ino, const std::string& name) {
    return Run([&](proto::MetaCommand& c) {
      c.mutable_remove_xattr()->set_inode(ino);
      c.mutable_remove_xattr()->set_name(name);
    });
  }
};

TEST_F(XattrOps, SetGetListAndRemove) {
  const uint64_t f = File(1, "f");
  ASSERT_EQ(Set(f, "user.b", "2").code(), 0u);
  ASSERT_EQ(Set(f, "user.a", "1").code(), 0u);
  EXPECT_EQ(*p_->GetXattr(InodeId(f), "user.a"), "1");
  EXPECT_EQ(*p_->ListXattr(InodeId(f)), (std::vector<std::string>{"user.a", "user.b"}));
  ASSERT_EQ(Set(f, "user.a", "one").code(), 0u);
  EXPECT_EQ(*p_->GetXattr(InodeId(f), "user.a"), "one");
  ASSERT_EQ(Remove(f, "user.a").code(), 0u);
  EXPECT_TRUE(p_->GetXattr(InodeId(f), "user.a").status().Is(Code::kNoAttribute));
  EXPECT_EQ(CodeOf(Remove(f, "user.a")), Code::kNoAttribute);
}

TEST_F(XattrOps, CreateAndReplaceFlags) {
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(Set(f, "user.x", "v", /*XATTR_REPLACE=*/2)), Code::kNoAttribute);
  EXPECT_EQ(Set(f, "user.x", "v", /*XATTR_CREATE=*/1).code(), 0u);
  EXPECT_EQ(CodeOf(Set(f, "user.x", "w", 1)), Code::kExists);
  EXPECT_EQ(Set(f, "user.x", "w", 2).code(), 0u);
  EXPECT_EQ(*p_->GetXattr(InodeId(f), "user.x"), "w");
  EXPECT_EQ(CodeOf(Set(f, "user.x", "w", 4)), Code::kInvalidArgument);
}

TEST_F(XattrOps, LimitsOnNamesValuesAndTotals) {
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(Set(f, "", "v")), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Set(f, "user." + std::string(251, 'n'), "v")), Code::kNameTooLong);
  EXPECT_EQ(Set(f, "user." + std::string(250, 'n'), "v").code(), 0u);
  EXPECT_EQ(CodeOf(Set(f, "user.big", std::string(kMaxXattrValueBytes + 1, 'v'))), Code::kTooLarge);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Set(f, fmt::format("user.v{}", i), std::string(kMaxXattrValueBytes, 'v')).code(), 0u);
  EXPECT_EQ(CodeOf(Set(f, "user.v3", std::string(kMaxXattrValueBytes, 'v'))), Code::kNoSpace);
}

TEST_F(XattrOps, NamespacesFollowLinuxRules) {
  const uint64_t f = File(1, "f");  // root's, 0644
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(Set(f, "user.x", "v")), Code::kPermissionDenied) << "user.* needs write permission";
  EXPECT_EQ(CodeOf(Set(f, "trusted.x", "v")), Code::kNotPermitted);
  EXPECT_EQ(CodeOf(Set(f, "security.x", "v")), Code::kNotPermitted);
  caller_ = testing::Root();
  EXPECT_EQ(Set(f, "trusted.x", "v").code(), 0u);
  Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create();
    op->set_parent(1);
    op->set_name("ln");
    op->set_mode(S_IFLNK | 0777);
    op->set_symlink_target("f");
  });
  EXPECT_EQ(CodeOf(Set(Find(1, "ln"), "user.x", "v")), Code::kNotPermitted) << "user.* not on symlinks";
}

}  // namespace
}  // namespace cfs::metanode

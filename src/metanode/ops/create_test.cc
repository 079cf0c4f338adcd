#include "metanode/partition_test_util.h"
#include "proto/dir_listing.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::Root;
using testing::User;

using CreateTest = PartitionTest;

TEST_F(CreateTest, RootDirectoryExistsInThePartitionStartingAtOne) {
  proto::InodeAttr root = Attr(1);
  EXPECT_TRUE(S_ISDIR(root.mode()));
  EXPECT_EQ(root.nlink(), 2u);
  EXPECT_EQ(root.ctime_ns(), 1'000);
  PartitionOptions o = Options();
  o.start = InodeId(1'000'001);
  o.end = InodeId(2'000'000);
  Partition second(o);
  EXPECT_TRUE(second.GetAttr(kRootInode).status().Is(Code::kNotFound));
}

TEST_F(CreateTest, CreatesEveryFileTypeAndLooksThemUp) {
  struct Kind {
    const char* name;
    uint32_t mode;
  } kinds[] = {{"file", S_IFREG | 0644}, {"dir", S_IFDIR | 0755}, {"fifo", S_IFIFO | 0600},
               {"sock", S_IFSOCK | 0600}, {"chr", S_IFCHR | 0600},  {"blk", S_IFBLK | 0600}};
  for (const Kind& k : kinds) {
    proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_create();
      op->set_parent(1);
      op->set_name(k.name);
      op->set_mode(k.mode);
      op->set_rdev(0x0801);
    });
    ASSERT_EQ(r.code(), 0u) << k.name << ": " << r.message();
    EXPECT_EQ(r.attr().mode(), k.mode) << k.name;
    EXPECT_EQ(Find(1, k.name), r.attr().inode()) << k.name;
    EXPECT_EQ(r.attr().atime_ns(), now_);
  }
  EXPECT_EQ(Attr(Find(1, "chr")).rdev(), 0x0801u);
  EXPECT_EQ(Attr(Find(1, "file")).rdev(), 0u);
  EXPECT_EQ(Attr(Find(1, "file")).nlink(), 1u);
  EXPECT_EQ(Attr(Find(1, "dir")).nlink(), 2u);
  EXPECT_EQ(Attr(Find(1, "dir")).parent(), 1u);
  EXPECT_EQ(Attr(1).nlink(), 3u) << "the subdirectory's '..' links the root";
  EXPECT_EQ(Attr(1).mtime_ns(), now_);
}

// An inode whose dentry goes to a set-group-ID directory of another
// partition takes that directory's group, and a directory the bit.
TEST_F(CreateTest, InodeForASetGidParentElsewhereTakesItsGroup) {
  caller_ = User(1000, 1000);
  auto made = [&](uint32_t mode, bool setgid) {
    return Run([&](proto::MetaCommand& c) {
      auto* op = c.mutable_create_inode();
      op->set_mode(mode);
      op->set_parent(7'000'000);
      op->set_name("x");
      op->set_parent_setgid(setgid);
      op->set_parent_gid(4321);
    });
  };
  proto::MetaResponse d = made(S_IFDIR | 0755, true);
  ASSERT_EQ(d.code(), 0u) << d.message();
  EXPECT_EQ(d.attr().gid(), 4321u);
  EXPECT_TRUE(d.attr().mode() & S_ISGID);
  proto::MetaResponse f = made(S_IFREG | 0644, true);
  EXPECT_EQ(f.attr().gid(), 4321u);
  EXPECT_FALSE(f.attr().mode() & S_ISGID);
  proto::MetaResponse plain = made(S_IFDIR | 0755, false);
  EXPECT_EQ(plain.attr().gid(), 1000u);
  EXPECT_FALSE(plain.attr().mode() & S_ISGID);
}

TEST_F(CreateTest, SymlinkKeepsItsTargetAndSize) {
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create();
    op->set_parent(1);
    op->set_name("ln");
    op->set_mode(S_IFLNK | 0777);
    op->set_symlink_target("../some/where");
  });
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().size(), 13u);
  EXPECT_EQ(*p_->ReadLink(InodeId(r.attr().inode())), "../some/where");
  EXPECT_TRUE(p_->ReadLink(kRootInode).status().Is(Code::kInvalidArgument));
  r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create();
    op->set_parent(1);
    op->set_name("empty");
    op->set_mode(S_IFLNK | 0777);
  });
  EXPECT_EQ(CodeOf(r), Code::kInvalidArgument);
}

TEST_F(CreateTest, NamesOf255BytesAreFineAnd256AreTooLong) {
  EXPECT_NE(File(1, std::string(255, 'a')), 0u);
  EXPECT_EQ(CodeOf(Create(1, std::string(256, 'b'), S_IFREG | 0644)), Code::kNameTooLong);
  EXPECT_TRUE(p_->Lookup(kRootInode, std::string(256, 'b'), Root()).status().Is(Code::kNameTooLong));
  EXPECT_EQ(CodeOf(Create(1, "", S_IFREG | 0644)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Create(1, ".", S_IFREG | 0644)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Create(1, "..", S_IFREG | 0644)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Create(1, "a/b", S_IFREG | 0644)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Create(1, std::string("a\0b", 3), S_IFREG | 0644)), Code::kInvalidArgument);
}

// Names are bytes: one that is not UTF-8 goes through the log's encoding,
// errors quoting it, and snapshots.
TEST_F(CreateTest, NameThatIsNotUtf8RoundTripsThroughTheLogAndSnapshots) {
  const std::string name = "caf\xe9-\xff\xfe";
  proto::MetaCommand c;
  c.set_client_id(1);
  c.set_seq(1);
  c.mutable_create()->set_parent(1);
  c.mutable_create()->set_name(name);
  c.mutable_create()->set_mode(S_IFREG | 0644);
  auto answer = p_->Apply(LogIndex(1), c.SerializeAsString());
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  proto::MetaResponse r;
  ASSERT_TRUE(r.ParseFromString(*answer));
  ASSERT_EQ(r.code(), 0u) << r.message();
  c.set_seq(2);
  answer = p_->Apply(LogIndex(2), c.SerializeAsString());
  ASSERT_TRUE(r.ParseFromString(*answer)) << "an error message quoting the name parses too";
  EXPECT_EQ(CodeOf(r), Code::kExists);
  Partition restored(Options());
  ASSERT_TRUE(restored.Restore(*p_->Snapshot()).ok());
  EXPECT_TRUE(restored.Lookup(kRootInode, name, Root()).ok());
  proto::MetaResponse listing;
  ASSERT_TRUE(restored.ReadDir(kRootInode, "", 10, false, Root(), &listing).ok());
  ASSERT_EQ(listing.entries_size(), 1);
  EXPECT_EQ(listing.entries(0).name(), name);
}

TEST_F(CreateTest, ExistingNameMissingParentAndFileParentAreRefused) {
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(Create(1, "f", S_IFREG | 0644)), Code::kExists);
  EXPECT_EQ(CodeOf(Create(1, "f", S_IFDIR | 0755)), Code::kExists);
  EXPECT_EQ(CodeOf(Create(f, "x", S_IFREG | 0644)), Code::kNotDirectory);
  EXPECT_EQ(CodeOf(Create(999, "x", S_IFREG | 0644)), Code::kNotFound);
  EXPECT_EQ(CodeOf(Create(1, "bad", 0644)), Code::kInvalidArgument) << "no file type";
}

TEST_F(CreateTest, NonOwnerNeedsWriteAndSearchPermissionOnTheParent) {
  const uint64_t d = Dir(1, "d");  // root's, 0755
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(Create(d, "x", S_IFREG | 0644)), Code::kPermissionDenied);
  caller_ = Root();
  SetAttr(d, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0777); });
  caller_ = User(100, 100);
  proto::MetaResponse r = Create(d, "x", S_IFREG | 0644);
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().uid(), 100u);
  EXPECT_EQ(r.attr().gid(), 100u);
}

TEST_F(CreateTest, SetGroupIdDirectoryGivesItsGroupAndDirectoriesInheritTheBit) {
  const uint64_t d = Dir(1, "shared");
  SetAttr(d, proto::SETATTR_MODE | proto::SETATTR_GID, [](proto::SetAttrOp& op) {
    op.set_mode(02777);
    op.set_gid(500);
  });
  caller_ = User(100, 100);
  proto::MetaResponse f = Create(d, "f", S_IFREG | 0644);
  EXPECT_EQ(f.attr().gid(), 500u);
  EXPECT_EQ(f.attr().mode() & S_ISGID, 0u);
  proto::MetaResponse sub = Create(d, "sub", S_IFDIR | 0755);
  EXPECT_EQ(sub.attr().gid(), 500u);
  EXPECT_NE(sub.attr().mode() & S_ISGID, 0u);
}

TEST_F(CreateTest, PackedReadDirPagesTheSameEntriesInOneField) {
  for (int i = 0; i < 25; ++i) File(1, fmt::format("f{:02}", i));
  Dir(1, "zdir");
  std::vector<std::string> names;
  std::string after;
  for (;;) {
    proto::MetaResponse page;
    ASSERT_TRUE(p_->ReadDir(kRootInode, after, 10, false, Root(), &page, /*packed=*/true).ok());
    EXPECT_EQ(page.entries_size(), 0);
    auto listing = proto::ListingOf(page);
    ASSERT_TRUE(listing.ok()) << listing.status().ToString();
    for (const auto& e : listing->entries) {
      names.push_back(e.name);
      EXPECT_EQ(e.inode, Find(1, e.name));
      EXPECT_EQ(e.type, e.name == "zdir" ? S_IFDIR : S_IFREG);
      EXPECT_EQ(e.attr, nullptr);
    }
    ASSERT_EQ(listing->more, page.more());
    if (!listing->more) break;
    after = listing->entries.back().name;
  }
  ASSERT_EQ(names.size(), 26u);
  EXPECT_EQ(names.front(), "f00");
  EXPECT_EQ(names.back(), "zdir");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  // With plus, never packed: attributes need their message.
  proto::MetaResponse plus;
  ASSERT_TRUE(p_->ReadDir(kRootInode, "", 10, true, Root(), &plus, /*packed=*/true).ok());
  EXPECT_TRUE(plus.packed_entries().empty());
  EXPECT_EQ(plus.entries_size(), 10);
}

TEST_F(CreateTest, ReadDirPagesByNameAndPlusCarriesAttributes) {
  for (int i = 0; i < 25; ++i) File(1, fmt::format("f{:02}", i));
  Dir(1, "zdir");
  std::vector<std::string> names;
  std::string after;
  int pages = 0;
  for (;;) {
    proto::MetaResponse page;
    ASSERT_TRUE(p_->ReadDir(kRootInode, after, 10, true, Root(), &page).ok());
    ++pages;
    for (const auto& e : page.entries()) {
      names.push_back(e.name());
      EXPECT_TRUE(e.has_attr());
      EXPECT_EQ(e.attr().inode(), e.inode());
    }
    if (!page.more()) break;
    after = page.entries().rbegin()->name();
  }
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(names.size(), 26u);
  EXPECT_EQ(names.front(), "f00");
  EXPECT_EQ(names.back(), "zdir");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  // A directory's listing holds only its own entries.
  const uint64_t zdir = Find(1, "zdir");
  proto::MetaResponse empty;
  ASSERT_TRUE(p_->ReadDir(InodeId(zdir), "", 10, false, Root(), &empty).ok());
  EXPECT_EQ(empty.entries_size(), 0);
  EXPECT_FALSE(empty.more());
  proto::MetaResponse bad;
  EXPECT_TRUE(p_->ReadDir(InodeId(Find(1, "f00")), "", 10, false, Root(), &bad).Is(Code::kNotDirectory));
}

TEST_F(CreateTest, UsedUpRangeAnswersNoSpace) {
  PartitionOptions o = Options();
  o.end = InodeId(3);
  Reset(o);
  File(1, "a");
  File(1, "b");
  EXPECT_EQ(CodeOf(Create(1, "c", S_IFREG | 0644)), Code::kNoSpace);
}

TEST_F(CreateTest, InodeForAnotherPartitionsDentryIsAnOrphanUntilConfirmed) {
  now_ = 10'000;
  proto::MetaResponse r = CreateOrphan("remote");
  ASSERT_EQ(r.code(), 0u) << r.message();
  const uint64_t ino = r.attr().inode();
  EXPECT_EQ(Attr(ino).nlink(), 1u);
  const int64_t grace = Options().orphan_grace.count();
  EXPECT_TRUE(p_->ExpiredOrphans(10'000 + grace - 1).empty());
  auto expired = p_->ExpiredOrphans(10'000 + grace);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].parent(), 7'000'000u);
  EXPECT_EQ(expired[0].name(), "remote");
  Run([&](proto::MetaCommand& c) { c.mutable_confirm_link()->set_inode(ino); });
  EXPECT_TRUE(p_->ExpiredOrphans(10'000 + grace).empty());
  // A confirmed inode is never reclaimed.
  Run([&](proto::MetaCommand& c) { c.mutable_reclaim_orphan()->set_inode(ino); });
  EXPECT_TRUE(Exists(ino));
}

TEST_F(CreateTest, UnconfirmedOrphanIsReclaimedWithItsData) {
  proto::MetaResponse r = CreateOrphan("lost");
  const uint64_t ino = r.attr().inode();
  Append(ino, 0, 100, 55);
  Run([&](proto::MetaCommand& c) { c.mutable_reclaim_orphan()->set_inode(ino); });
  EXPECT_FALSE(Exists(ino));
  auto pending = p_->PendingDeletions(10);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].extent().needle_id(), 55u);
}

TEST_F(CreateTest, DentryForAnInodeElsewhereCountsADirectoryLink) {
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create_dentry();
    op->set_parent(1);
    op->set_name("far");
    op->set_inode(5'000'000);
    op->set_mode(S_IFDIR);
  });
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(Attr(1).nlink(), 3u);
  auto looked = p_->Lookup(kRootInode, "far", Root());
  ASSERT_TRUE(looked.ok());
  EXPECT_EQ(looked->inode(), 5'000'000u);
  EXPECT_TRUE(S_ISDIR(looked->mode()));
  // The same dentry again (a retry with a new seq) is fine; another inode is not.
  r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create_dentry();
    op->set_parent(1);
    op->set_name("far");
    op->set_inode(5'000'000);
    op->set_mode(S_IFDIR);
  });
  EXPECT_EQ(r.code(), 0u);
  EXPECT_EQ(Attr(1).nlink(), 3u);
  r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create_dentry();
    op->set_parent(1);
    op->set_name("far");
    op->set_inode(5'000'001);
    op->set_mode(S_IFREG);
  });
  EXPECT_EQ(CodeOf(r), Code::kExists);
}

}  // namespace
}  // namespace cfs::metanode

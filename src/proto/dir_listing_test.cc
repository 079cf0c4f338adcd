#include "proto/dir_listing.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

namespace cfs::proto {
namespace {

TEST(DirListingTest, PackedEntriesDecodeInOrder) {
  MetaResponse r;
  PackListedEntry(r.mutable_packed_entries(), 7, S_IFREG, "a");
  PackListedEntry(r.mutable_packed_entries(), 1ull << 40, S_IFDIR, std::string(255, 'x'));
  r.set_more(true);
  auto l = ListingOf(r);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->entries.size(), 2u);
  EXPECT_EQ(l->entries[0].inode, 7u);
  EXPECT_EQ(l->entries[0].type, static_cast<uint32_t>(S_IFREG));
  EXPECT_EQ(l->entries[0].name, "a");
  EXPECT_EQ(l->entries[1].inode, 1ull << 40);
  EXPECT_EQ(l->entries[1].name, std::string(255, 'x'));
  EXPECT_TRUE(l->more);
}

TEST(DirListingTest, EntriesWithAttributesKeepThem) {
  MetaResponse r;
  DirEntry* e = r.add_entries();
  e->set_name("f");
  e->set_inode(9);
  e->set_mode(S_IFREG);
  e->mutable_attr()->set_inode(9);
  e->mutable_attr()->set_size(123);
  r.add_entries()->set_name("g");  // no attributes (another partition)
  auto l = ListingOf(r);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->entries.size(), 2u);
  ASSERT_NE(l->entries[0].attr, nullptr);
  EXPECT_EQ(l->entries[0].attr->size(), 123u);
  EXPECT_EQ(l->entries[1].attr, nullptr);
  EXPECT_FALSE(l->more);
}

TEST(DirListingTest, CutOrBadPackedEntriesAreCorruption) {
  std::string good;
  PackListedEntry(&good, 7, S_IFREG, "name");
  for (size_t cut = 1; cut < good.size(); ++cut) {
    MetaResponse r;
    r.set_packed_entries(good.substr(0, cut));
    EXPECT_TRUE(ListingOf(r).status().Is(Code::kCorruption)) << cut;
  }
  for (std::string bad : {std::string(), std::string("a/b"), std::string(".."), std::string(256, 'y')}) {
    MetaResponse r;
    PackListedEntry(r.mutable_packed_entries(), 7, S_IFREG, bad);
    EXPECT_TRUE(ListingOf(r).status().Is(Code::kCorruption)) << bad;
  }
  MetaResponse huge_type;
  PutVarint64(huge_type.mutable_packed_entries(), 7);
  PutVarint64(huge_type.mutable_packed_entries(), 1ull << 33);
  PutVarint64(huge_type.mutable_packed_entries(), 1);
  huge_type.mutable_packed_entries()->append("a");
  EXPECT_TRUE(ListingOf(huge_type).status().Is(Code::kCorruption));
}

}  // namespace
}  // namespace cfs::proto

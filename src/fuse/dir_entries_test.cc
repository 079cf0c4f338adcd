#define FUSE_USE_VERSION 314
#include "fuse/dir_entries.h"

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cfs::fuse {
namespace {

// What libfuse's own encoder makes of entries [first, end) of `e`.
std::string LibfuseRecords(const DirEntries& e, size_t first, size_t end) {
  std::string out;
  for (size_t i = first; i < end; ++i) {
    const std::string name(e.Name(i));
    struct stat st {};
    st.st_ino = e.Inode(i);
    st.st_mode = e.Type(i);
    const size_t n = fuse_add_direntry(nullptr, nullptr, 0, name.c_str(), &st, static_cast<off_t>(i + 1));
    std::string rec(n, '\xff');
    EXPECT_EQ(fuse_add_direntry(nullptr, rec.data(), rec.size(), name.c_str(), &st, static_cast<off_t>(i + 1)), n);
    out += rec;
  }
  return out;
}

TEST(DirEntriesTest, StartsWithDotAndDotDotOfTheDirectory) {
  DirEntries e(42);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e.Name(0), ".");
  EXPECT_EQ(e.Name(1), "..");
  EXPECT_EQ(e.Inode(0), 42u);
  EXPECT_EQ(e.Inode(1), 42u);
  EXPECT_EQ(e.Type(0), static_cast<uint32_t>(S_IFDIR));
  EXPECT_EQ(e.Attr(0), nullptr);
}

TEST(DirEntriesTest, RecordsAreWhatLibfuseEncodes) {
  DirEntries e(1);
  // Names of every length around the 8-byte padding, and the longest.
  for (size_t len = 1; len <= 17; ++len) e.Add(100 + len, S_IFREG, std::string(len, 'a' + static_cast<char>(len)));
  e.Add(7, S_IFDIR, "sub");
  e.Add(8, S_IFLNK, "link");
  e.Add(9, S_IFREG, std::string(255, 'z'));
  size_t end = 0;
  const std::string_view all = e.Records(0, 1 << 20, &end);
  EXPECT_EQ(end, e.size());
  EXPECT_EQ(std::string(all), LibfuseRecords(e, 0, e.size()));
  EXPECT_EQ(e.Type(e.size() - 2), static_cast<uint32_t>(S_IFLNK));
  EXPECT_EQ(e.Name(e.size() - 1), std::string(255, 'z'));
  EXPECT_EQ(e.Inode(e.size() - 1), 9u);
}

TEST(DirEntriesTest, ASliceHoldsWholeRecordsUpToTheBufferSize) {
  DirEntries e(1);
  for (int i = 0; i < 100; ++i) e.Add(10 + i, S_IFREG, "file" + std::to_string(i));
  // ".", "..": 32 bytes each; "file0".."file9": 32; "file10"..: 32 too
  // (24 + up to 8); so a 100-byte buffer holds 3 records.
  size_t end = 0;
  std::string_view r = e.Records(5, 100, &end);
  EXPECT_EQ(end, 8u);
  EXPECT_EQ(std::string(r), LibfuseRecords(e, 5, 8));
  // Exactly one record's worth, and less than one.
  r = e.Records(5, 32, &end);
  EXPECT_EQ(end, 6u);
  EXPECT_EQ(r.size(), 32u);
  r = e.Records(5, 31, &end);
  EXPECT_EQ(end, 5u);
  EXPECT_TRUE(r.empty());
  // The tail, and past the end.
  r = e.Records(100, 1 << 20, &end);
  EXPECT_EQ(end, 102u);
  EXPECT_EQ(std::string(r), LibfuseRecords(e, 100, 102));
  r = e.Records(102, 1 << 20, &end);
  EXPECT_EQ(end, 102u);
  EXPECT_TRUE(r.empty());
  r = e.Records(500, 1 << 20, &end);
  EXPECT_EQ(end, 500u);
  EXPECT_TRUE(r.empty());
}

TEST(DirEntriesTest, KeepsAttributesOfTheEntriesFetchedWithThem) {
  DirEntries e(1);
  e.Add(10, S_IFREG, "a");
  auto attr = std::make_unique<proto::InodeAttr>();
  attr->set_inode(11);
  attr->set_size(4096);
  e.Add(11, S_IFREG, "b", std::move(attr));
  e.Add(12, S_IFREG, "c");
  EXPECT_EQ(e.Attr(2), nullptr);
  ASSERT_NE(e.Attr(3), nullptr);
  EXPECT_EQ(e.Attr(3)->size(), 4096u);
  EXPECT_EQ(e.Attr(4), nullptr);
  EXPECT_EQ(e.Attr(99), nullptr);
}

TEST(DirEntriesTest, AReleasedBufferStartsTheNextListingAfresh) {
  DirEntries e(1);
  for (int i = 0; i < 1000; ++i) e.Add(10 + i, S_IFREG, "f" + std::to_string(i));
  std::string buffer = e.Release();
  EXPECT_GE(buffer.capacity(), 1000u * 32);
  EXPECT_EQ(e.size(), 0u);
  DirEntries next(2, std::move(buffer));
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next.Inode(0), 2u);
  next.Add(3, S_IFREG, "x");
  size_t end = 0;
  EXPECT_EQ(std::string(next.Records(0, 1 << 20, &end)), LibfuseRecords(next, 0, 3));
  EXPECT_EQ(end, 3u);
}

}  // namespace
}  // namespace cfs::fuse

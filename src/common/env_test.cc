#include "common/env.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

namespace cfs {
namespace {

class PosixEnvTest : public ::testing::Test {
 protected:
  std::unique_ptr<File> MustOpen(const std::string& path, OpenMode mode) {
    Result<std::unique_ptr<File>> f = env_->Open(path, mode);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  void WriteFile(const std::string& path, std::string_view data) {
    auto f = MustOpen(path, OpenMode::kTruncate);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->WriteAt(0, data).ok());
  }

  std::string ReadAll(const std::string& path) {
    Result<std::string> r = ReadFileToString(env_, path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string();
  }

  std::vector<std::string> SortedList(const std::string& dir) {
    Result<std::vector<std::string>> r = env_->ListDir(dir);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    std::vector<std::string> names = *r;
    std::sort(names.begin(), names.end());
    return names;
  }

  Env* env_ = Env::Default();
  ::cfs::testing::TempDir dir_;
};

TEST_F(PosixEnvTest, DefaultIsASingleton) { EXPECT_EQ(Env::Default(), Env::Default()); }

// --- Open modes --------------------------------------------------------------

TEST_F(PosixEnvTest, OpenForReadOfMissingFileIsNotFound) {
  Result<std::unique_ptr<File>> f = env_->Open(dir_.Join("missing"), OpenMode::kRead);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kNotFound);
  EXPECT_NE(f.status().message().find(dir_.Join("missing")), std::string::npos) << f.status().ToString();
}

TEST_F(PosixEnvTest, OpenForReadWriteOfMissingFileIsNotFound) {
  Result<std::unique_ptr<File>> f = env_->Open(dir_.Join("missing"), OpenMode::kReadWrite);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kNotFound);
  EXPECT_FALSE(env_->Exists(dir_.Join("missing")));
}

TEST_F(PosixEnvTest, OpenInMissingDirectoryIsNotFound) {
  Result<std::unique_ptr<File>> f = env_->Open(dir_.Join("no/such/dir/file"), OpenMode::kCreate);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kNotFound);
}

TEST_F(PosixEnvTest, CreateMakesMissingFileEmpty) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(env_->Exists(p));
  EXPECT_EQ(*f->Size(), 0u);
  EXPECT_EQ(f->path(), p);
}

TEST_F(PosixEnvTest, CreateKeepsExistingContent) {
  std::string p = dir_.Join("f");
  WriteFile(p, "hello");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->Size(), 5u);
  EXPECT_EQ(ReadAll(p), "hello");
}

TEST_F(PosixEnvTest, CreateExclusiveOnExistingFileIsExists) {
  std::string p = dir_.Join("f");
  WriteFile(p, "keep");
  Result<std::unique_ptr<File>> f = env_->Open(p, OpenMode::kCreateExclusive);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Code::kExists);
  EXPECT_EQ(ReadAll(p), "keep");
}

TEST_F(PosixEnvTest, CreateExclusiveOnMissingFileCreatesIt) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreateExclusive);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->WriteAt(0, "x").ok());
  EXPECT_EQ(ReadAll(p), "x");
}

TEST_F(PosixEnvTest, TruncateModeEmptiesExistingFile) {
  std::string p = dir_.Join("f");
  WriteFile(p, "old content");
  auto f = MustOpen(p, OpenMode::kTruncate);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->Size(), 0u);
  EXPECT_EQ(*env_->FileSize(p), 0u);
}

TEST_F(PosixEnvTest, TruncateModeCreatesMissingFile) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kTruncate);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(env_->Exists(p));
}

TEST_F(PosixEnvTest, ReadWriteOpensExistingFileWithoutEmptyingIt) {
  std::string p = dir_.Join("f");
  WriteFile(p, "abcdef");
  auto f = MustOpen(p, OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(2, "XY").ok());
  EXPECT_EQ(ReadAll(p), "abXYef");
}

TEST_F(PosixEnvTest, WriteThroughReadOnlyFileFails) {
  std::string p = dir_.Join("f");
  WriteFile(p, "abc");
  auto f = MustOpen(p, OpenMode::kRead);
  ASSERT_NE(f, nullptr);
  Status s = f->WriteAt(0, "zzz");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(p), std::string::npos) << s.ToString();
  EXPECT_EQ(ReadAll(p), "abc");
}

// --- Reads and writes --------------------------------------------------------

TEST_F(PosixEnvTest, WriteAtAndReadAtUseExplicitOffsets) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "0123456789").ok());
  ASSERT_TRUE(f->WriteAt(3, "abc").ok());
  ASSERT_TRUE(f->WriteAt(10, "tail").ok());

  std::string buf(4, '\0');
  Result<size_t> n = f->ReadAt(2, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(buf, "2abc");

  std::string all(14, '\0');
  ASSERT_EQ(*f->ReadAt(0, all), 14u);
  EXPECT_EQ(all, "012abc6789tail");
}

TEST_F(PosixEnvTest, WriteBeyondEndLeavesZeroFilledHole) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(4, "x").ok());
  EXPECT_EQ(*f->Size(), 5u);
  std::string buf(5, '?');
  ASSERT_EQ(*f->ReadAt(0, buf), 5u);
  EXPECT_EQ(buf, std::string("\0\0\0\0x", 5));
}

TEST_F(PosixEnvTest, ShortReadAtEndOfFileReturnsFewerBytes) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abcde").ok());
  std::string buf(10, '?');
  Result<size_t> n = f->ReadAt(3, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(buf.substr(0, 2), "de");
  EXPECT_EQ(buf.substr(2), std::string(8, '?'));  // untouched past the end
}

TEST_F(PosixEnvTest, ReadAtOrPastEndReturnsZero) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  std::string buf(4, '\0');
  EXPECT_EQ(*f->ReadAt(3, buf), 0u);
  EXPECT_EQ(*f->ReadAt(1000, buf), 0u);
}

TEST_F(PosixEnvTest, EmptyReadAndWriteAreNoOps) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->WriteAt(0, "").ok());
  EXPECT_EQ(*f->Size(), 0u);
  std::span<char> none;
  EXPECT_EQ(*f->ReadAt(0, none), 0u);
}

TEST_F(PosixEnvTest, LargeWriteReadsBackExactly) {
  std::string data(1 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + (i >> 9));
  auto f = MustOpen(dir_.Join("big"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(4096, data).ok());
  std::string back(data.size(), '\0');
  ASSERT_TRUE(ReadExact(*f, 4096, back).ok());
  EXPECT_TRUE(back == data);
}

TEST_F(PosixEnvTest, ReadExactReadsWholeRange) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "0123456789").ok());
  std::string buf(4, '\0');
  EXPECT_TRUE(ReadExact(*f, 6, buf).ok());
  EXPECT_EQ(buf, "6789");
}

TEST_F(PosixEnvTest, ReadExactOnShortFileIsCorruptionNamingPath) {
  std::string p = dir_.Join("short.dat");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  std::string buf(8, '\0');
  Status s = ReadExact(*f, 1, buf);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find(p), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("offset 1"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("8 bytes"), std::string::npos) << s.ToString();
}

// --- Size, Truncate, Preallocate, Sync ---------------------------------------

TEST_F(PosixEnvTest, SizeFollowsWrites) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(*f->Size(), 0u);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  EXPECT_EQ(*f->Size(), 3u);
  ASSERT_TRUE(f->WriteAt(1, "x").ok());
  EXPECT_EQ(*f->Size(), 3u);
  ASSERT_TRUE(f->WriteAt(100, "y").ok());
  EXPECT_EQ(*f->Size(), 101u);
  EXPECT_EQ(*env_->FileSize(p), 101u);
}

TEST_F(PosixEnvTest, FileSizeOfMissingFileIsNotFound) {
  Result<uint64_t> r = env_->FileSize(dir_.Join("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(PosixEnvTest, TruncateShrinksAndGrows) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "0123456789").ok());
  ASSERT_TRUE(f->Truncate(4).ok());
  EXPECT_EQ(*f->Size(), 4u);
  EXPECT_EQ(ReadAll(p), "0123");
  ASSERT_TRUE(f->Truncate(6).ok());
  EXPECT_EQ(ReadAll(p), std::string("0123\0\0", 6));
  ASSERT_TRUE(f->Truncate(0).ok());
  EXPECT_EQ(*env_->FileSize(p), 0u);
}

TEST_F(PosixEnvTest, PreallocateKeepsSize) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  ASSERT_TRUE(f->Preallocate(1 << 20).ok());
  EXPECT_EQ(*f->Size(), 3u);
  EXPECT_EQ(ReadAll(p), "abc");
  ASSERT_TRUE(f->Preallocate(0).ok());
  EXPECT_EQ(*f->Size(), 3u);
}

TEST_F(PosixEnvTest, SyncSucceedsAndKeepsData) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "durable").ok());
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_EQ(ReadAll(p), "durable");
}

TEST_F(PosixEnvTest, WritevAtWritesThePartsBackToBack) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  const std::string big(3 << 20, 'b');  // more than one pwritev may take at once on some systems
  const std::string_view parts[] = {"head-", "", big, "-tail"};
  ASSERT_TRUE(f->WritevAt(2, parts).ok());
  std::string want = std::string(2, '\0') + "head-" + big + "-tail";
  EXPECT_EQ(ReadAll(p), want);
  // More parts than one pwritev call is given: written one by one.
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back(std::to_string(i) + ",");
  std::vector<std::string_view> views(many.begin(), many.end());
  ASSERT_TRUE(f->WritevAt(0, views).ok());
  std::string joined;
  for (const auto& m : many) joined += m;
  EXPECT_EQ(ReadAll(p).substr(0, joined.size()), joined);
  EXPECT_EQ(*f->Size(), want.size());
}

// Pages of `path` in the page cache, by mincore on a mapping of the file.
size_t ResidentPages(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st;
  ::fstat(fd, &st);
  const size_t len = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return 0;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((len + page - 1) / page);
  size_t resident = 0;
  if (::mincore(m, len, vec.data()) == 0) {
    for (unsigned char v : vec) resident += v & 1;
  }
  ::munmap(m, len);
  return resident;
}

bool OnTmpfs(const std::string& dir) {
  struct statfs fs;
  EXPECT_EQ(::statfs(dir.c_str(), &fs), 0) << dir;
  return fs.f_type == TMPFS_MAGIC;
}

TEST_F(PosixEnvTest, DropCacheLeavesTheDataAndTakesItsPagesOutOfTheCache) {
  if (OnTmpfs(dir_.path())) GTEST_SKIP() << "tmpfs pages are the file: they cannot be dropped";
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131);
  ASSERT_TRUE(f->WriteAt(0, data).ok());
  ASSERT_TRUE(f->StartWriteback(0, data.size()).ok());
  const size_t pages = ResidentPages(p);
  ASSERT_GT(pages, 0u) << "just written, so cached";
  // The second half goes; the first stays.
  ASSERT_TRUE(f->DropCache(data.size() / 2, data.size() / 2).ok());
  const size_t after = ResidentPages(p);
  EXPECT_LE(after, pages / 2 + 1);
  EXPECT_GT(after, 0u);
  ASSERT_TRUE(f->DropCache(0, data.size()).ok());
  EXPECT_EQ(ResidentPages(p), 0u);
  EXPECT_EQ(ReadAll(p), data);  // from the disk now
}

TEST_F(PosixEnvTest, WillNeedBringsTheRangeIntoTheCache) {
  if (OnTmpfs(dir_.path())) GTEST_SKIP() << "tmpfs pages are the file: they cannot be dropped";
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  std::string data(4 << 20, 'w');
  ASSERT_TRUE(f->WriteAt(0, data).ok());
  ASSERT_TRUE(f->DropCache(0, data.size()).ok());
  ASSERT_EQ(ResidentPages(p), 0u);
  // The second half is asked for; it arrives without a read (the request
  // is started, not waited for: allow the disk a while).
  ASSERT_TRUE(f->WillNeed(data.size() / 2, data.size() / 2).ok());
  size_t resident = 0;
  for (int i = 0; i < 200 && resident < data.size() / 2 / 4096; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    resident = ResidentPages(p);
  }
  EXPECT_GE(resident, data.size() / 2 / 4096);
  EXPECT_LE(resident, data.size() / 2 / 4096 + 64);  // the first half is not read (a readahead window at most)
  EXPECT_EQ(ReadAll(p), data);
}

// --- Directory operations ----------------------------------------------------

TEST_F(PosixEnvTest, RenameMovesFile) {
  std::string from = dir_.Join("a");
  std::string to = dir_.Join("b");
  WriteFile(from, "payload");
  ASSERT_TRUE(env_->Rename(from, to).ok());
  EXPECT_FALSE(env_->Exists(from));
  EXPECT_EQ(ReadAll(to), "payload");
}

TEST_F(PosixEnvTest, RenameReplacesExistingTarget) {
  std::string from = dir_.Join("new");
  std::string to = dir_.Join("old");
  WriteFile(from, "new");
  WriteFile(to, "old and longer");
  ASSERT_TRUE(env_->Rename(from, to).ok());
  EXPECT_FALSE(env_->Exists(from));
  EXPECT_EQ(ReadAll(to), "new");
  EXPECT_EQ(SortedList(dir_.path()), std::vector<std::string>{"old"});
}

TEST_F(PosixEnvTest, RenameOfMissingFileIsNotFound) {
  Status s = env_->Rename(dir_.Join("missing"), dir_.Join("x"));
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find(dir_.Join("missing")), std::string::npos) << s.ToString();
}

TEST_F(PosixEnvTest, RemoveDeletesFile) {
  std::string p = dir_.Join("f");
  WriteFile(p, "x");
  ASSERT_TRUE(env_->Exists(p));
  ASSERT_TRUE(env_->Remove(p).ok());
  EXPECT_FALSE(env_->Exists(p));
}

TEST_F(PosixEnvTest, RemoveOfMissingFileIsNotFound) {
  EXPECT_EQ(env_->Remove(dir_.Join("missing")).code(), Code::kNotFound);
}

TEST_F(PosixEnvTest, OpenFileStaysReadableAfterRemove) {
  std::string p = dir_.Join("f");
  WriteFile(p, "still here");
  auto f = MustOpen(p, OpenMode::kRead);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(env_->Remove(p).ok());
  std::string buf(10, '\0');
  EXPECT_TRUE(ReadExact(*f, 0, buf).ok());
  EXPECT_EQ(buf, "still here");
}

TEST_F(PosixEnvTest, ListDirOmitsDotEntries) {
  WriteFile(dir_.Join("b"), "");
  WriteFile(dir_.Join("a"), "");
  ASSERT_TRUE(env_->CreateDirs(dir_.Join("sub")).ok());
  WriteFile(dir_.Join("sub/nested"), "");  // not listed: only direct entries
  EXPECT_EQ(SortedList(dir_.path()), (std::vector<std::string>{"a", "b", "sub"}));
}

TEST_F(PosixEnvTest, ListDirOfEmptyDirectoryIsEmpty) {
  EXPECT_TRUE(SortedList(dir_.path()).empty());
}

TEST_F(PosixEnvTest, ListDirOfMissingDirectoryIsNotFound) {
  Result<std::vector<std::string>> r = env_->ListDir(dir_.Join("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(PosixEnvTest, ListDirOfFileIsNotDirectory) {
  WriteFile(dir_.Join("f"), "");
  Result<std::vector<std::string>> r = env_->ListDir(dir_.Join("f"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotDirectory);
}

TEST_F(PosixEnvTest, CreateDirsMakesNestedDirectories) {
  std::string deep = dir_.Join("a/b/c/d");
  ASSERT_TRUE(env_->CreateDirs(deep).ok());
  EXPECT_TRUE(env_->Exists(deep));
  EXPECT_EQ(SortedList(dir_.Join("a/b")), std::vector<std::string>{"c"});
  WriteFile(deep + "/f", "x");
  EXPECT_EQ(ReadAll(deep + "/f"), "x");
}

TEST_F(PosixEnvTest, CreateDirsOnExistingDirectorySucceeds) {
  ASSERT_TRUE(env_->CreateDirs(dir_.Join("a/b")).ok());
  EXPECT_TRUE(env_->CreateDirs(dir_.Join("a/b")).ok());
  EXPECT_TRUE(env_->CreateDirs(dir_.path()).ok());
}

TEST_F(PosixEnvTest, CreateDirsThroughAFileFails) {
  WriteFile(dir_.Join("f"), "x");
  Status s = env_->CreateDirs(dir_.Join("f/sub"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(dir_.Join("f/sub")), std::string::npos) << s.ToString();
}

TEST_F(PosixEnvTest, SyncDirSucceedsOnDirectory) {
  WriteFile(dir_.Join("f"), "x");
  EXPECT_TRUE(env_->SyncDir(dir_.path()).ok());
}

TEST_F(PosixEnvTest, SyncDirOfMissingDirectoryIsNotFound) {
  EXPECT_EQ(env_->SyncDir(dir_.Join("missing")).code(), Code::kNotFound);
}

TEST_F(PosixEnvTest, SyncDirOfFileIsNotDirectory) {
  WriteFile(dir_.Join("f"), "x");
  EXPECT_EQ(env_->SyncDir(dir_.Join("f")).code(), Code::kNotDirectory);
}

TEST_F(PosixEnvTest, ExistsSeesFilesAndDirectories) {
  EXPECT_TRUE(env_->Exists(dir_.path()));
  EXPECT_FALSE(env_->Exists(dir_.Join("f")));
  WriteFile(dir_.Join("f"), "");
  EXPECT_TRUE(env_->Exists(dir_.Join("f")));
}

// --- Whole-file helpers ------------------------------------------------------

TEST_F(PosixEnvTest, ReadFileToStringReadsWholeFile) {
  std::string data("binary\0data\xff", 12);
  WriteFile(dir_.Join("f"), data);
  EXPECT_EQ(ReadAll(dir_.Join("f")), data);
}

TEST_F(PosixEnvTest, ReadFileToStringOfEmptyFileIsEmpty) {
  WriteFile(dir_.Join("f"), "");
  EXPECT_EQ(ReadAll(dir_.Join("f")), "");
}

TEST_F(PosixEnvTest, ReadFileToStringOfMissingFileIsNotFound) {
  Result<std::string> r = ReadFileToString(env_, dir_.Join("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST_F(PosixEnvTest, WriteFileAtomicCreatesFile) {
  std::string p = dir_.Join("meta.json");
  ASSERT_TRUE(WriteFileAtomic(env_, p, "{\"v\":1}").ok());
  EXPECT_EQ(ReadAll(p), "{\"v\":1}");
  EXPECT_EQ(SortedList(dir_.path()), std::vector<std::string>{"meta.json"});
}

TEST_F(PosixEnvTest, WriteFileAtomicReplacesLongerContentEntirely) {
  std::string p = dir_.Join("meta.json");
  ASSERT_TRUE(WriteFileAtomic(env_, p, "a much longer first version").ok());
  ASSERT_TRUE(WriteFileAtomic(env_, p, "v2").ok());
  EXPECT_EQ(ReadAll(p), "v2");
}

TEST_F(PosixEnvTest, WriteFileAtomicLeavesNoTempFileBehind) {
  std::string p = dir_.Join("state");
  ASSERT_TRUE(WriteFileAtomic(env_, p, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(env_, p, "two").ok());
  EXPECT_FALSE(env_->Exists(p + ".tmp"));
  EXPECT_EQ(SortedList(dir_.path()), std::vector<std::string>{"state"});
}

TEST_F(PosixEnvTest, WriteFileAtomicOverwritesStaleTempFile) {
  std::string p = dir_.Join("state");
  WriteFile(p + ".tmp", "leftover from a crash, longer than the new data");
  ASSERT_TRUE(WriteFileAtomic(env_, p, "fresh").ok());
  EXPECT_EQ(ReadAll(p), "fresh");
  EXPECT_FALSE(env_->Exists(p + ".tmp"));
}

TEST_F(PosixEnvTest, WriteFileAtomicOfEmptyDataMakesEmptyFile) {
  std::string p = dir_.Join("empty");
  ASSERT_TRUE(WriteFileAtomic(env_, p, "").ok());
  EXPECT_TRUE(env_->Exists(p));
  EXPECT_EQ(*env_->FileSize(p), 0u);
}

TEST_F(PosixEnvTest, WriteFileAtomicInMissingDirectoryFails) {
  Status s = WriteFileAtomic(env_, dir_.Join("missing/f"), "x");
  EXPECT_EQ(s.code(), Code::kNotFound);
}

}  // namespace
}  // namespace cfs

// libFuzzer target for the needle record format (DESIGN.md section 3) and the
// small parsers beside it. Arbitrary bytes go to:
//   - DecodeNeedleHeader / EncodeNeedleHeader (the 16 bytes round-trip),
//   - DecodeNeedle; a record that decodes is re-encoded with EncodeNeedle and
//     decoded again, and the fields must match (the checksum is not compared:
//     EncodeNeedle writes the raw CRC-32C of the data, the input may hold
//     anything),
//   - NeedleChecksumMatches,
//   - a DatScanner over the bytes, held by an in-memory File (no disk I/O),
//   - SuperBlock::Decode and ParseFileId, each with a round trip.
// A broken invariant aborts with a message naming it. UBSan findings are
// fatal too (see __ubsan_default_options).
//
// Seeds: src/datanode/testdata/fuzz/needle/. Run with scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "common/coding.h"
#include "common/crc32c.h"
#include "common/env.h"
#include "common/logging.h"
#include "datanode/dat_scanner.h"
#include "datanode/needle.h"
#include "datanode/superblock.h"

// A recoverable UBSan report would only be printed; make it a crash libFuzzer sees.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace cfs::datanode {
namespace {

#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

// A read-only File over bytes owned by the caller, which must outlive it.
class MemoryFile final : public File {
 public:
  explicit MemoryFile(std::string_view bytes) : bytes_(bytes) {}

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) const override {
    if (offset >= bytes_.size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), bytes_.size() - offset);
    std::memcpy(out.data(), bytes_.data() + offset, n);
    return n;
  }
  Status WriteAt(uint64_t, std::string_view) override { return Status::NotSupported("memory file is read-only"); }
  Status Sync() override { return Status::OK(); }
  Status Truncate(uint64_t) override { return Status::NotSupported("memory file is read-only"); }
  Result<uint64_t> Size() const override { return uint64_t{bytes_.size()}; }
  Status Preallocate(uint64_t) override { return Status::OK(); }
  Status StartWriteback(uint64_t, uint64_t) override { return Status::OK(); }
  Status DropCache(uint64_t, uint64_t) override { return Status::OK(); }
  Status WillNeed(uint64_t, uint64_t) const override { return Status::OK(); }
  const std::string& path() const override { return path_; }

 private:
  std::string_view bytes_;
  std::string path_ = "<fuzz input>";
};

bool Within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// The fields a record carries, as the format defines them: optional fields
// count only when their flag is set, and a record without data (a tombstone)
// carries no body at all.
void CheckSameFields(const NeedleView& a, const NeedleView& b) {
  FUZZ_CHECK(a.cookie == b.cookie);
  FUZZ_CHECK(a.id == b.id);
  FUZZ_CHECK(a.size == b.size);
  FUZZ_CHECK(a.data == b.data);
  FUZZ_CHECK(a.append_at_ns == b.append_at_ns);
  if (a.size == 0) return;
  FUZZ_CHECK(a.flags == b.flags);
  if (a.flags & kFlagName) FUZZ_CHECK(a.name == b.name);
  if (a.flags & kFlagMime) FUZZ_CHECK(a.mime == b.mime);
  if (a.flags & kFlagLastModified) FUZZ_CHECK(a.last_modified == b.last_modified);
  if (a.flags & kFlagTtl) FUZZ_CHECK(a.ttl == b.ttl);
  if (a.flags & kFlagPairs) FUZZ_CHECK(a.pairs == b.pairs);
}

void FuzzHeader(std::string_view bytes) {
  if (bytes.size() < kNeedleHeaderSize) return;
  NeedleHeader h = DecodeNeedleHeader(bytes.data());
  char again[kNeedleHeaderSize];
  EncodeNeedleHeader(h, again);
  FUZZ_CHECK(std::memcmp(again, bytes.data(), kNeedleHeaderSize) == 0);
}

void FuzzDecodeNeedle(std::string_view bytes) {
  auto decoded = DecodeNeedle(bytes);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().Is(Code::kCorruption));
    return;
  }
  const NeedleView& n = *decoded;
  FUZZ_CHECK(bytes.size() >= NeedleReadSize(n.size));
  NeedleHeader h = DecodeNeedleHeader(bytes.data());
  FUZZ_CHECK(n.id == h.id && n.cookie == h.cookie && n.size == h.size);
  FUZZ_CHECK(Within(n.data, bytes) && Within(n.name, bytes) && Within(n.mime, bytes) && Within(n.pairs, bytes));
  (void)NeedleChecksumMatches(n.checksum, n.data);

  // Re-encode. The decoder accepts a body whose data is empty, which the
  // encoder never writes (empty data means Size 0, no body): such a record
  // re-encodes as a tombstone, so compare against that canonical form.
  NeedleView want = n;
  if (n.data.empty() && n.size != 0) {
    want.size = 0;
    want.flags = 0;
  }
  std::string out;
  auto size = EncodeNeedle(n, n.append_at_ns, &out);
  FUZZ_CHECK(size.ok());  // every decoded field fits its length prefix
  FUZZ_CHECK(*size == want.size);
  FUZZ_CHECK(out.size() == NeedleRecordSize(*size));
  FUZZ_CHECK(out.size() % kNeedleAlignment == 0);
  for (size_t i = NeedleReadSize(*size); i < out.size(); ++i) FUZZ_CHECK(out[i] == '\0');  // padding

  auto again = DecodeNeedle(out);
  FUZZ_CHECK(again.ok());
  CheckSameFields(want, *again);
  FUZZ_CHECK(again->checksum == NeedleChecksum(n.data));
  FUZZ_CHECK(NeedleChecksumMatches(again->checksum, again->data));
}

void FuzzChecksum(std::string_view bytes) {
  if (bytes.size() < 4) return;
  std::string_view data = bytes.substr(4);
  uint32_t stored = DecodeBE32(bytes.data());
  uint32_t crc = NeedleChecksum(data);
  FUZZ_CHECK(NeedleChecksumMatches(stored, data) == (stored == crc || stored == crc32c::Mask(crc)));
  FUZZ_CHECK(NeedleChecksumMatches(crc, data));
  FUZZ_CHECK(NeedleChecksumMatches(crc32c::Mask(crc), data));
  FUZZ_CHECK(crc32c::Unmask(crc32c::Mask(crc)) == crc);
}

// Walks the input as a .dat body: every step must stay inside the input and
// land on the next record boundary, and good records must decode alike
// through DecodeNeedle.
void FuzzScanner(std::string_view bytes) {
  MemoryFile file(bytes);
  DatScanner scan(file, 0, bytes.size());
  uint64_t expect_offset = 0;
  for (;;) {
    ScannedRecord rec;
    auto step = scan.Next(&rec);
    FUZZ_CHECK(step.ok());  // an in-memory file has no I/O errors
    FUZZ_CHECK(rec.offset == expect_offset);
    if (*step == DatScanner::Step::kEnd) {
      FUZZ_CHECK(expect_offset >= bytes.size());
      break;
    }
    if (*step == DatScanner::Step::kIncomplete) {
      FUZZ_CHECK(!rec.problem.ok());
      break;
    }
    FUZZ_CHECK(rec.record_size == NeedleRecordSize(rec.needle.size));
    FUZZ_CHECK(rec.offset + rec.record_size <= bytes.size());
    FUZZ_CHECK(rec.bytes.size() == NeedleReadSize(rec.needle.size));
    FUZZ_CHECK(std::string_view(bytes.data() + rec.offset, rec.bytes.size()) == rec.bytes);
    FUZZ_CHECK(rec.problem.ok() == (rec.decoded && rec.checksum_ok));
    auto decoded = DecodeNeedle(rec.bytes);
    FUZZ_CHECK(decoded.ok() == rec.decoded);
    if (rec.decoded) {
      CheckSameFields(*decoded, rec.needle);
      // A tombstone's checksum field carries nothing and is not checked.
      FUZZ_CHECK(rec.checksum_ok ==
                 (rec.needle.size == 0 || NeedleChecksumMatches(rec.needle.checksum, rec.needle.data)));
    }
    expect_offset += rec.record_size;
    FUZZ_CHECK(scan.position() == expect_offset);
  }
}

void FuzzSuperBlock(std::string_view bytes) {
  uint16_t extra = 0;
  auto sb = SuperBlock::Decode(bytes, &extra);
  if (!sb.ok()) return;
  FUZZ_CHECK(extra % 8 == 0);
  if (bytes.size() < kSuperBlockSize + extra) return;  // the caller would read more and call again
  FUZZ_CHECK(sb->extra.size() == extra);
  std::string encoded = sb->Encode();
  FUZZ_CHECK(encoded.size() == sb->BlockSize());
  auto again = SuperBlock::Decode(encoded);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->version == sb->version && again->placement == sb->placement && again->ttl == sb->ttl &&
             again->compaction_revision == sb->compaction_revision && again->extra == sb->extra);
}

void FuzzFileId(std::string_view bytes) {
  auto fid = ParseFileId(bytes);
  if (!fid.ok()) {
    FUZZ_CHECK(fid.status().Is(Code::kInvalidArgument));
    return;
  }
  std::string formatted = FormatFileId(fid->group, fid->needle, fid->cookie);
  auto again = ParseFileId(formatted);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->group == fid->group && again->needle == fid->needle && again->cookie == fid->cookie);
}

}  // namespace
}  // namespace cfs::datanode

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cfs::datanode;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  FuzzHeader(bytes);
  FuzzDecodeNeedle(bytes);
  FuzzChecksum(bytes);
  FuzzScanner(bytes);
  FuzzSuperBlock(bytes);
  FuzzFileId(bytes);
  return 0;
}

#include "datanode/needle.h"

#include <charconv>

#include <fmt/format.h>

#include "common/coding.h"
#include "common/crc32c.h"
#include "common/strings.h"

namespace cfs::datanode {

constexpr uint64_t kMaxLastModified = (uint64_t{1} << 40) - 1;

NeedleHeader DecodeNeedleHeader(const char* p) {
  return NeedleHeader{Cookie(DecodeBE32(p)), NeedleId(DecodeBE64(p + 4)), DecodeBE32(p + 12)};
}

void EncodeNeedleHeader(const NeedleHeader& h, char* p) {
  EncodeBE32(p, h.cookie.value());
  EncodeBE64(p + 4, h.id.value());
  EncodeBE32(p + 12, h.size);
}

uint32_t NeedleChecksum(std::string_view data) { return crc32c::Value(data); }

bool NeedleChecksumMatches(uint32_t stored, std::string_view data) {
  uint32_t crc = crc32c::Value(data);
  return stored == crc || stored == crc32c::Mask(crc);
}

Result<uint32_t> NeedleBodySize(const NeedleView& n) {
  if (n.data.empty()) return 0u;
  uint64_t size = 4 + n.data.size() + 1;
  if (n.flags & kFlagName) {
    if (n.name.size() > 255) return Status::InvalidArgument(fmt::format("needle name is {} bytes, max 255", n.name.size()));
    size += 1 + n.name.size();
  }
  if (n.flags & kFlagMime) {
    if (n.mime.size() > 255) return Status::InvalidArgument(fmt::format("needle mime is {} bytes, max 255", n.mime.size()));
    size += 1 + n.mime.size();
  }
  if (n.flags & kFlagLastModified) {
    if (n.last_modified > kMaxLastModified) return Status::InvalidArgument("needle last-modified exceeds 40 bits");
    size += 5;
  }
  if (n.flags & kFlagTtl) size += 2;
  if (n.flags & kFlagPairs) {
    if (n.pairs.size() > 65535) return Status::InvalidArgument(fmt::format("needle pairs are {} bytes, max 65535", n.pairs.size()));
    size += 2 + n.pairs.size();
  }
  // The record must also fit in the u32 data_size and Size fields.
  if (size + kNeedleHeaderSize + 20 > 0xFFFFFFF0ull) {
    return Status::TooLarge(fmt::format("needle of {} bytes is too large", n.data.size()));
  }
  return static_cast<uint32_t>(size);
}

Result<uint32_t> EncodeNeedleAround(const NeedleView& n, uint64_t append_at_ns, uint32_t data_checksum,
                                    std::string* head, std::string* tail) {
  CFS_ASSIGN_OR_RETURN(uint32_t size, NeedleBodySize(n));
  head->resize(kNeedleHeaderSize);
  EncodeNeedleHeader({n.cookie, n.id, size}, head->data());
  tail->clear();
  if (size > 0) {
    PutBE32(head, static_cast<uint32_t>(n.data.size()));
    tail->push_back(static_cast<char>(n.flags));
    if (n.flags & kFlagName) {
      tail->push_back(static_cast<char>(n.name.size()));
      tail->append(n.name);
    }
    if (n.flags & kFlagMime) {
      tail->push_back(static_cast<char>(n.mime.size()));
      tail->append(n.mime);
    }
    if (n.flags & kFlagLastModified) {
      char b[8];
      EncodeBE64(b, n.last_modified);
      tail->append(b + 3, 5);
    }
    if (n.flags & kFlagTtl) {
      tail->push_back(static_cast<char>(n.ttl.count));
      tail->push_back(static_cast<char>(n.ttl.unit));
    }
    if (n.flags & kFlagPairs) {
      PutBE16(tail, static_cast<uint16_t>(n.pairs.size()));
      tail->append(n.pairs);
    }
  }
  PutBE32(tail, data_checksum);
  PutBE64(tail, append_at_ns);
  tail->append(NeedlePadding(size), '\0');
  return size;
}

Result<uint32_t> EncodeNeedle(const NeedleView& n, uint64_t append_at_ns, std::string* out) {
  std::string head, tail;
  CFS_ASSIGN_OR_RETURN(uint32_t size, EncodeNeedleAround(n, append_at_ns, NeedleChecksum(n.data), &head, &tail));
  out->reserve(out->size() + head.size() + n.data.size() + tail.size());
  out->append(head);
  out->append(n.data);
  out->append(tail);
  return size;
}

Result<NeedleView> DecodeNeedle(std::string_view record) {
  if (record.size() < kNeedleHeaderSize) {
    return Status::Corruption(fmt::format("needle record of {} bytes is shorter than its header", record.size()));
  }
  NeedleHeader h = DecodeNeedleHeader(record.data());
  NeedleView n;
  n.cookie = h.cookie;
  n.id = h.id;
  n.size = h.size;
  if (record.size() < NeedleReadSize(h.size)) {
    return Status::Corruption(fmt::format("needle {:x}: body of {} bytes runs past the {} bytes available", h.id.value(),
                                          h.size, record.size()));
  }
  std::string_view body = record.substr(kNeedleHeaderSize, h.size);
  auto corrupt = [&](std::string_view what) {
    return Status::Corruption(fmt::format("needle {:x}: {} (body size {})", h.id.value(), what, h.size));
  };
  if (h.size > 0) {
    if (body.size() < 4) return corrupt("body too short for data size");
    uint32_t data_size = DecodeBE32(body.data());
    body.remove_prefix(4);
    if (data_size > body.size() || body.size() - data_size < 1) return corrupt("data size runs past the body");
    n.data = body.substr(0, data_size);
    body.remove_prefix(data_size);
    n.flags = static_cast<uint8_t>(body[0]);
    body.remove_prefix(1);
    auto take_prefixed = [&](size_t len_bytes, std::string_view* field) -> bool {
      if (body.size() < len_bytes) return false;
      size_t len = len_bytes == 1 ? static_cast<uint8_t>(body[0]) : DecodeBE16(body.data());
      body.remove_prefix(len_bytes);
      if (body.size() < len) return false;
      *field = body.substr(0, len);
      body.remove_prefix(len);
      return true;
    };
    if ((n.flags & kFlagName) && !take_prefixed(1, &n.name)) return corrupt("name runs past the body");
    if ((n.flags & kFlagMime) && !take_prefixed(1, &n.mime)) return corrupt("mime runs past the body");
    if (n.flags & kFlagLastModified) {
      if (body.size() < 5) return corrupt("last-modified runs past the body");
      char b[8] = {0, 0, 0};
      std::copy_n(body.data(), 5, b + 3);
      n.last_modified = DecodeBE64(b);
      body.remove_prefix(5);
    }
    if (n.flags & kFlagTtl) {
      if (body.size() < 2) return corrupt("ttl runs past the body");
      auto ttl = Ttl::FromBytes(static_cast<uint8_t>(body[0]), static_cast<uint8_t>(body[1]));
      if (!ttl.ok()) return corrupt(ttl.status().message());
      n.ttl = *ttl;
      body.remove_prefix(2);
    }
    if ((n.flags & kFlagPairs) && !take_prefixed(2, &n.pairs)) return corrupt("pairs run past the body");
    if (!body.empty()) return corrupt(fmt::format("{} bytes left over after the last field", body.size()));
  }
  const char* tail = record.data() + kNeedleHeaderSize + h.size;
  n.checksum = DecodeBE32(tail);
  n.append_at_ns = DecodeBE64(tail + kNeedleChecksumSize);
  return n;
}

}  // namespace cfs::datanode

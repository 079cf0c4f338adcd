#include "rpc/frame.h"

#include <gtest/gtest.h>

#include <string>

namespace cfs::rpc {
namespace {

std::string Encode(const FrameHeader& h) {
  std::string s(kFrameHeaderSize, '\0');
  EncodeFrameHeader(h, s.data());
  return s;
}

TEST(FrameTest, HeaderRoundTrips) {
  FrameHeader h{FrameKind::kRequest, 201, 0x0102030405060708ull, 1500, 77, 4096};
  auto d = DecodeFrameHeader(Encode(h), FrameLimits{});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->kind, FrameKind::kRequest);
  EXPECT_EQ(d->method_or_code, 201);
  EXPECT_EQ(d->request_id, 0x0102030405060708ull);
  EXPECT_EQ(d->deadline_ms, 1500u);
  EXPECT_EQ(d->message_len, 77u);
  EXPECT_EQ(d->payload_len, 4096u);
}

TEST(FrameTest, HeaderStartsWithMagicAndVersion) {
  std::string s = Encode(FrameHeader{});
  EXPECT_EQ(s.substr(0, 3), "CFS");
  EXPECT_EQ(s[3], 1);
}

TEST(FrameTest, EveryFlippedBitIsRefused) {
  std::string good = Encode(FrameHeader{FrameKind::kResponse, 0, 9, 0, 10, 10});
  for (size_t i = 0; i < kFrameHeaderSize * 8; ++i) {
    std::string bad = good;
    bad[i / 8] = static_cast<char>(bad[i / 8] ^ (1 << (i % 8)));
    EXPECT_FALSE(DecodeFrameHeader(bad, FrameLimits{}).ok()) << "bit " << i;
  }
}

TEST(FrameTest, OversizedMessageOrPayloadIsRefusedBeforeAllocating) {
  FrameLimits limits{.max_message_bytes = 100, .max_payload_bytes = 1000};
  EXPECT_TRUE(DecodeFrameHeader(Encode({FrameKind::kRequest, 1, 1, 0, 100, 1000}), limits).ok());
  auto m = DecodeFrameHeader(Encode({FrameKind::kRequest, 1, 1, 0, 101, 0}), limits);
  EXPECT_TRUE(m.status().Is(Code::kInvalidArgument));
  EXPECT_NE(m.status().message().find("over the limit"), std::string::npos);
  EXPECT_FALSE(DecodeFrameHeader(Encode({FrameKind::kRequest, 1, 1, 0, 0, 1001}), limits).ok());
}

TEST(FrameTest, ShortHeaderWrongVersionUnknownKindAndCodeAreRefused) {
  EXPECT_FALSE(DecodeFrameHeader("CFS", FrameLimits{}).ok());
  std::string s = Encode(FrameHeader{FrameKind::kResponse, 250, 1, 0, 0, 0});
  auto r = DecodeFrameHeader(s, FrameLimits{});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("code"), std::string::npos);
  EXPECT_FALSE(DecodeFrameHeader("GET / HTTP/1.1\r\nHost: x\r\n\r\n....", FrameLimits{}).ok());
}

}  // namespace
}  // namespace cfs::rpc

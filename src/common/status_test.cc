#include "common/status.h"

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <type_traits>
#include <utility>

#include <gtest/gtest.h>

namespace cfs {

// Failures print "NotFound" rather than a raw byte.
inline void PrintTo(Code code, std::ostream* os) { *os << CodeName(code); }

namespace {

// Every enumerator of Code with the one errno it maps to. The test
// ToErrnoTableCoversEveryCode fails when a Code is added without a row here.
const std::map<Code, int>& ExpectedErrno() {
  static const std::map<Code, int> kTable = {
      {Code::kOk, 0},
      {Code::kNotFound, ENOENT},
      {Code::kExists, EEXIST},
      {Code::kNotEmpty, ENOTEMPTY},
      {Code::kNotDirectory, ENOTDIR},
      {Code::kIsDirectory, EISDIR},
      {Code::kInvalidArgument, EINVAL},
      {Code::kPermissionDenied, EACCES},
      {Code::kNotPermitted, EPERM},
      {Code::kNameTooLong, ENAMETOOLONG},
      {Code::kNoSpace, ENOSPC},
      {Code::kTooLarge, EFBIG},
      {Code::kReadOnly, EROFS},
      {Code::kNotSupported, EOPNOTSUPP},
      {Code::kIOError, EIO},
      {Code::kCorruption, EIO},
      {Code::kNoAttribute, ENODATA},
      {Code::kTooManyLinks, EMLINK},
      {Code::kNotLeader, EAGAIN},
      {Code::kUnavailable, EAGAIN},
      {Code::kTimeout, ETIMEDOUT},
      {Code::kCancelled, ECANCELED},
      {Code::kBusy, EBUSY},
      {Code::kAborted, EIO},
      {Code::kInternal, EIO},
      {Code::kDelegated, EAGAIN},
  };
  return kTable;
}

// --- OK status -------------------------------------------------------------

TEST(StatusTest, DefaultConstructedIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_TRUE(s.Is(Code::kOk));
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.leader_hint(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, OkFactoryEqualsDefault) {
  Status s = Status::OK();
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, OkStatusIsOnePointerWide) {
  // OK is a null pointer: creating, copying and testing it allocates nothing.
  EXPECT_EQ(sizeof(Status), sizeof(void*));
}

TEST(StatusTest, ConstructingWithCodeOkDropsMessageAndIsOk) {
  Status s(Code::kOk, "ignored", "ignored too");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.leader_hint(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

// --- Codes and messages ----------------------------------------------------

TEST(StatusTest, FactoriesSetCodeAndMessage) {
  struct Case {
    Status status;
    Code code;
  };
  Case cases[] = {
      {Status::NotFound("m"), Code::kNotFound},
      {Status::Exists("m"), Code::kExists},
      {Status::NotEmpty("m"), Code::kNotEmpty},
      {Status::InvalidArgument("m"), Code::kInvalidArgument},
      {Status::NoSpace("m"), Code::kNoSpace},
      {Status::TooLarge("m"), Code::kTooLarge},
      {Status::ReadOnly("m"), Code::kReadOnly},
      {Status::NotSupported("m"), Code::kNotSupported},
      {Status::IOError("m"), Code::kIOError},
      {Status::Corruption("m"), Code::kCorruption},
      {Status::NotLeader("m", "10.0.0.1:9333"), Code::kNotLeader},
      {Status::Unavailable("m"), Code::kUnavailable},
      {Status::Timeout("m"), Code::kTimeout},
      {Status::Busy("m"), Code::kBusy},
      {Status::Internal("m"), Code::kInternal},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(CodeName(c.code));
    EXPECT_FALSE(c.status.ok());
    EXPECT_EQ(c.status.code(), c.code);
    EXPECT_TRUE(c.status.Is(c.code));
    EXPECT_FALSE(c.status.Is(Code::kOk));
    EXPECT_EQ(c.status.message(), "m");
  }
}

TEST(StatusTest, GeneralConstructorSetsCodesWithoutFactory) {
  Status s(Code::kPermissionDenied, "mkdir /a");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_EQ(s.message(), "mkdir /a");
  EXPECT_EQ(s.leader_hint(), "");
}

TEST(StatusTest, IsMatchesOnlyItsOwnCode) {
  Status s = Status::NotFound("x");
  EXPECT_TRUE(s.Is(Code::kNotFound));
  EXPECT_FALSE(s.Is(Code::kExists));
  EXPECT_FALSE(s.Is(Code::kIOError));
}

TEST(StatusTest, NotLeaderCarriesLeaderHint) {
  Status s = Status::NotLeader("partition 4", "127.0.0.2:17010");
  EXPECT_EQ(s.code(), Code::kNotLeader);
  EXPECT_EQ(s.message(), "partition 4");
  EXPECT_EQ(s.leader_hint(), "127.0.0.2:17010");
}

TEST(StatusTest, NotLeaderWithUnknownLeaderHasEmptyHint) {
  Status s = Status::NotLeader("partition 4", "");
  EXPECT_EQ(s.leader_hint(), "");
  EXPECT_EQ(s.ToString(), "NotLeader: partition 4");
}

TEST(StatusTest, CodeNameIsDistinctAndKnownForEveryCode) {
  std::set<std::string_view> names;
  for (const auto& [code, err] : ExpectedErrno()) {
    std::string_view name = CodeName(code);
    EXPECT_NE(name, "Unknown") << static_cast<int>(code);
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
  EXPECT_EQ(CodeName(Code::kOk), "OK");
  EXPECT_EQ(CodeName(Code::kNotFound), "NotFound");
  EXPECT_EQ(CodeName(Code::kNotLeader), "NotLeader");
}

TEST(StatusTest, CodeNameOfOutOfRangeValueIsUnknown) {
  EXPECT_EQ(CodeName(static_cast<Code>(200)), "Unknown");
}

// --- ToString ----------------------------------------------------------------

TEST(StatusTest, ToStringIsCodeNameColonMessage) {
  EXPECT_EQ(Status::NotFound("needle 7 not found").ToString(), "NotFound: needle 7 not found");
  EXPECT_EQ(Status::Corruption("bad crc").ToString(), "Corruption: bad crc");
}

TEST(StatusTest, ToStringWithEmptyMessageIsJustCodeName) {
  EXPECT_EQ(Status::Busy("").ToString(), "Busy");
}

TEST(StatusTest, ToStringIncludesNotLeaderHint) {
  Status s = Status::NotLeader("meta partition 3", "127.0.0.3:17210");
  EXPECT_EQ(s.ToString(), "NotLeader: meta partition 3 (leader 127.0.0.3:17210)");
}

// --- WithContext -------------------------------------------------------------

TEST(StatusTest, WithContextPrefixesMessage) {
  Status s = Status::NotFound("needle 7 not found");
  Status t = s.WithContext("block group 3");
  EXPECT_EQ(t.code(), Code::kNotFound);
  EXPECT_EQ(t.message(), "block group 3: needle 7 not found");
  EXPECT_EQ(t.ToString(), "NotFound: block group 3: needle 7 not found");
}

TEST(StatusTest, WithContextOnLvalueLeavesOriginalUnchanged) {
  const Status s = Status::IOError("pwrite failed");
  Status t = s.WithContext("volume 7");
  EXPECT_EQ(s.message(), "pwrite failed");
  EXPECT_EQ(t.message(), "volume 7: pwrite failed");
}

TEST(StatusTest, WithContextOnRvalueReusesState) {
  Status s = Status::Corruption("checksum mismatch");
  Status t = std::move(s).WithContext("offset 4096").WithContext("volume 7");
  EXPECT_EQ(t.code(), Code::kCorruption);
  EXPECT_EQ(t.message(), "volume 7: offset 4096: checksum mismatch");
}

TEST(StatusTest, WithContextOnTemporaryChains) {
  Status t = Status::Timeout("rpc").WithContext("a").WithContext("b");
  EXPECT_EQ(t.ToString(), "Timeout: b: a: rpc");
}

TEST(StatusTest, WithContextOnEmptyMessageHasNoTrailingSeparator) {
  Status t = Status::Busy("").WithContext("volume 7");
  EXPECT_EQ(t.message(), "volume 7");
}

TEST(StatusTest, WithContextOnOkStaysOk) {
  Status ok;
  EXPECT_TRUE(ok.WithContext("ignored").ok());
  EXPECT_EQ(ok.WithContext("ignored").message(), "");
  EXPECT_TRUE(Status::OK().WithContext("ignored").ok());
}

TEST(StatusTest, WithContextKeepsLeaderHint) {
  Status t = Status::NotLeader("partition 9", "127.0.0.4:1").WithContext("create /a");
  EXPECT_EQ(t.leader_hint(), "127.0.0.4:1");
  EXPECT_EQ(t.ToString(), "NotLeader: create /a: partition 9 (leader 127.0.0.4:1)");
}

// --- Copy and move -----------------------------------------------------------

TEST(StatusTest, CopyIsDeepAndIndependent) {
  Status a = Status::NotLeader("p", "leader:1");
  Status b(a);
  EXPECT_EQ(b.code(), Code::kNotLeader);
  EXPECT_EQ(b.message(), "p");
  EXPECT_EQ(b.leader_hint(), "leader:1");
  // Changing the copy leaves the original alone.
  b = std::move(b).WithContext("ctx");
  EXPECT_EQ(b.message(), "ctx: p");
  EXPECT_EQ(a.message(), "p");
}

TEST(StatusTest, CopyAssignmentReplacesAndHandlesOk) {
  Status a = Status::NotFound("a");
  Status b = Status::Exists("b");
  b = a;
  EXPECT_EQ(b.code(), Code::kNotFound);
  EXPECT_EQ(b.message(), "a");
  EXPECT_EQ(a.message(), "a");

  Status ok;
  b = ok;
  EXPECT_TRUE(b.ok());
  a = Status::OK();
  EXPECT_TRUE(a.ok());
}

TEST(StatusTest, SelfCopyAssignmentKeepsState) {
  Status a = Status::Busy("busy");
  Status& alias = a;
  a = alias;
  EXPECT_EQ(a.code(), Code::kBusy);
  EXPECT_EQ(a.message(), "busy");
}

TEST(StatusTest, MoveTransfersState) {
  Status a = Status::NoSpace("disk full");
  Status b(std::move(a));
  EXPECT_EQ(b.code(), Code::kNoSpace);
  EXPECT_EQ(b.message(), "disk full");

  Status c;
  c = std::move(b);
  EXPECT_EQ(c.code(), Code::kNoSpace);
  EXPECT_EQ(c.message(), "disk full");
}

TEST(StatusTest, MoveOperationsAreNoexcept) {
  EXPECT_TRUE(std::is_nothrow_move_constructible_v<Status>);
  EXPECT_TRUE(std::is_nothrow_move_assignable_v<Status>);
}

// --- errno mapping -----------------------------------------------------------

TEST(StatusTest, ToErrnoTableCoversEveryCode) {
  // Codes are dense from kOk to kDelegated (the last); each must have a row above.
  for (int v = 0; v <= static_cast<int>(Code::kDelegated); ++v) {
    EXPECT_TRUE(ExpectedErrno().contains(static_cast<Code>(v))) << "code " << v << " has no expected errno";
  }
  EXPECT_EQ(ExpectedErrno().size(), static_cast<size_t>(Code::kDelegated) + 1);
}

TEST(StatusTest, ToErrnoGivesExactlyOneErrnoPerCode) {
  for (const auto& [code, err] : ExpectedErrno()) {
    SCOPED_TRACE(CodeName(code));
    EXPECT_EQ(ToErrno(code), err);
  }
}

TEST(StatusTest, ToErrnoOfErrorCodesIsNeverZero) {
  for (const auto& [code, err] : ExpectedErrno()) {
    if (code == Code::kOk) continue;
    EXPECT_GT(ToErrno(code), 0) << CodeName(code);
  }
}

TEST(StatusTest, FromErrnoMapsFileSystemErrors) {
  struct Case {
    int err;
    Code code;
  };
  const Case cases[] = {
      {ENOENT, Code::kNotFound},         {EEXIST, Code::kExists},         {ENOSPC, Code::kNoSpace},
      {EDQUOT, Code::kNoSpace},          {EROFS, Code::kReadOnly},        {EACCES, Code::kPermissionDenied},
      {EPERM, Code::kNotPermitted},      {ENOTEMPTY, Code::kNotEmpty},    {ENOTDIR, Code::kNotDirectory},
      {EISDIR, Code::kIsDirectory},      {EINVAL, Code::kInvalidArgument}, {EFBIG, Code::kTooLarge},
      {ENAMETOOLONG, Code::kNameTooLong}, {EOPNOTSUPP, Code::kNotSupported}, {ETIMEDOUT, Code::kTimeout},
      {ECANCELED, Code::kCancelled},     {EBUSY, Code::kBusy},            {EAGAIN, Code::kUnavailable},
      {EIO, Code::kIOError},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::strerror(c.err));
    EXPECT_EQ(Status::FromErrno(c.err, "op").code(), c.code);
  }
}

TEST(StatusTest, FromErrnoMapsUnknownErrnoToIOError) {
  EXPECT_EQ(Status::FromErrno(EBADF, "pread").code(), Code::kIOError);
  EXPECT_EQ(Status::FromErrno(EXDEV, "rename").code(), Code::kIOError);
}

TEST(StatusTest, FromErrnoMessageNamesContextAndErrnoText) {
  Status s = Status::FromErrno(ENOENT, "open /data/1.dat");
  EXPECT_EQ(s.message(), std::string("open /data/1.dat: ") + std::strerror(ENOENT));
}

TEST(StatusTest, FromErrnoRoundTripsThroughToErrnoForEveryUniqueErrno) {
  // Where a code owns its errno alone, errno -> Status -> errno is the identity,
  // so a local file-system error reaches a FUSE caller unchanged.
  std::map<int, int> owners;
  for (const auto& [code, err] : ExpectedErrno()) ++owners[err];
  for (const auto& [code, err] : ExpectedErrno()) {
    if (code == Code::kOk || owners[err] != 1) continue;
    SCOPED_TRACE(CodeName(code));
    Status s = Status::FromErrno(err, "op");
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(ToErrno(s.code()), err);
  }
  EXPECT_EQ(ToErrno(Status::FromErrno(EIO, "op").code()), EIO);
  EXPECT_EQ(ToErrno(Status::FromErrno(EAGAIN, "op").code()), EAGAIN);
}

// --- Result<T> ---------------------------------------------------------------

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  EXPECT_TRUE(r.status().ok());
}

TEST(ResultTest, HoldsError) {
  Result<int> r = Status::NotFound("inode 5");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "inode 5");
}

TEST(ResultTest, ValueIsMutableAndArrowReachesMembers) {
  Result<std::string> r = std::string("abc");
  r.value() += "d";
  *r += "e";
  EXPECT_EQ(r->size(), 5u);
  EXPECT_EQ(*r, "abcde");
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->front(), 'a');
  EXPECT_EQ(*cr, "abcde");
}

TEST(ResultTest, HoldsMoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, RvalueDereferenceMovesValueOut) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(8);
  std::unique_ptr<int> p = *std::move(r);
  EXPECT_EQ(*p, 8);
}

TEST(ResultTest, TakeStatusOfValueIsOk) {
  Result<int> r = 1;
  EXPECT_TRUE(std::move(r).take_status().ok());
}

TEST(ResultTest, TakeStatusOfErrorMovesItOut) {
  Result<int> r = Status::NotLeader("p", "leader:1");
  Status s = std::move(r).take_status();
  EXPECT_EQ(s.code(), Code::kNotLeader);
  EXPECT_EQ(s.leader_hint(), "leader:1");
}

TEST(ResultTest, CopiesIndependently) {
  Result<std::string> a = std::string("x");
  Result<std::string> b = a;
  *b = "y";
  EXPECT_EQ(*a, "x");
  EXPECT_EQ(*b, "y");

  Result<std::string> e = Status::Busy("busy");
  Result<std::string> f = e;
  EXPECT_EQ(f.status().code(), Code::kBusy);
  EXPECT_EQ(e.status().message(), "busy");
}

#ifndef NDEBUG
TEST(ResultDeathTest, BuildingFromOkStatusAborts) {
  EXPECT_DEATH({ Result<int> r{Status::OK()}; (void)r; }, "OK status has no value");
}
#endif

// --- Propagation macros ------------------------------------------------------

Status Fail(Code code) { return Status(code, "inner"); }
Result<int> Compute(bool good) {
  if (good) return 21;
  return Status::Corruption("bad");
}

Status ReturnIfErrorWithStatus(Code code, bool* reached_end) {
  CFS_RETURN_IF_ERROR(Fail(code));
  *reached_end = true;
  return Status::OK();
}

Status ReturnIfErrorWithResult(bool good, bool* reached_end) {
  CFS_RETURN_IF_ERROR(Compute(good));
  *reached_end = true;
  return Status::OK();
}

Result<int> ReturnIfErrorInsideResultFunction(Code code) {
  CFS_RETURN_IF_ERROR(Fail(code));
  return 5;
}

TEST(StatusMacroTest, ReturnIfErrorPassesOkThrough) {
  bool reached = false;
  EXPECT_TRUE(ReturnIfErrorWithStatus(Code::kOk, &reached).ok());
  EXPECT_TRUE(reached);
}

TEST(StatusMacroTest, ReturnIfErrorReturnsFirstError) {
  bool reached = false;
  Status s = ReturnIfErrorWithStatus(Code::kBusy, &reached);
  EXPECT_EQ(s.code(), Code::kBusy);
  EXPECT_EQ(s.message(), "inner");
  EXPECT_FALSE(reached);
}

TEST(StatusMacroTest, ReturnIfErrorAcceptsResult) {
  bool reached = false;
  EXPECT_TRUE(ReturnIfErrorWithResult(true, &reached).ok());
  EXPECT_TRUE(reached);

  reached = false;
  Status s = ReturnIfErrorWithResult(false, &reached);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "bad");
  EXPECT_FALSE(reached);
}

TEST(StatusMacroTest, ReturnIfErrorWorksInFunctionReturningResult) {
  Result<int> ok = ReturnIfErrorInsideResultFunction(Code::kOk);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> err = ReturnIfErrorInsideResultFunction(Code::kTimeout);
  EXPECT_EQ(err.status().code(), Code::kTimeout);
}

TEST(StatusMacroTest, ReturnIfErrorEvaluatesExpressionOnce) {
  int calls = 0;
  auto f = [&]() -> Status {
    CFS_RETURN_IF_ERROR((++calls, Status::OK()));
    return Status::OK();
  };
  EXPECT_TRUE(f().ok());
  EXPECT_EQ(calls, 1);
}

TEST(StatusMacroTest, ReturnIfErrorIsOneStatementInUnbracedIf) {
  auto f = [](bool check) -> Status {
    if (check)
      CFS_RETURN_IF_ERROR(Status::IOError("x"));
    else
      return Status::Busy("else branch");
    return Status::OK();
  };
  EXPECT_EQ(f(true).code(), Code::kIOError);
  EXPECT_EQ(f(false).code(), Code::kBusy);
}

Status AssignOrReturnIntoStatus(bool good, int* out) {
  CFS_ASSIGN_OR_RETURN(int v, Compute(good));
  *out = v * 2;
  return Status::OK();
}

Result<std::string> AssignOrReturnIntoResult(bool first_good, bool second_good) {
  CFS_ASSIGN_OR_RETURN(int a, Compute(first_good));
  CFS_ASSIGN_OR_RETURN(int b, Compute(second_good));  // a second use in one scope
  return std::to_string(a + b);
}

TEST(StatusMacroTest, AssignOrReturnAssignsValueInStatusFunction) {
  int out = 0;
  EXPECT_TRUE(AssignOrReturnIntoStatus(true, &out).ok());
  EXPECT_EQ(out, 42);
}

TEST(StatusMacroTest, AssignOrReturnReturnsErrorInStatusFunction) {
  int out = -1;
  Status s = AssignOrReturnIntoStatus(false, &out);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "bad");
  EXPECT_EQ(out, -1);
}

TEST(StatusMacroTest, AssignOrReturnWorksInFunctionReturningResult) {
  Result<std::string> ok = AssignOrReturnIntoResult(true, true);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "42");
  EXPECT_EQ(AssignOrReturnIntoResult(false, true).status().code(), Code::kCorruption);
  EXPECT_EQ(AssignOrReturnIntoResult(true, false).status().code(), Code::kCorruption);
}

TEST(StatusMacroTest, AssignOrReturnAssignsToExistingVariable) {
  auto f = [](bool good, int* out) -> Status {
    int v = 0;
    CFS_ASSIGN_OR_RETURN(v, Compute(good));
    *out = v;
    return Status::OK();
  };
  int out = 0;
  EXPECT_TRUE(f(true, &out).ok());
  EXPECT_EQ(out, 21);
  EXPECT_FALSE(f(false, &out).ok());
}

TEST(StatusMacroTest, AssignOrReturnMovesMoveOnlyValues) {
  auto make = []() -> Result<std::unique_ptr<int>> { return std::make_unique<int>(3); };
  auto f = [&](int* out) -> Status {
    CFS_ASSIGN_OR_RETURN(std::unique_ptr<int> p, make());
    *out = *p;
    return Status::OK();
  };
  int out = 0;
  EXPECT_TRUE(f(&out).ok());
  EXPECT_EQ(out, 3);
}

TEST(StatusMacroTest, AssignOrReturnKeepsLeaderHint) {
  auto f = []() -> Status {
    CFS_ASSIGN_OR_RETURN(int v, Result<int>(Status::NotLeader("p", "leader:2")));
    (void)v;
    return Status::OK();
  };
  Status s = f();
  EXPECT_EQ(s.code(), Code::kNotLeader);
  EXPECT_EQ(s.leader_hint(), "leader:2");
}

}  // namespace
}  // namespace cfs

// Status and Result<T>: the one error type of ContainerFS.
//
// A Status is either OK (a null pointer: costs nothing to create, copy or test)
// or carries a Code, a message that gains context as it rises, and for
// NotLeader the address of the leader. Each Code maps to exactly one errno
// (ToErrno), in one place. Result<T> is shaped like std::expected<T, Status>.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace cfs {

enum class Code : uint8_t {
  kOk = 0,
  // File-system meaning.
  kNotFound,          // ENOENT
  kExists,            // EEXIST
  kNotEmpty,          // ENOTEMPTY
  kNotDirectory,      // ENOTDIR
  kIsDirectory,       // EISDIR
  kInvalidArgument,   // EINVAL
  kPermissionDenied,  // EACCES
  kNotPermitted,      // EPERM
  kNameTooLong,       // ENAMETOOLONG
  kNoSpace,           // ENOSPC
  kTooLarge,          // EFBIG
  kReadOnly,          // EROFS
  kNotSupported,      // EOPNOTSUPP
  kIOError,           // EIO
  kCorruption,        // EIO (data failed a check)
  kNoAttribute,       // ENODATA: no such extended attribute
  kTooManyLinks,      // EMLINK
  // Cluster meaning.
  kNotLeader,    // EAGAIN to a file-system caller; carries the leader hint
  kUnavailable,  // EAGAIN
  kTimeout,      // ETIMEDOUT
  kCancelled,    // ECANCELED
  kBusy,         // EBUSY
  kAborted,      // EIO: a transaction or operation gave up
  kInternal,     // EIO: a bug; the message says which invariant
  kDelegated,    // EAGAIN: a directory another client holds (metanode/ops/delegation.cc); kept last
};

// Short stable name of a code ("NotFound"), for messages and logs.
std::string_view CodeName(Code code);

// The one mapping from Code to errno.
int ToErrno(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message, std::string leader_hint = {});
  Status(const Status& other) : state_(other.state_ ? std::make_unique<State>(*other.state_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) state_ = other.state_ ? std::make_unique<State>(*other.state_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status Exists(std::string msg) { return {Code::kExists, std::move(msg)}; }
  static Status NotEmpty(std::string msg) { return {Code::kNotEmpty, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NoSpace(std::string msg) { return {Code::kNoSpace, std::move(msg)}; }
  static Status TooLarge(std::string msg) { return {Code::kTooLarge, std::move(msg)}; }
  static Status ReadOnly(std::string msg) { return {Code::kReadOnly, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status NoAttribute(std::string msg) { return {Code::kNoAttribute, std::move(msg)}; }
  static Status NotLeader(std::string msg, std::string leader) {
    return {Code::kNotLeader, std::move(msg), std::move(leader)};
  }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Timeout(std::string msg) { return {Code::kTimeout, std::move(msg)}; }
  static Status Busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  // An I/O failure of the operating system: the message names the call and
  // path, and the errno text is appended.
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  bool Is(Code c) const { return code() == c; }
  const std::string& message() const;
  // The leader's address for NotLeader, empty when unknown.
  const std::string& leader_hint() const;
  // "NotFound: block group 3: needle 7 not found", or "OK".
  std::string ToString() const;

  // Returns this status with `context` prefixed to the message ("ctx: msg").
  Status WithContext(std::string_view context) const&;
  Status WithContext(std::string_view context) &&;

 private:
  struct State {
    Code code;
    std::string message;
    std::string leader_hint;
  };
  std::unique_ptr<State> state_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  // An error until assigned: asio's co_spawn needs results it can default-construct.
  Result() : v_(std::in_place_index<1>, Status(Code::kInternal, "result never set")) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).ok() && "Result built from an OK status has no value");
  }

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<1>(v_);
  }
  Status take_status() && { return ok() ? Status() : std::move(std::get<1>(v_)); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

namespace internal {
inline Status AsStatus(Status s) { return s; }
template <typename T>
Status AsStatus(Result<T>&& r) { return std::move(r).take_status(); }
}  // namespace internal

}  // namespace cfs

// The two propagation macros.
#define CFS_RETURN_IF_ERROR(expr)                                        \
  do {                                                                   \
    ::cfs::Status cfs_status_ = ::cfs::internal::AsStatus((expr));       \
    if (!cfs_status_.ok()) return cfs_status_;                           \
  } while (0)

#define CFS_CONCAT_INNER_(a, b) a##b
#define CFS_CONCAT_(a, b) CFS_CONCAT_INNER_(a, b)
#define CFS_ASSIGN_OR_RETURN(lhs, expr) \
  CFS_ASSIGN_OR_RETURN_IMPL_(CFS_CONCAT_(cfs_result_, __LINE__), lhs, expr)
#define CFS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).take_status(); \
  lhs = std::move(tmp).value()

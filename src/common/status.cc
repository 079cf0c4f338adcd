#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace cfs {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kExists: return "Exists";
    case Code::kNotEmpty: return "NotEmpty";
    case Code::kNotDirectory: return "NotDirectory";
    case Code::kIsDirectory: return "IsDirectory";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kPermissionDenied: return "PermissionDenied";
    case Code::kNotPermitted: return "NotPermitted";
    case Code::kNameTooLong: return "NameTooLong";
    case Code::kNoSpace: return "NoSpace";
    case Code::kTooLarge: return "TooLarge";
    case Code::kReadOnly: return "ReadOnly";
    case Code::kNotSupported: return "NotSupported";
    case Code::kIOError: return "IOError";
    case Code::kCorruption: return "Corruption";
    case Code::kNoAttribute: return "NoAttribute";
    case Code::kTooManyLinks: return "TooManyLinks";
    case Code::kNotLeader: return "NotLeader";
    case Code::kUnavailable: return "Unavailable";
    case Code::kTimeout: return "Timeout";
    case Code::kCancelled: return "Cancelled";
    case Code::kBusy: return "Busy";
    case Code::kAborted: return "Aborted";
    case Code::kInternal: return "Internal";
    case Code::kDelegated: return "Delegated";
  }
  return "Unknown";
}

int ToErrno(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kExists: return EEXIST;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kNotDirectory: return ENOTDIR;
    case Code::kIsDirectory: return EISDIR;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kPermissionDenied: return EACCES;
    case Code::kNotPermitted: return EPERM;
    case Code::kNameTooLong: return ENAMETOOLONG;
    case Code::kNoSpace: return ENOSPC;
    case Code::kTooLarge: return EFBIG;
    case Code::kReadOnly: return EROFS;
    case Code::kNotSupported: return EOPNOTSUPP;
    case Code::kNoAttribute: return ENODATA;
    case Code::kTooManyLinks: return EMLINK;
    case Code::kNotLeader: return EAGAIN;
    case Code::kUnavailable: return EAGAIN;
    case Code::kTimeout: return ETIMEDOUT;
    case Code::kCancelled: return ECANCELED;
    case Code::kBusy: return EBUSY;
    case Code::kDelegated: return EAGAIN;
    case Code::kIOError:
    case Code::kCorruption:
    case Code::kAborted:
    case Code::kInternal: return EIO;
  }
  return EIO;
}

Status::Status(Code code, std::string message, std::string leader_hint) {
  if (code != Code::kOk) {
    state_ = std::make_unique<State>(State{code, std::move(message), std::move(leader_hint)});
  }
}

Status Status::FromErrno(int err, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOENT: return {Code::kNotFound, std::move(msg)};
    case EEXIST: return {Code::kExists, std::move(msg)};
    case ENOSPC:
    case EDQUOT: return {Code::kNoSpace, std::move(msg)};
    case EROFS: return {Code::kReadOnly, std::move(msg)};
    case EACCES: return {Code::kPermissionDenied, std::move(msg)};
    case EPERM: return {Code::kNotPermitted, std::move(msg)};
    case ENOTEMPTY: return {Code::kNotEmpty, std::move(msg)};
    case ENOTDIR: return {Code::kNotDirectory, std::move(msg)};
    case EISDIR: return {Code::kIsDirectory, std::move(msg)};
    case EINVAL: return {Code::kInvalidArgument, std::move(msg)};
    case EFBIG: return {Code::kTooLarge, std::move(msg)};
    case ENAMETOOLONG: return {Code::kNameTooLong, std::move(msg)};
    case EOPNOTSUPP: return {Code::kNotSupported, std::move(msg)};
    case ETIMEDOUT: return {Code::kTimeout, std::move(msg)};
    case ECANCELED: return {Code::kCancelled, std::move(msg)};
    case EBUSY: return {Code::kBusy, std::move(msg)};
    case ENODATA: return {Code::kNoAttribute, std::move(msg)};
    case EMLINK: return {Code::kTooManyLinks, std::move(msg)};
    case EAGAIN: return {Code::kUnavailable, std::move(msg)};
    default: return {Code::kIOError, std::move(msg)};
  }
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

const std::string& Status::leader_hint() const {
  static const std::string kEmpty;
  return state_ ? state_->leader_hint : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(state_->code));
  if (!state_->message.empty()) {
    s += ": ";
    s += state_->message;
  }
  if (!state_->leader_hint.empty()) {
    s += " (leader ";
    s += state_->leader_hint;
    s += ")";
  }
  return s;
}

Status Status::WithContext(std::string_view context) const& { return Status(*this).WithContext(context); }

Status Status::WithContext(std::string_view context) && {
  if (state_) {
    std::string msg(context);
    if (!state_->message.empty()) {
      msg += ": ";
      msg += state_->message;
    }
    state_->message = std::move(msg);
  }
  return std::move(*this);
}

}  // namespace cfs
